/**
 * The HSM contract: the commands as the key-loading flow uses them (docs/key-loading.md), run
 * against every backend createHsm offers (the software HSM, and the PKCS#11 HSM on a SoftHSM2
 * token of this run's own, skipped with the reason where SoftHSM2 is not installed). The terminal
 * side is played with shared/crypto directly, MTMS and the KMS each with their own HSM.
 */
import { p256 } from '@noble/curves/nist.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, toHex, utf8ToBytes } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { publicKeyCheckValue } from '../../../shared/protocol/publicKeyCheck';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { decodeKeyEnvelope, encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { unwrapKeyBlock } from '../../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { tkMacKdfParams } from '../../../shared/protocol/macEnvelope';
import { chunkKeyParams } from '../../../shared/protocol/updateChunks';
import { createHsm } from '../../../host/hsm/index';
import type { KeyAttributes, KeyHandle, KeyPair } from '../../../host/hsm/hsm';
import { forEachHsmBackend, type TestHsm, expectCode, rng } from './hsmTestKit';

const SERIAL = 'PP2024000123';
const TK_CONTEXT = asciiToBytes(`paypad-tk|${SERIAL}`);
const TK_ATTRIBUTES: KeyAttributes = { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' };
const kcvHex = (key: Uint8Array) => toHex(keyCheckValue(key, 'cmac'));

forEachHsmBackend((name) => `the ${name} HSM`, (backend) => {
  let mtms: TestHsm;
  let kms: TestHsm;
  let mtmsIntake: KeyPair;
  let kmsIntake: KeyPair;
  /** The terminal's TK, known here because the test plays the terminal. */
  const tk = rng(16);

  beforeAll(async () => {
    [mtms, kms] = await Promise.all([backend.openTestHsm(), backend.openTestHsm()]);
    [mtmsIntake, kmsIntake] = await Promise.all([mtms.hsm.generateKeyPair('P-256'), kms.hsm.generateKeyPair('P-256')]);
  });

  /** What the terminal uploads through the operator (A5, A10). */
  function terminalEnvelope(publicKey: Uint8Array, context = TK_CONTEXT): Uint8Array {
    return encodeKeyEnvelope(wrapKeyForRecipient(publicKey, tk, context, rng));
  }

  describe('generateKey', () => {
    it('A11: makes an AES key as a TR-31 storage block under the LMK, with its CMAC KCV', async () => {
      const handle = await kms.hsm.generateKey({ usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });
      const { header } = parseKeyBlockHeader(handle.block);
      expect(header).toMatchObject({ versionId: 'D', keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E', keyContext: '1' });
      const { key } = await kms.open(handle);
      expect(key.length).toBe(16);
      expect(handle.kcv).toBe(kcvHex(key));
      expect(handle.kcv).toMatch(/^[0-9A-F]{10}$/);
    });

    it.each([16, 24, 32] as const)('makes %i-byte keys, a different one each time', async (lengthBytes) => {
      const request = { usage: 'D0', algorithm: 'A', modeOfUse: 'E', exportability: 'E', lengthBytes } as const;
      const [a, b] = await Promise.all([kms.hsm.generateKey(request), kms.hsm.generateKey(request)]);
      const [keyA, keyB] = await Promise.all([kms.open(a), kms.open(b)]);
      expect(keyA.key.length).toBe(lengthBytes);
      expect(toHex(keyA.key)).not.toBe(toHex(keyB.key));
    });

    it.each([
      ['an unknown usage', { usage: 'B0' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['TDES', { algorithm: 'T' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['a MAC mode on a PIN key', { usage: 'P0', modeOfUse: 'C' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['an encryption mode on a MAC key', { usage: 'M6', modeOfUse: 'E' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['mode N', { modeOfUse: 'N' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['exportability X', { exportability: 'X' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['a 20-byte key', { lengthBytes: 20 }, 'BAD_LENGTH'],
      ['a 64-byte key', { lengthBytes: 64 }, 'BAD_LENGTH'],
    ])('refuses %s', async (_name, change, code) => {
      const request = { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16, ...change };
      await expectCode(kms.hsm.generateKey(request as never), code);
    });
  });

  describe('generateKeyPair', () => {
    it('A10: keeps the private key as a K3/E/X non-exportable block and answers a valid P-256 public key', async () => {
      const { handle, publicKey } = kmsIntake;
      expect(publicKey.length).toBe(65);
      expect(p256.utils.isValidPublicKey(publicKey, false)).toBe(true);
      expect(parseKeyBlockHeader(handle.block).header).toMatchObject({ keyUsage: 'K3', algorithm: 'E', modeOfUse: 'X', exportability: 'N', keyContext: '1' });
      // The block holds the private key whose public key is the one answered.
      const { key } = await kms.open(handle);
      expect(toHex(p256.getPublicKey(key, false))).toBe(toHex(publicKey));
    });

    it('gives the key pair the public key fingerprint as its check value', async () => {
      expect(kmsIntake.handle.kcv).toBe(publicKeyCheckValue(kmsIntake.publicKey));
      expect(await kms.hsm.keyCheckValue(kmsIntake.handle)).toBe(kmsIntake.handle.kcv);
    });

    it('refuses a curve other than P-256', async () => {
      await expectCode(kms.hsm.generateKeyPair('P-384' as never), 'BAD_ARGUMENT');
    });
  });

  describe('importTransportedKey and translateTransportedKey', () => {
    it('A10: the KMS imports the TK from an envelope for its intake key, keeping the attributes asked for', async () => {
      const handle = await kms.hsm.importTransportedKey(kmsIntake.handle, terminalEnvelope(kmsIntake.publicKey), TK_CONTEXT, TK_ATTRIBUTES);
      expect(handle.kcv).toBe(kcvHex(tk));
      expect(parseKeyBlockHeader(handle.block).header).toMatchObject({ keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' });
      expect(toHex((await kms.open(handle)).key)).toBe(toHex(tk));
    });

    it('A10: MTMS translates the terminal envelope for the KMS; the KMS import gives the same KCV', async () => {
      const fromTerminal = terminalEnvelope(mtmsIntake.publicKey);
      const forKms = await mtms.hsm.translateTransportedKey(mtmsIntake.handle, fromTerminal, TK_CONTEXT, kmsIntake.publicKey, TK_CONTEXT);
      expect(toHex(forKms)).not.toBe(toHex(fromTerminal));
      const handle = await kms.hsm.importTransportedKey(kmsIntake.handle, forKms, TK_CONTEXT, TK_ATTRIBUTES);
      expect(handle.kcv).toBe(kcvHex(tk));
    });

    it('A10: a translated envelope opens only for its recipient and context', async () => {
      const contextOut = asciiToBytes('paypad-tk|KMS-ACME|PP2024000123');
      const forKms = await mtms.hsm.translateTransportedKey(mtmsIntake.handle, terminalEnvelope(mtmsIntake.publicKey), TK_CONTEXT, kmsIntake.publicKey, contextOut);
      await expectCode(mtms.hsm.importTransportedKey(mtmsIntake.handle, forKms, contextOut, TK_ATTRIBUTES), 'KEY_UNWRAP_FAILED');
      await expectCode(kms.hsm.importTransportedKey(kmsIntake.handle, forKms, TK_CONTEXT, TK_ATTRIBUTES), 'KEY_UNWRAP_FAILED');
      const handle = await kms.hsm.importTransportedKey(kmsIntake.handle, forKms, contextOut, TK_ATTRIBUTES);
      expect(handle.kcv).toBe(kcvHex(tk));
    });

    it('A10: refuses an envelope for another serial, another intake key, or one that was altered', async () => {
      const envelope = terminalEnvelope(kmsIntake.publicKey);
      await expectCode(kms.hsm.importTransportedKey(kmsIntake.handle, envelope, asciiToBytes('paypad-tk|PP2024000124'), TK_ATTRIBUTES), 'KEY_UNWRAP_FAILED');
      await expectCode(mtms.hsm.translateTransportedKey(mtmsIntake.handle, envelope, TK_CONTEXT, kmsIntake.publicKey, TK_CONTEXT), 'KEY_UNWRAP_FAILED');
      const altered = envelope.slice();
      altered[altered.length - 1] ^= 0x01;
      await expectCode(kms.hsm.importTransportedKey(kmsIntake.handle, altered, TK_CONTEXT, TK_ATTRIBUTES), 'KEY_UNWRAP_FAILED');
    });

    it('refuses malformed envelopes and recipients', async () => {
      const envelope = terminalEnvelope(kmsIntake.publicKey);
      const badVersion = envelope.slice();
      badVersion[0] = 0x02;
      await expectCode(kms.hsm.importTransportedKey(kmsIntake.handle, badVersion, TK_CONTEXT, TK_ATTRIBUTES), 'KEY_ENVELOPE_UNSUPPORTED');
      await expectCode(kms.hsm.importTransportedKey(kmsIntake.handle, envelope.subarray(0, 80), TK_CONTEXT, TK_ATTRIBUTES), 'BAD_LENGTH');
      await expectCode(kms.hsm.importTransportedKey(kmsIntake.handle, 'envelope' as never, TK_CONTEXT, TK_ATTRIBUTES), 'BAD_ARGUMENT');
      const offCurve = kmsIntake.publicKey.slice();
      offCurve[64] ^= 0x01;
      const fromTerminal = terminalEnvelope(mtmsIntake.publicKey);
      await expectCode(mtms.hsm.translateTransportedKey(mtmsIntake.handle, fromTerminal, TK_CONTEXT, offCurve, TK_CONTEXT), 'PUBLIC_KEY_INVALID');
      await expectCode(mtms.hsm.translateTransportedKey(mtmsIntake.handle, fromTerminal, TK_CONTEXT, kmsIntake.publicKey, new Uint8Array(0)), 'BAD_LENGTH');
    });

    it('refuses to import with attributes the HSM does not allow', async () => {
      const envelope = terminalEnvelope(kmsIntake.publicKey);
      await expectCode(kms.hsm.importTransportedKey(kmsIntake.handle, envelope, TK_CONTEXT, { ...TK_ATTRIBUTES, modeOfUse: 'C' }), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('the translated envelope carries the same key length as the one received', async () => {
      const forKms = await mtms.hsm.translateTransportedKey(mtmsIntake.handle, terminalEnvelope(mtmsIntake.publicKey), TK_CONTEXT, kmsIntake.publicKey, TK_CONTEXT);
      expect(decodeKeyEnvelope(forKms).wrappedKey.length).toBe(24);
    });
  });

  describe('exportKeyUnder', () => {
    let tkHandle: KeyHandle;
    let tmk: KeyHandle;
    beforeAll(async () => {
      tkHandle = await kms.hsm.importTransportedKey(kmsIntake.handle, terminalEnvelope(kmsIntake.publicKey), TK_CONTEXT, TK_ATTRIBUTES);
      tmk = await kms.hsm.generateKey({ usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });
    });

    it('A11: the TMK leaves as a TR-31 block under TK that the terminal opens, with the handle KCV', async () => {
      const block = await kms.hsm.exportKeyUnder(tkHandle, tmk, { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' });
      const { key, header } = unwrapKeyBlock(tk, block, { usage: 'K1', modesOfUse: ['B'], algorithm: 'A' });
      expect(header.exportability).toBe('N');
      expect(header.keyContext).toBe('0');
      expect(kcvHex(key)).toBe(tmk.kcv);
    });

    it('A12: working keys leave under TMK, each opening only with the usage it was born with', async () => {
      const tmkClear = (await kms.open(tmk)).key;
      const workingKeys = [
        { usage: 'P0', modeOfUse: 'E' },
        { usage: 'M6', modeOfUse: 'C' },
        { usage: 'D0', modeOfUse: 'B' },
        { usage: 'K0', modeOfUse: 'B' },
      ] as const;
      for (const { usage, modeOfUse } of workingKeys) {
        const handle = await kms.hsm.generateKey({ usage, algorithm: 'A', modeOfUse, exportability: 'E', lengthBytes: 16 });
        const block = await kms.hsm.exportKeyUnder(tmk, handle, { keyUsage: usage, algorithm: 'A', modeOfUse, exportability: 'N' });
        expect(kcvHex(unwrapKeyBlock(tmkClear, block, { usage, modesOfUse: [modeOfUse] }).key)).toBe(handle.kcv);
        const other = usage === 'M6' ? 'P0' : 'M6';
        expect(() => unwrapKeyBlock(tmkClear, block, { usage: other, modesOfUse: [modeOfUse] })).toThrow(/usage/);
      }
    });

    it('masks the key length: a 16-byte key makes the same block length as a 32-byte one (TR-31:2018 §A.3)', async () => {
      const kbpk = await kms.hsm.generateKey({ usage: 'K1', algorithm: 'A', modeOfUse: 'E', exportability: 'E', lengthBytes: 32 });
      const lengths = [];
      for (const lengthBytes of [16, 32] as const) {
        const key = await kms.hsm.generateKey({ usage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes });
        lengths.push((await kms.hsm.exportKeyUnder(kbpk, key, { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' })).length);
      }
      expect(lengths[0]).toBe(lengths[1]);
    });
  });

  describe('MAC commands', () => {
    const data = utf8ToBytes('PAYPAD-MAC-1\nPOST\n/kms/v1/sign-on\nPP2024000123\n7\nMAK\n{}');

    it('X2: mac is the AES-CMAC of the data under the MAK; verifyMac accepts it and refuses any change', async () => {
      const mak = await kms.hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 });
      const tag = await kms.hsm.mac(mak, data);
      expect(toHex(tag)).toBe(toHex(aesCmac((await kms.open(mak)).key, data)));
      await kms.hsm.verifyMac(mak, data, tag);
      await kms.hsm.verifyMac(mak, data, tag.subarray(0, 8)); // SP 800-38B §5.3 truncation to 64 bits
      const tampered = data.slice();
      tampered[5] ^= 0x20;
      await expectCode(kms.hsm.verifyMac(mak, tampered, tag), 'MAC_MISMATCH');
      const wrongTag = tag.slice();
      wrongTag[15] ^= 0x01;
      await expectCode(kms.hsm.verifyMac(mak, data, wrongTag), 'MAC_MISMATCH');
      await expectCode(kms.hsm.verifyMac(mak, data, tag.subarray(0, 7)), 'BAD_LENGTH');
      await expectCode(kms.hsm.mac(mak, 'text' as never), 'BAD_ARGUMENT');
    });

    it('X2: K_tkmac: the KMS MACs under the key the terminal derives from TK for its serial', async () => {
      const tkHandle = await kms.hsm.importTransportedKey(kmsIntake.handle, terminalEnvelope(kmsIntake.publicKey), TK_CONTEXT, TK_ATTRIBUTES);
      const params = tkMacKdfParams(SERIAL);
      const terminalTag = aesCmac(deriveKeyCounterCmac(tk, params), data);
      expect(toHex(await kms.hsm.macWithDerivedKey(tkHandle, params, data))).toBe(toHex(terminalTag));
      await kms.hsm.verifyMacWithDerivedKey(tkHandle, params, data, terminalTag);
      await expectCode(kms.hsm.verifyMacWithDerivedKey(tkHandle, tkMacKdfParams('PP2024000124'), data, terminalTag), 'MAC_MISMATCH');
      await expectCode(kms.hsm.macWithDerivedKey(tkHandle, { ...params, lengthBytes: 20 }, data), 'BAD_LENGTH');
      await expectCode(kms.hsm.macWithDerivedKey(tkHandle, { ...params, label: new Uint8Array(0) }, data), 'BAD_ARGUMENT');
    });

    it('B4: a DWK (M6, mode C) made under a DMK derives each chunk key as the terminal does; other MAC keys and PIN keys derive nothing', async () => {
      const dmk = await kms.hsm.generateKey({ usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });
      const dwk = await kms.hsm.generateZoneKey(dmk, { usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 });
      const terminalDwk = unwrapKeyBlock((await kms.open(dmk)).key, dwk.block, { usage: 'M6', modesOfUse: ['C'], algorithm: 'A' }).key;
      const params = chunkKeyParams('00112233445566778899AABBCCDDEEFF', 8192);
      const terminalTag = aesCmac(deriveKeyCounterCmac(terminalDwk, params), data);
      expect(toHex(await kms.hsm.macWithDerivedKey(dwk.handle, params, data))).toBe(toHex(terminalTag));
      await expectCode(kms.hsm.verifyMacWithDerivedKey(dwk.handle, chunkKeyParams('00112233445566778899AABBCCDDEEFF', 0), data, terminalTag), 'MAC_MISMATCH');
      const generateOnly = await kms.hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'G', exportability: 'E', lengthBytes: 16 });
      await expectCode(kms.hsm.macWithDerivedKey(generateOnly, params, data), 'TR31_USAGE_NOT_ALLOWED');
      const pik = await kms.hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });
      await expectCode(kms.hsm.macWithDerivedKey(pik, params, data), 'TR31_USAGE_NOT_ALLOWED');
    });
  });

  describe('keyCheckValue, close and createHsm', () => {
    it('keyCheckValue recomputes the KCV inside the HSM', async () => {
      const key = await kms.hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E', lengthBytes: 24 });
      expect(await kms.hsm.keyCheckValue(key)).toBe(kcvHex((await kms.open(key)).key));
    });

    it('a closed HSM refuses every command with HSM_UNAVAILABLE', async () => {
      const { hsm } = await backend.openTestHsm();
      const key = await hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 });
      await hsm.close();
      await hsm.close(); // idempotent
      await expectCode(hsm.mac(key, new Uint8Array(1)), 'HSM_UNAVAILABLE');
      await expectCode(hsm.keyCheckValue(key), 'HSM_UNAVAILABLE');
      await expectCode(hsm.generateKeyPair('P-256'), 'HSM_UNAVAILABLE');
    });

    it('createHsm opens this kind of HSM from configuration, and refuses a kind it does not have', async () => {
      const hsm = await createHsm(await backend.config());
      const key = await hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 });
      expect(await hsm.keyCheckValue(key)).toBe(key.kcv);
      await hsm.close();
      await expectCode(createHsm({ kind: 'hsm9' } as never), 'CONFIG_INVALID');
      await expectCode(createHsm(undefined as never), 'CONFIG_INVALID');
    });
  });
});
