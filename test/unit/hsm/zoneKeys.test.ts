/**
 * Zone keys on the acquirer link (System C, C6-C8; X1): the ZMK entered from components at a key
 * ceremony, zone PIN and MAC keys made by one HSM and exported under the ZMK as TR-31 blocks for
 * the other party's HSM, and the X9.143 attribute rules on the way in. The published TR-31 blocks
 * of TR-31:2018 A.7.4 and X9.143:2021 §8.1 (test/vectors/tr31.json) are imported as zone keys
 * under their published KBPK, entered as a ZMK from two components. Run against every HSM backend.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex, toHex, xorBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { wrapKeyBlock } from '../../../shared/crypto/tr31';
import { type Tr31HeaderInit, parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import type { GenerateKeyRequest, Hsm, KeyAttributes, KeyComponent, KeyHandle } from '../../../host/hsm/hsm';
import { forEachHsmBackend, type TestHsm, expectCode, rng } from './hsmTestKit';

interface Tr31WrapVector {
  readonly name: string;
  readonly kbpk: string;
  readonly key: string;
  readonly kcv?: string;
  readonly block: string;
}
const tr31Vectors: Tr31WrapVector[] = JSON.parse(readFileSync(new URL('../../vectors/tr31.json', import.meta.url), 'utf8')).wrap;
/** The two published P0 blocks under the AES-256 KBPK 88E1AB2A...: TR-31:2018 A.7.4 and X9.143:2021 §8.1. */
const PUBLISHED_P0 = tr31Vectors.filter((v) => v.block.slice(5, 7) === 'P0' && v.kbpk.startsWith('88E1AB2A'));

const ZMK_ATTRIBUTES: KeyAttributes = { usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' };
const ZPK: GenerateKeyRequest = { usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 };
const ZAK: GenerateKeyRequest = { usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 };
const DATA = asciiToBytes('0800 network management request');
const kcvOf = (key: Uint8Array) => toHex(keyCheckValue(key, 'cmac'));

/** A custodian's form: the component and its check value. */
function component(value: Uint8Array): KeyComponent {
  return { value, kcv: kcvOf(value) };
}

/** `key` as the two components of a ceremony: a random one and the XOR that completes it. */
function splitKey(key: Uint8Array): KeyComponent[] {
  const first = rng(key.length);
  return [component(first), component(xorBytes(key, first))];
}

forEachHsmBackend((name) => `C: zone keys on the ${name} HSM`, (backend) => {
  let posp: TestHsm;
  let bank: TestHsm;
  let other: Hsm;
  /** The ZMK both sides enter at the ceremony; the test knows it because it plays the bank's custodians. */
  const zmkKey = rng(32);
  let pospZmk: KeyHandle;
  let bankZmk: KeyHandle;
  /** A ZMK entered with the published TR-31 KBPK. */
  let publishedZmk: KeyHandle;
  let tmk: KeyHandle;

  beforeAll(async () => {
    [posp, bank] = await Promise.all([backend.openTestHsm(), backend.openTestHsm()]);
    ({ hsm: other } = await backend.openTestHsm());
    pospZmk = await posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, splitKey(zmkKey), kcvOf(zmkKey));
    bankZmk = await bank.hsm.importKeyComponents(ZMK_ATTRIBUTES, splitKey(zmkKey), kcvOf(zmkKey));
    const kbpk = fromHex(PUBLISHED_P0[0].kbpk);
    publishedZmk = await posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, splitKey(kbpk), kcvOf(kbpk));
    tmk = await posp.hsm.generateKey({ usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 32 });
  });

  /** A TR-31 block under the ceremony ZMK, as the bank's HSM would send it. */
  function fromBank(header: Partial<Tr31HeaderInit>, key = rng(16)): string {
    return wrapKeyBlock(zmkKey, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', keyContext: '2', ...header }, key, rng);
  }

  describe('the ZMK from key components (key ceremony)', () => {
    it('two custodians\' components make the ZMK in each HSM: a K0 storage block with the combined check value', async () => {
      expect(pospZmk.kcv).toBe(kcvOf(zmkKey));
      expect(bankZmk.kcv).toBe(pospZmk.kcv);
      expect(parseKeyBlockHeader(pospZmk.block).header).toMatchObject({ keyUsage: 'K0', modeOfUse: 'B', exportability: 'N', keyContext: '1' });
      expect(toHex((await posp.open(pospZmk)).key)).toBe(toHex(zmkKey));
    });

    it('three components work too', async () => {
      const key = rng(16);
      const [a, b] = [rng(16), rng(16)];
      const handle = await posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, [component(a), component(b), component(xorBytes(xorBytes(key, a), b))], kcvOf(key));
      expect(handle.kcv).toBe(kcvOf(key));
    });

    it('a mistyped component is KCV_MISMATCH naming that component; a wrong combined check value is KCV_MISMATCH too', async () => {
      const [first, second] = splitKey(zmkKey);
      const typo = Uint8Array.from(second.value);
      typo[0] ^= 0x10;
      const error = await posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, [first, { value: typo, kcv: second.kcv }], kcvOf(zmkKey)).catch((e: Error) => e);
      await expectCode(Promise.reject(error), 'KCV_MISMATCH');
      expect((error as Error).message).toContain('component 2');
      const wrongTotal = kcvOf(zmkKey).slice(0, 9) + (kcvOf(zmkKey)[9] === '0' ? '1' : '0');
      await expectCode(posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, [first, second], wrongTotal), 'KCV_MISMATCH');
    });

    it.each([
      ['one component', (c: KeyComponent[]) => [c[0]]],
      ['four components', (c: KeyComponent[]) => [c[0], c[1], component(rng(32)), component(rng(32))]],
      ['the same component twice', (c: KeyComponent[]) => [c[0], c[0], c[1]]],
      ['components that cancel to a zero key', (c: KeyComponent[]) => [c[0], c[1], component(xorBytes(c[0].value, c[1].value))]],
      ['a check value that is not 10 hex digits', (c: KeyComponent[]) => [c[0], { ...c[1], kcv: 'ABCDEF' }]],
      ['a component that is not bytes', (c: KeyComponent[]) => [c[0], { value: 'AB'.repeat(32), kcv: c[1].kcv }]],
    ])('refuses %s (KEY_COMPONENTS_INVALID)', async (_name, change) => {
      await expectCode(posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, change(splitKey(zmkKey)) as KeyComponent[], kcvOf(zmkKey)), 'KEY_COMPONENTS_INVALID');
    });

    it('refuses components of different or non-AES lengths (BAD_LENGTH) and attributes X9.143 does not allow', async () => {
      const [first, second] = splitKey(zmkKey);
      await expectCode(posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, [first, component(second.value.subarray(0, 16))], kcvOf(zmkKey)), 'BAD_LENGTH');
      await expectCode(posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, [{ value: rng(20), kcv: first.kcv }, { value: rng(20), kcv: second.kcv }], kcvOf(zmkKey)), 'BAD_LENGTH');
      await expectCode(posp.hsm.importKeyComponents({ ...ZMK_ATTRIBUTES, modeOfUse: 'C' }, [first, second], kcvOf(zmkKey)), 'TR31_USAGE_NOT_ALLOWED');
    });
  });

  describe('zone keys made here, exported under the ZMK, imported by the bank', () => {
    it('C6: a ZPK travels under the ZMK (context 2, same attributes) and both HSMs hold the same key', async () => {
      const zpk = await posp.hsm.generateZoneKey(pospZmk, ZPK);
      const { header } = parseKeyBlockHeader(zpk.block);
      expect(header).toMatchObject({ versionId: 'D', keyUsage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', keyContext: '2' });
      expect(parseKeyBlockHeader(zpk.handle.block).header.keyContext).toBe('1');
      const received = await bank.hsm.importKeyBlock(bankZmk, zpk.block, 'P0');
      expect(received.kcv).toBe(zpk.handle.kcv);
      expect(toHex((await bank.open(received)).key)).toBe(toHex((await posp.open(zpk.handle)).key));
    });

    it('X2: a ZAK MACs on one side and verifies on the other', async () => {
      const zak = await posp.hsm.generateZoneKey(pospZmk, ZAK);
      const received = await bank.hsm.importKeyBlock(bankZmk, zak.block, 'M6');
      await bank.hsm.verifyMac(received, DATA, await posp.hsm.mac(zak.handle, DATA));
      await expectCode(bank.hsm.verifyMac(received, asciiToBytes('altered'), await posp.hsm.mac(zak.handle, DATA)), 'MAC_MISMATCH');
    });

    it('a ZPK cannot MAC and a ZAK cannot carry PINs, on either side', async () => {
      const zpk = await posp.hsm.generateZoneKey(pospZmk, ZPK);
      const zak = await posp.hsm.generateZoneKey(pospZmk, ZAK);
      await expectCode(posp.hsm.mac(zpk.handle, DATA), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(bank.hsm.mac(await bank.hsm.importKeyBlock(bankZmk, zpk.block, 'P0'), DATA), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(posp.hsm.translatePinBlock(zpk.handle, zak.handle, new Uint8Array(16), '4111111111111111'), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(posp.hsm.translatePinBlock(zak.handle, zpk.handle, new Uint8Array(16), '4111111111111111'), 'TR31_USAGE_NOT_ALLOWED');
    });

    it.each([
      ['a data key', { usage: 'D0' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['a key-encryption key', { usage: 'K0' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['a non-exportable key (N)', { exportability: 'N' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['a MAC mode on a PIN key', { modeOfUse: 'C' }, 'TR31_USAGE_NOT_ALLOWED'],
      ['a 20-byte key', { lengthBytes: 20 }, 'BAD_LENGTH'],
    ])('generateZoneKey refuses %s', async (_name, change, code) => {
      await expectCode(posp.hsm.generateZoneKey(pospZmk, { ...ZPK, ...change } as GenerateKeyRequest), code);
    });

    it('generateZoneKey refuses a ZMK weaker than the key, a ZMK that may not wrap, and keys that are not K0', async () => {
      const key128 = rng(16);
      const weak = await posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, splitKey(key128), kcvOf(key128));
      await expectCode(posp.hsm.generateZoneKey(weak, { ...ZPK, lengthBytes: 32 }), 'HSM_KEY_TOO_WEAK');
      const unwrapOnly = await posp.hsm.importKeyComponents({ ...ZMK_ATTRIBUTES, modeOfUse: 'D' }, splitKey(zmkKey), kcvOf(zmkKey));
      await expectCode(posp.hsm.generateZoneKey(unwrapOnly, ZPK), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(posp.hsm.generateZoneKey(tmk, ZPK), 'TR31_USAGE_NOT_ALLOWED');
    });
  });

  describe('zone keys received as TR-31 blocks: X9.143 usage, mode and exportability enforced', () => {
    it.each(PUBLISHED_P0.map((v) => [v.name, v] as const))('imports the published block %s under its KBPK entered as a ZMK (KCV as published)', async (_name, vector) => {
      const handle = await posp.hsm.importKeyBlock(publishedZmk, vector.block, 'P0');
      expect(handle.kcv).toBe(vector.kcv);
      expect(parseKeyBlockHeader(handle.block).header).toMatchObject({ keyUsage: 'P0', modeOfUse: 'E', exportability: 'E', keyContext: '1' });
      expect(toHex((await posp.open(handle)).key)).toBe(vector.key);
    });

    it('a new ZMK under the old one (ZMK rollover) comes in as K0', async () => {
      const next = rng(32);
      const handle = await posp.hsm.importKeyBlock(pospZmk, fromBank({ keyUsage: 'K0', exportability: 'N' }, next), 'K0');
      expect(handle.kcv).toBe(kcvOf(next));
    });

    it('refuses a block holding another usage than expected: a ZPK cannot arrive as a ZAK, nor the reverse', async () => {
      await expectCode(posp.hsm.importKeyBlock(pospZmk, fromBank({}), 'M6'), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(posp.hsm.importKeyBlock(pospZmk, fromBank({ keyUsage: 'M6', modeOfUse: 'C' }), 'P0'), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(posp.hsm.importKeyBlock(pospZmk, fromBank({}), 'B0' as never), 'TR31_USAGE_NOT_ALLOWED');
    });

    it.each([
      ['a PIN key with a MAC mode (C)', { modeOfUse: 'C' }, 'P0'],
      ['a PIN key with mode N (no restrictions)', { modeOfUse: 'N' }, 'P0'],
      ['a MAC key with an encryption mode (E)', { keyUsage: 'M6', modeOfUse: 'E' }, 'M6'],
      ['a TDES key', { algorithm: 'T' }, 'P0'],
      ['the storage key context (1)', { keyContext: '1' }, 'P0'],
    ])('refuses %s (TR31_USAGE_NOT_ALLOWED)', async (_name, header, usage) => {
      await expectCode(posp.hsm.importKeyBlock(pospZmk, fromBank(header), usage as 'P0'), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('keeps the block\'s exportability: an N key never leaves, an E key may be exported again under a KBPK', async () => {
      const locked = await posp.hsm.importKeyBlock(pospZmk, fromBank({ exportability: 'N' }), 'P0');
      expect(parseKeyBlockHeader(locked.block).header.exportability).toBe('N');
      await expectCode(posp.hsm.exportKeyUnder(tmk, locked, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' }), 'TR31_USAGE_NOT_ALLOWED');
      const open = await posp.hsm.importKeyBlock(pospZmk, fromBank({}), 'P0');
      expect((await posp.hsm.exportKeyUnder(tmk, open, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'N' })).slice(5, 12)).toBe('P0AE00N');
    });

    it('refuses a key longer than the ZMK (HSM_KEY_TOO_WEAK)', async () => {
      const key128 = rng(16);
      const weak = await posp.hsm.importKeyComponents(ZMK_ATTRIBUTES, splitKey(key128), kcvOf(key128));
      await expectCode(posp.hsm.importKeyBlock(weak, wrapKeyBlock(key128, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' }, rng(32), rng), 'P0'), 'HSM_KEY_TOO_WEAK');
    });

    it('refuses a tampered block, a relabelled header, a block under another ZMK and one that is not a key block', async () => {
      const block = fromBank({});
      const flipped = block.slice(0, 40) + (block[40] === '0' ? '1' : '0') + block.slice(41);
      await expectCode(posp.hsm.importKeyBlock(pospZmk, flipped, 'P0'), 'TR31_MAC_MISMATCH');
      await expectCode(posp.hsm.importKeyBlock(pospZmk, block.slice(0, 5) + 'M6AC' + block.slice(9), 'M6'), 'TR31_MAC_MISMATCH');
      await expectCode(posp.hsm.importKeyBlock(pospZmk, wrapKeyBlock(rng(32), { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' }, rng(16), rng), 'P0'), 'TR31_MAC_MISMATCH');
      await expectCode(posp.hsm.importKeyBlock(pospZmk, 'not a key block', 'P0'), 'TR31_MALFORMED');
    });

    it('refuses an oversized block, a truncated one and one that is not a string (TR31_MALFORMED)', async () => {
      const block = fromBank({});
      await expectCode(posp.hsm.importKeyBlock(pospZmk, block + '0'.repeat(10_000), 'P0'), 'TR31_MALFORMED');
      await expectCode(posp.hsm.importKeyBlock(pospZmk, block.slice(0, -2), 'P0'), 'TR31_MALFORMED');
      await expectCode(posp.hsm.importKeyBlock(pospZmk, fromHex('00') as never, 'P0'), 'TR31_MALFORMED');
    });

    it('takes only a K0 that may unwrap as the KEK, and only its own handles', async () => {
      const wrapOnly = await posp.hsm.importKeyComponents({ ...ZMK_ATTRIBUTES, modeOfUse: 'E' }, splitKey(zmkKey), kcvOf(zmkKey));
      await expectCode(posp.hsm.importKeyBlock(wrapOnly, fromBank({}), 'P0'), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(posp.hsm.importKeyBlock(tmk, fromBank({}), 'P0'), 'TR31_USAGE_NOT_ALLOWED');
      const foreignZmk = await other.importKeyComponents(ZMK_ATTRIBUTES, splitKey(zmkKey), kcvOf(zmkKey));
      await expectCode(posp.hsm.importKeyBlock(foreignZmk, fromBank({}), 'P0'), 'TR31_MAC_MISMATCH');
      await expectCode(posp.hsm.generateZoneKey(foreignZmk, ZPK), 'TR31_MAC_MISMATCH');
    });
  });
});
