/**
 * A12 ("keys are bound to their usage: a MAC key cannot decrypt a PIN") on the host side: every
 * command checks the attributes of the key it is handed, and a handle opens only in the HSM that
 * made it, unaltered. Run against every HSM backend (hsmTestKit's HSM_BACKENDS).
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { wrapKeyBlock } from '../../../shared/crypto/tr31';
import { tkMacKdfParams } from '../../../shared/protocol/macEnvelope';
import type { GenerateKeyRequest, Hsm, KeyHandle, KeyPair } from '../../../host/hsm/hsm';
import { forEachHsmBackend, expectCode, openTestHsm, rng } from './hsmTestKit';

const DATA = asciiToBytes('message');
const CONTEXT = asciiToBytes('paypad-tk|PP2024000123');
const TK_ATTRIBUTES = { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' } as const;

forEachHsmBackend((name) => `the ${name} HSM`, (backend) => {
  let hsm: Hsm;
  let other: Hsm;
  const keys: Record<string, KeyHandle> = {};
  let intake: KeyPair;

  function request(usage: GenerateKeyRequest['usage'], modeOfUse: GenerateKeyRequest['modeOfUse'], exportability: GenerateKeyRequest['exportability'] = 'E', lengthBytes: GenerateKeyRequest['lengthBytes'] = 16): GenerateKeyRequest {
    return { usage, algorithm: 'A', modeOfUse, exportability, lengthBytes };
  }

  beforeAll(async () => {
    ({ hsm } = await backend.openTestHsm());
    ({ hsm: other } = await backend.openTestHsm());
    const specs: Record<string, GenerateKeyRequest> = {
      tk: request('K1', 'B', 'N'),
      tmk: request('K1', 'B'),
      kbpkUnwrapOnly: request('K1', 'D'),
      kbpkWrapOnly: request('K1', 'E'),
      pik: request('P0', 'E'),
      mak: request('M6', 'C'),
      makGenerate: request('M6', 'G'),
      makVerify: request('M6', 'V'),
      tdk: request('D0', 'B'),
      dmk: request('K0', 'B'),
      aes256: request('D0', 'B', 'E', 32),
      noExport: request('P0', 'E', 'N'),
      sensitive: request('D0', 'B', 'S'),
    };
    for (const [name, spec] of Object.entries(specs)) keys[name] = await hsm.generateKey(spec);
    intake = await hsm.generateKeyPair('P-256');
  });

  describe('A12: each command takes only keys whose usage and mode allow it', () => {
    it.each(['pik', 'tdk', 'dmk', 'tk', 'makVerify'])('mac refuses the %s', async (name) => {
      await expectCode(hsm.mac(keys[name], DATA), 'TR31_USAGE_NOT_ALLOWED');
    });

    it.each(['pik', 'tdk', 'tmk', 'makGenerate'])('verifyMac refuses the %s', async (name) => {
      const tag = await hsm.mac(keys.mak, DATA);
      await expectCode(hsm.verifyMac(keys[name], DATA, tag), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('a generate-only MAC key MACs and a verify-only one verifies', async () => {
      const tag = await hsm.mac(keys.makGenerate, DATA);
      // Two keys, so the verify-only key rejects the generate-only key's tag: the check is real.
      await expectCode(hsm.verifyMac(keys.makVerify, DATA, tag), 'MAC_MISMATCH');
    });

    // A CMAC key of mode C derives too (a DWK's chunk keys, B4): an SP 800-108 output under its own
    // label is independent of the base key, so no MAC under the MAK can be made this way.
    it.each(['makGenerate', 'makVerify', 'pik', 'dmk', 'kbpkWrapOnly', 'kbpkUnwrapOnly'])('macWithDerivedKey refuses the %s (only a K1 of mode B or an M6 of mode C derives)', async (name) => {
      await expectCode(hsm.macWithDerivedKey(keys[name], tkMacKdfParams('PP2024000123'), DATA), 'TR31_USAGE_NOT_ALLOWED');
    });

    it.each(['pik', 'mak', 'tdk', 'dmk', 'kbpkUnwrapOnly'])('exportKeyUnder refuses the %s as the KBPK', async (name) => {
      await expectCode(hsm.exportKeyUnder(keys[name], keys.tdk, { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' }), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('a wrap-only K1 may be a KBPK', async () => {
      const block = await hsm.exportKeyUnder(keys.kbpkWrapOnly, keys.pik, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E' });
      expect(block.slice(5, 9)).toBe('P0AE');
    });

    it.each(['tk', 'mak', 'pik'])('importTransportedKey and translateTransportedKey refuse the %s as the intake key', async (name) => {
      const envelope = encodeKeyEnvelope(wrapKeyForRecipient(intake.publicKey, rng(16), CONTEXT, rng));
      await expectCode(hsm.importTransportedKey(keys[name], envelope, CONTEXT, TK_ATTRIBUTES), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(hsm.translateTransportedKey(keys[name], envelope, CONTEXT, intake.publicKey, CONTEXT), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('the intake key cannot MAC, derive or wrap', async () => {
      await expectCode(hsm.mac(intake.handle, DATA), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(hsm.macWithDerivedKey(intake.handle, tkMacKdfParams('PP2024000123'), DATA), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(hsm.exportKeyUnder(intake.handle, keys.tdk, { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' }), 'TR31_USAGE_NOT_ALLOWED');
    });
  });

  describe('A11, A12: export rules', () => {
    const tdkHeader = { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' } as const;

    it('refuses to relabel a key: a PIN key cannot leave as a MAC key', async () => {
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.pik, { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E' }), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.pik, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' }), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.tdk, { ...tdkHeader, algorithm: 'T' }), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('C6: may narrow the mode of use (a PIK kept as B reaches the terminal as E) but never widen or change it', async () => {
      const pikBoth = await hsm.generateKey(request('P0', 'B'));
      const pinHeader = { keyUsage: 'P0', algorithm: 'A', exportability: 'E' } as const;
      expect((await hsm.exportKeyUnder(keys.tmk, pikBoth, { ...pinHeader, modeOfUse: 'E' })).slice(5, 9)).toBe('P0AE');
      expect((await hsm.exportKeyUnder(keys.tmk, pikBoth, { ...pinHeader, modeOfUse: 'D' })).slice(5, 9)).toBe('P0AD');
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.pik, { ...pinHeader, modeOfUse: 'D' }), 'TR31_USAGE_NOT_ALLOWED');
      expect((await hsm.exportKeyUnder(keys.tmk, keys.mak, { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'V', exportability: 'E' })).slice(5, 9)).toBe('M6AV');
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.makGenerate, { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E' }), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('may narrow exportability to N but never loosen it', async () => {
      await hsm.exportKeyUnder(keys.tmk, keys.tdk, { ...tdkHeader, exportability: 'N' });
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.tdk, { ...tdkHeader, exportability: 'S' }), 'TR31_USAGE_NOT_ALLOWED');
      await hsm.exportKeyUnder(keys.tmk, keys.sensitive, { ...tdkHeader, exportability: 'S' });
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.sensitive, tdkHeader), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('refuses a non-exportable key, the intake private key, and the storage context', async () => {
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.noExport, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'N' }), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(hsm.exportKeyUnder(keys.tmk, intake.handle, { keyUsage: 'K3', algorithm: 'E', modeOfUse: 'X', exportability: 'N' }), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.tdk, { ...tdkHeader, keyContext: '1' }), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('refuses a KBPK weaker than the key (AES-128 over AES-256)', async () => {
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.aes256, tdkHeader), 'HSM_KEY_TOO_WEAK');
    });

    it('refuses to export a key under itself', async () => {
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.tmk, { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E' }), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('refuses a malformed header', async () => {
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.tdk, { ...tdkHeader, keyVersionNumber: '!!' }), 'TR31_MALFORMED');
      await expectCode(hsm.exportKeyUnder(keys.tmk, keys.tdk, null as never), 'TR31_MALFORMED');
    });
  });

  describe('handles open only in their own HSM, unaltered', () => {
    it('X1: a handle made under another LMK is refused by every command (TR31_MAC_MISMATCH)', async () => {
      const [foreignMak, foreignTk, foreignIntake] = [
        await other.generateKey(request('M6', 'C')),
        await other.generateKey(request('K1', 'B')),
        (await other.generateKeyPair('P-256')).handle,
      ];
      const tag = await hsm.mac(keys.mak, DATA);
      const envelope = encodeKeyEnvelope(wrapKeyForRecipient(intake.publicKey, rng(16), CONTEXT, rng));
      const derive = tkMacKdfParams('PP2024000123');
      const header = { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' } as const;
      const attempts = [
        hsm.mac(foreignMak, DATA),
        hsm.verifyMac(foreignMak, DATA, tag),
        hsm.macWithDerivedKey(foreignTk, derive, DATA),
        hsm.verifyMacWithDerivedKey(foreignTk, derive, DATA, tag),
        hsm.keyCheckValue(foreignMak),
        hsm.exportKeyUnder(foreignTk, keys.tdk, header),
        hsm.exportKeyUnder(keys.tmk, foreignTk, { ...header, keyUsage: 'K1' }),
        hsm.importTransportedKey(foreignIntake, envelope, CONTEXT, TK_ATTRIBUTES),
        hsm.translateTransportedKey(foreignIntake, envelope, CONTEXT, intake.publicKey, CONTEXT),
      ];
      for (const attempt of attempts) await expectCode(attempt, 'TR31_MAC_MISMATCH');
    });

    it('a handle whose header was edited (PIN key relabelled as MAC key) is tampering, not a usage error', async () => {
      const relabelled = { ...keys.pik, block: keys.pik.block.slice(0, 5) + 'M6AC' + keys.pik.block.slice(9) };
      await expectCode(hsm.mac(relabelled, DATA), 'TR31_MAC_MISMATCH');
    });

    it('a handle carrying another key check value is refused', async () => {
      await expectCode(hsm.mac({ block: keys.mak.block, kcv: keys.pik.kcv }, DATA), 'HSM_HANDLE_INVALID');
      const oneDigitOff = keys.mak.kcv.slice(0, 9) + (keys.mak.kcv[9] === '0' ? '1' : '0');
      await expectCode(hsm.keyCheckValue({ block: keys.mak.block, kcv: oneDigitOff }), 'HSM_HANDLE_INVALID');
      // Hex case is not part of the value.
      expect(await hsm.keyCheckValue({ block: keys.mak.block, kcv: keys.mak.kcv.toLowerCase() })).toBe(keys.mak.kcv);
    });

    it.each([
      ['null', null],
      ['a string', 'D0112P0AE00E0000'],
      ['no kcv', { block: 'D0112P0AE00E0000' }],
      ['a short kcv', { block: 'D0112P0AE00E0000', kcv: 'ABCDEF' }],
      ['an empty block', { block: '', kcv: '0011223344' }],
      ['an oversized block', { block: 'D'.repeat(10_000), kcv: '0011223344' }],
    ])('refuses a handle that is %s', async (_name, handle) => {
      await expectCode(hsm.keyCheckValue(handle as never), 'HSM_HANDLE_INVALID');
    });

    it('refuses a block that is not a key block', async () => {
      await expectCode(hsm.keyCheckValue({ block: 'not a key block', kcv: '0011223344' }), 'TR31_MALFORMED');
    });
  });
});

describe('software HSM: storage blocks only', () => {
  it('refuses an authentic block under the LMK that is not a storage block', async () => {
    const { hsm, lmkFile } = await openTestHsm();
    const lmk = new Uint8Array(await readFile(lmkFile));
    const key = rng(16);
    const exchangeBlock = wrapKeyBlock(lmk, { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E' }, key, rng);
    await expectCode(hsm.mac({ block: exchangeBlock, kcv: toHex(keyCheckValue(key)) }, DATA), 'HSM_HANDLE_INVALID');
  });
});
