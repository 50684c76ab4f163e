/**
 * The terminal's side of program updates (firmware/core/updateClient.ts; SPEC B1-B4, B7, X2) against
 * the in-test TMS, on the emulated terminal's two program slots: every refusal keeps the old program
 * and is reported with its numbered code; an interrupted download resumes; a switch is atomic and a
 * new program that never confirms itself is rolled back.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PaypadError } from '../../../shared/errors';
import { readDownload } from '../../../firmware/core/updateProgress';
import { generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import { seededRng } from '../../support/opsRng';
import { makePackage } from './fakeTms';
import { CHUNK, FACTORY_VERSION, UpdateRig, testImage, until } from './updateRig';

const rigs: UpdateRig[] = [];
afterEach(() => {
  for (const rig of rigs.splice(0)) rig.dispose();
});
function rigWith(options: ConstructorParameters<typeof UpdateRig>[0] = {}): UpdateRig {
  const rig = new UpdateRig(options);
  rigs.push(rig);
  return rig;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    return (e as PaypadError).code;
  }
  return 'none';
}

/** Offsets of the chunks of an image of `size` bytes. */
function offsets(size: number, from = 0): number[] {
  const out: number[] = [];
  for (let o = from; o < size; o += CHUNK) out.push(o);
  return out;
}

describe('B1, B2: the query', () => {
  it('B1, B2: nothing targeted at the terminal: nothing downloaded, nothing reported', async () => {
    const rig = rigWith();
    rig.tms.offering = false;
    const { client, updater } = rig.boot();
    await client.start();
    expect(await client.check('manual')).toEqual({ outcome: 'none' });
    expect(rig.tms.chunksServed).toEqual([]);
    expect(rig.tms.reports).toEqual([]);
    expect(updater.currentVersion).toBe(FACTORY_VERSION);
  });
});

describe('B3, B4: authenticated, MAC\'d download, switch and first start', () => {
  it('B4: the whole flow: downloaded in range requests, switched, restarted, confirmed; each stage reported', async () => {
    const rig = rigWith();
    const first = rig.boot();
    await first.client.start();
    expect(await first.client.check('schedule')).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(first.restarts).toBe(1);
    expect(rig.tms.chunksServed).toEqual(offsets(rig.image.length));
    const second = rig.boot();
    expect(second.updater.startKind).toBe('trial');
    expect(second.updater.currentVersion).toBe('1.1.0');
    await second.client.start();
    expect(rig.tms.reports.map((r) => [r.stage, r.status, r.code, r.version])).toEqual([
      ['download', 'downloading', 0, '1.0.0'],
      ['install', 'installing', 0, '1.0.0'],
      ['confirm', 'success', 0, '1.1.0'],
    ]);
    const third = rig.boot();
    expect([third.updater.startKind, third.updater.currentVersion]).toEqual(['normal', '1.1.0']);
    // X1: no DWK (nor its hex) is kept anywhere in the terminal's storage.
    const stored = rig.storage.allValues().map((v) => Buffer.from(v).toString('latin1')).join('\n');
    for (const dwk of rig.tms.dwks) {
      expect(stored).not.toContain(Buffer.from(dwk).toString('latin1'));
      expect(stored.toUpperCase()).not.toContain(Buffer.from(dwk).toString('hex').toUpperCase());
    }
    expect(rig.tms.dwks.length).toBe(1);
  });

  it('B3: a fake TMS without the terminal\'s DMK is refused: its DWK-I does not open (102); nothing downloaded, the old program runs', async () => {
    const rig = rigWith({ wrongDmk: true });
    const { client } = rig.boot();
    await client.start();
    expect(await codeOf(client.check('manual'))).toBe('TR31_MAC_MISMATCH');
    expect(rig.tms.chunksServed).toEqual([]);
    expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'authenticate', status: 'failed', code: 102 });
    const again = rig.boot();
    expect([again.updater.startKind, again.updater.currentVersion]).toEqual(['normal', FACTORY_VERSION]);
  });

  it('B3: a TAC-I that is not over this T-DATA and context is refused (101) before SAC-I is sent: nothing downloaded', async () => {
    const rig = rigWith();
    rig.tms.staleTac = true;
    const { client } = rig.boot();
    expect(await codeOf(client.check('manual'))).toBe('UPDATE_AUTH_FAILED');
    expect(rig.tms.chunksServed).toEqual([]);
    expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'authenticate', status: 'failed', code: 101 });
    expect(rig.boot().updater.currentVersion).toBe(FACTORY_VERSION);
  });

  it('B4: a flipped bit in any chunk is refused (201) and that chunk is never written; the old program runs', async () => {
    const size = testImage(4).length;
    for (const offset of offsets(size)) {
      const rig = rigWith();
      rig.tms.flipChunkAt = offset;
      const { client } = rig.boot();
      await client.start();
      expect(await codeOf(client.check('manual'))).toBe('UPDATE_CHUNK_INVALID');
      expect(readDownload(rig.storage)?.written).toBe(offset);
      expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'download', status: 'failed', code: 201, offset });
      expect(rig.boot().updater.currentVersion).toBe(FACTORY_VERSION);
    }
  });

  it('X2: a replayed session answer (an earlier challenge, MAC\'d for another request) is refused (105)', async () => {
    const rig = rigWith();
    rig.tms.hangAfterChunks = 1;
    const first = rig.boot();
    void first.client.check('manual');
    await until(() => rig.tms.hung);
    rig.tms.resume();
    rig.tms.replayChallenge = true;
    const second = rig.boot();
    await second.client.start();
    expect(await codeOf(second.client.check('resume'))).toBe('MAC_MISMATCH');
    expect(rig.tms.reports.at(-1)).toMatchObject({ status: 'failed', code: 105 });
    expect(rig.tms.chunksServed).toEqual([0]);
  });
});

describe('B4: the package is checked before anything is downloaded', () => {
  const cases: [string, (rig: UpdateRig) => void, string, number][] = [
    ['a bad manifest signature', (rig) => rig.tms.offer({ ...rig.signed, signature: rig.signed.signature.replace(/^./, (c) => (c === '0' ? '1' : '0')) }, rig.image), 'UPDATE_SIGNATURE_INVALID', 302],
    ['a manifest signed by another key', (rig) => rig.tms.offer(makePackage(rig.image, generateP256KeyPair(seededRng(new TextEncoder().encode('another vendor')))), rig.image), 'UPDATE_SIGNATURE_INVALID', 302],
    ['another model\'s image', (rig) => rig.tms.offer(makePackage(rig.image, rig.vendor, { models: ['PP-OTHER'] }), rig.image), 'UPDATE_MODEL_MISMATCH', 303],
    ['a downgrade', (rig) => rig.tms.offer(makePackage(rig.image, rig.vendor, { version: '0.9.0', minimumVersion: '0.1.0' }), rig.image), 'UPDATE_DOWNGRADE', 304],
    ['the same version again', (rig) => rig.tms.offer(makePackage(rig.image, rig.vendor, { version: FACTORY_VERSION }), rig.image), 'UPDATE_DOWNGRADE', 304],
    ['an installed version below the minimum', (rig) => rig.tms.offer(makePackage(rig.image, rig.vendor, { minimumVersion: '1.0.1' }), rig.image), 'UPDATE_DOWNGRADE', 304],
    ['expired metadata (a frozen answer)', (rig) => rig.tms.offer(makePackage(rig.image, rig.vendor, { expires: '2020-01-01T00:00:00Z' }), rig.image), 'UPDATE_METADATA_EXPIRED', 306],
  ];
  for (const [what, arrange, code, number] of cases) {
    it(`B4: ${what} is refused (${number}): nothing downloaded, the old program runs`, async () => {
      const rig = rigWith();
      arrange(rig);
      const { client } = rig.boot();
      await client.start();
      expect(await codeOf(client.check('manual'))).toBe(code);
      expect(rig.tms.chunksServed).toEqual([]);
      expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'verify', status: 'failed', code: number });
      expect(rig.boot().updater.currentVersion).toBe(FACTORY_VERSION);
    });
  }

  it('B4: after an install, older metadata (a replayed answer) and a lower security counter are refused (307, 305)', async () => {
    const rig = rigWith();
    rig.tms.offer(makePackage(rig.image, rig.vendor, { metadataVersion: 5, securityCounter: 3 }), rig.image);
    const first = rig.boot();
    await first.client.check('manual');
    await rig.boot().client.start();
    const third = rig.boot();
    rig.tms.offer(makePackage(rig.image, rig.vendor, { version: '1.2.0', metadataVersion: 4, securityCounter: 3 }), rig.image);
    expect(await codeOf(third.client.check('manual'))).toBe('UPDATE_METADATA_ROLLBACK');
    rig.tms.offer(makePackage(rig.image, rig.vendor, { version: '1.2.0', metadataVersion: 6, securityCounter: 2 }), rig.image);
    expect(await codeOf(third.client.check('manual'))).toBe('UPDATE_SECURITY_COUNTER');
    expect(rig.tms.reports.slice(-2).map((r) => r.code)).toEqual([307, 305]);
    expect(rig.boot().updater.currentVersion).toBe('1.1.0');
  });

  it('B4: an image whose SHA-256 is not the manifest\'s is refused before the switch (301)', async () => {
    const rig = rigWith();
    const other = testImage(4, 'another image');
    // The manifest promises `other`; the TMS serves the rig's image, MAC'd correctly.
    rig.tms.offer(makePackage(other, rig.vendor), rig.image);
    const { client } = rig.boot();
    expect(await codeOf(client.check('manual'))).toBe('UPDATE_IMAGE_MISMATCH');
    expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'verify', status: 'failed', code: 301 });
    // The image is forgotten: the next check downloads it afresh.
    expect(readDownload(rig.storage)).toBeUndefined();
    expect(rig.boot().updater.currentVersion).toBe(FACTORY_VERSION);
  });
});

describe('B4: resume and power cuts', () => {
  it('B4: a power cut at every chunk boundary: the old program starts, and the download resumes where it stopped with a new session', async () => {
    const size = testImage(4).length;
    const boundaries = offsets(size).length;
    for (let k = 0; k < boundaries; k++) {
      const rig = rigWith();
      rig.tms.hangAfterChunks = k;
      const before = rig.boot();
      void before.client.check('schedule');
      await until(() => rig.tms.hung);
      rig.tms.resume();
      const after = rig.boot();
      expect([after.updater.startKind, after.updater.currentVersion]).toEqual(['normal', FACTORY_VERSION]);
      await after.client.start();
      expect(await after.client.check('resume')).toEqual({ outcome: 'installed', version: '1.1.0' });
      // Chunks 0..k-1 once each, then the rest from k: nothing downloaded twice.
      expect(rig.tms.chunksServed).toEqual(offsets(size));
      const running = rig.boot();
      expect(running.updater.currentVersion).toBe('1.1.0');
      await running.client.start();
      expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'confirm', status: 'success', version: '1.1.0' });
    }
  });

  it('B4: a power cut in the middle of the slot switch: a whole program starts, and the switch is made again without downloading', async () => {
    const rig = rigWith();
    rig.tms.hangOnStatus = 'installing';
    const before = rig.boot();
    void before.client.check('schedule');
    await until(() => rig.tms.hung);
    rig.tms.resume();
    // What a cut while the boot pointer was being written leaves: a half-written temporary file.
    mkdirSync(join(rig.dir, 'program', 'tmp'), { recursive: true });
    writeFileSync(join(rig.dir, 'program', 'tmp', 'cut.tmp'), '{"active":"b","a":"1.0');
    const after = rig.boot();
    expect([after.updater.startKind, after.updater.currentVersion]).toEqual(['normal', FACTORY_VERSION]);
    await after.client.start();
    const served = rig.tms.chunksServed.length;
    expect(await after.client.check('resume')).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(rig.tms.chunksServed.length).toBe(served);
    const running = rig.boot();
    expect([running.updater.startKind, running.updater.currentVersion]).toEqual(['trial', '1.1.0']);
    expect(readdirSync(join(rig.dir, 'program'))).toContain('slot-b');
  });

  it('B4: a resumed download answered 200 instead of 206 is refused (202) and nothing of it is written', async () => {
    const rig = rigWith();
    rig.tms.hangAfterChunks = 2;
    void rig.boot().client.check('schedule');
    await until(() => rig.tms.hung);
    rig.tms.resume();
    rig.tms.ignoreRange = true;
    const after = rig.boot();
    expect(await codeOf(after.client.check('resume'))).toBe('UPDATE_RANGE_MISMATCH');
    expect(readDownload(rig.storage)?.written).toBe(2 * CHUNK);
    expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'download', status: 'failed', code: 202 });
    rig.tms.ignoreRange = false;
    expect(await rig.boot().client.check('resume')).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(rig.boot().updater.currentVersion).toBe('1.1.0');
  });

  it('B4: a new program that never confirms itself is rolled back at the next start and reported failed (402)', async () => {
    const rig = rigWith();
    await rig.boot().client.check('manual');
    const trial = rig.boot();
    expect(trial.updater.startKind).toBe('trial');
    // The new program stops before it confirms (no start()); the next power-on:
    const after = rig.boot();
    expect([after.updater.startKind, after.updater.currentVersion]).toEqual(['rolledBack', FACTORY_VERSION]);
    await after.client.start();
    expect(rig.tms.reports.at(-1)).toMatchObject({ stage: 'confirm', status: 'failed', code: 402, version: FACTORY_VERSION });
    expect(rig.boot().updater.startKind).toBe('normal');
  });
});

describe('B7: triggers together', () => {
  it('B7: a schedule and a notice at once make one query and one download', async () => {
    const rig = rigWith();
    const { client } = rig.boot();
    await client.start();
    const [a, b] = await Promise.all([client.check('schedule'), client.check('notice')]);
    expect(a).toEqual(b);
    expect(rig.tms.queries).toBe(1);
    expect(rig.tms.chunksServed).toEqual(offsets(rig.image.length));
  });
});

