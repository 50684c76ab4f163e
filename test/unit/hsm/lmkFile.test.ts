/**
 * X1: the software HSM's master key file. Created once, owner-only, durable; refused when others
 * could read it or when it is not a 32-byte key.
 */
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSoftwareHsm } from '../../../host/hsm/index';
import { LMK_BYTES, loadOrCreateLmk } from '../../../host/hsm/lmkFile';
import { expectCode, rng, tempLmkPath } from './hsmTestKit';

const MAK = { usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 } as const;

describe('the LMK file', () => {
  it('X1: is created on first use with mode 0600 in a 0700 directory, 32 bytes, no temporary file left', async () => {
    const lmkFile = await tempLmkPath();
    await openSoftwareHsm({ lmkFile, rng });
    const file = await stat(lmkFile);
    expect(file.mode & 0o777).toBe(0o600);
    expect(file.size).toBe(LMK_BYTES);
    expect((await stat(dirname(lmkFile))).mode & 0o777).toBe(0o700);
    expect(await readdir(dirname(lmkFile))).toEqual(['lmk.key']);
  });

  it('is read again by the next open: handles survive a restart', async () => {
    const lmkFile = await tempLmkPath();
    const first = await openSoftwareHsm({ lmkFile, rng });
    const key = await first.generateKey(MAK);
    await first.close();
    const second = await openSoftwareHsm({ lmkFile, rng });
    expect(await second.keyCheckValue(key)).toBe(key.kcv);
  });

  it('two HSMs starting at once on a new file end up with one LMK', async () => {
    const lmkFile = await tempLmkPath();
    const hsms = await Promise.all(Array.from({ length: 6 }, () => openSoftwareHsm({ lmkFile, rng })));
    const key = await hsms[0].generateKey(MAK);
    for (const hsm of hsms) expect(await hsm.keyCheckValue(key)).toBe(key.kcv);
    expect(await readdir(dirname(lmkFile))).toEqual(['lmk.key']);
  });

  it('X1: is refused when group or others have any access', async () => {
    const lmkFile = await tempLmkPath();
    await loadOrCreateLmk(lmkFile, rng);
    for (const mode of [0o640, 0o604, 0o660, 0o644]) {
      await chmod(lmkFile, mode);
      await expectCode(openSoftwareHsm({ lmkFile, rng }), 'HSM_LMK_INVALID');
    }
    await chmod(lmkFile, 0o400);
    await openSoftwareHsm({ lmkFile, rng });
  });

  it.each([0, 16, 31, 33, 64])('is refused when it holds %i bytes instead of 32', async (size) => {
    const lmkFile = await tempLmkPath();
    await mkdir(dirname(lmkFile), { recursive: true });
    await writeFile(lmkFile, new Uint8Array(size), { mode: 0o600 });
    await expectCode(openSoftwareHsm({ lmkFile, rng }), 'HSM_LMK_INVALID');
  });

  it('is refused when the path is a directory, and an empty path is refused', async () => {
    const lmkFile = await tempLmkPath();
    await mkdir(lmkFile, { recursive: true, mode: 0o700 });
    await expectCode(openSoftwareHsm({ lmkFile, rng }), 'HSM_LMK_INVALID');
    await expectCode(openSoftwareHsm({ lmkFile: '', rng }), 'BAD_ARGUMENT');
  });

  it('is not created from an rng that returns the wrong length', async () => {
    const lmkFile = await tempLmkPath();
    await expectCode(openSoftwareHsm({ lmkFile, rng: () => new Uint8Array(8) }), 'RNG_FAILED');
    await expect(stat(lmkFile)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an HSM opened from another file is another HSM', async () => {
    const [a, b] = await Promise.all([tempLmkPath(), tempLmkPath()]);
    const [hsmA, hsmB] = await Promise.all([openSoftwareHsm({ lmkFile: a, rng }), openSoftwareHsm({ lmkFile: b, rng })]);
    await expectCode(hsmB.keyCheckValue(await hsmA.generateKey(MAK)), 'TR31_MAC_MISMATCH');
  });
});
