/**
 * PINs on the acquiring path (System C: C6 the PIN entered at the POS, C8 the issuer's debit; X1):
 * the POSP HSM translates a terminal's ISO 9564-1 format 4 block from the terminal PIK to the
 * acquirer link's ZPK, and the issuer's HSM verifies it against the card's PIN verification value,
 * with no clear PIN outside either HSM. The published format 4 blocks of test/vectors/pinblock.json
 * (ep2; ANSI X9.24-3-2017 AES DUKPT) come in under their own keys, which enter the HSM as zone
 * keys under a ZMK. Run against every HSM backend: the PKCS#11 HSM checks the keys like the
 * software HSM, then refuses PIN blocks (HSM_COMMAND_UNSUPPORTED, docs/payment-keys.md).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex, xorBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { decipherPinBlockIso4, encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { wrapKeyBlock } from '../../../shared/crypto/tr31';
import type { GenerateKeyRequest, Hsm, KeyHandle } from '../../../host/hsm/hsm';
import { forEachHsmBackend, type TestHsm, expectCode, rng } from './hsmTestKit';

interface PinBlockVector {
  readonly name: string;
  readonly key: string;
  readonly pan: string;
  readonly pin: string;
  readonly block: string;
}
const vectors: PinBlockVector[] = JSON.parse(readFileSync(new URL('../../vectors/pinblock.json', import.meta.url), 'utf8')).vectors;
const [EP2] = vectors;
const PAN = EP2.pan;
const OTHER_PAN = '5413330089604111';

const key = (usage: GenerateKeyRequest['usage'], modeOfUse: GenerateKeyRequest['modeOfUse']): GenerateKeyRequest => ({ usage, algorithm: 'A', modeOfUse, exportability: 'E', lengthBytes: 16 });
const kcvOf = (bytes: Uint8Array) => toHex(keyCheckValue(bytes, 'cmac'));

forEachHsmBackend((name) => `C: PIN blocks on the ${name} HSM`, (backend) => {
  /** The software HSM translates and verifies; the PKCS#11 HSM refuses once the keys check out. */
  const processesPins = backend.name === 'software';
  const pinCode = (code: string) => (processesPins ? code : 'HSM_COMMAND_UNSUPPORTED');

  let posp: TestHsm;
  let issuer: TestHsm;
  let other: Hsm;
  const zmk = rng(32);
  const handles: Record<string, KeyHandle> = {};
  /** The published vectors' PIN keys, as zone keys in the POSP HSM. */
  const vectorKeys: KeyHandle[] = [];
  let pikKey: Uint8Array;
  let zpkKey: Uint8Array;

  /** A ZMK entered from two components, as at the ceremony. */
  async function enterZmk(hsm: Hsm): Promise<KeyHandle> {
    const first = rng(32);
    const components = [first, xorBytes(zmk, first)].map((value) => ({ value, kcv: kcvOf(value) }));
    return hsm.importKeyComponents({ usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' }, components, kcvOf(zmk));
  }

  beforeAll(async () => {
    [posp, issuer] = await Promise.all([backend.openTestHsm(), backend.openTestHsm()]);
    ({ hsm: other } = await backend.openTestHsm());
    const [pospZmk, issuerZmk] = await Promise.all([enterZmk(posp.hsm), enterZmk(issuer.hsm)]);
    // The POSP's copy of a terminal PIK decrypts what the terminal encrypts (B; the terminal holds it as E).
    handles.pik = await posp.hsm.generateKey(key('P0', 'B'));
    handles.encryptOnlyPik = await posp.hsm.generateKey(key('P0', 'E'));
    handles.decryptOnlyZpk = await posp.hsm.generateKey(key('P0', 'D'));
    handles.mak = await posp.hsm.generateKey(key('M6', 'C'));
    handles.tdk = await posp.hsm.generateKey(key('D0', 'B'));
    const zpk = await posp.hsm.generateZoneKey(pospZmk, key('P0', 'B'));
    const zak = await posp.hsm.generateZoneKey(pospZmk, key('M6', 'C'));
    handles.zpk = zpk.handle;
    handles.zak = zak.handle;
    handles.issuerZpk = await issuer.hsm.importKeyBlock(issuerZmk, zpk.block, 'P0');
    handles.issuerZak = await issuer.hsm.importKeyBlock(issuerZmk, zak.block, 'M6');
    handles.pvk = await issuer.hsm.generateKey(key('V0', 'C'));
    handles.pvkGenerate = await issuer.hsm.generateKey(key('V0', 'G'));
    handles.pvkVerify = await issuer.hsm.generateKey(key('V0', 'V'));
    for (const v of vectors) {
      const block = wrapKeyBlock(zmk, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', keyContext: '2' }, fromHex(v.key), rng);
      vectorKeys.push(await posp.hsm.importKeyBlock(pospZmk, block, 'P0'));
    }
    // The test plays the terminal and the checker of results, so it knows these two keys.
    pikKey = (await posp.open(handles.pik)).key;
    zpkKey = (await posp.open(handles.zpk)).key;
  });

  /** What the terminal sends: the PIN as a format 4 block under its PIK. */
  const fromTerminal = (pin: string, pan = PAN) => encipherPinBlockIso4(pikKey, pin, pan, rng);

  describe('translatePinBlock: terminal PIK to the zone PIN key', () => {
    it.each(vectors.map((v, i) => [v.name, i] as const))('C6: the published block (%s) becomes a block for the same PAN under the ZPK, and translates back byte for byte', async (_name, i) => {
      const v = vectors[i];
      const translation = posp.hsm.translatePinBlock(vectorKeys[i], handles.zpk, fromHex(v.block), v.pan);
      if (!processesPins) return expectCode(translation, 'HSM_COMMAND_UNSUPPORTED');
      const underZpk = await translation;
      expect(decipherPinBlockIso4(zpkKey, underZpk, v.pan)).toBe(v.pin);
      expect(toHex(await posp.hsm.translatePinBlock(handles.zpk, vectorKeys[i], underZpk, v.pan))).toBe(v.block);
    });

    it('C6, C8: a terminal PIN translated by the POSP verifies at the issuer against the card\'s PVV', async () => {
      const enrolment = issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvk, encipherPinBlockIso4(zpkKey, '7294', PAN, rng), PAN);
      if (!processesPins) return expectCode(enrolment, 'HSM_COMMAND_UNSUPPORTED');
      const pvv = await enrolment;
      const underZpk = await posp.hsm.translatePinBlock(handles.pik, handles.zpk, fromTerminal('7294'), PAN);
      await issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, underZpk, PAN, pvv);
      const wrongPin = await posp.hsm.translatePinBlock(handles.pik, handles.zpk, fromTerminal('7295'), PAN);
      await expectCode(issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, wrongPin, PAN, pvv), 'PIN_INCORRECT');
    });

    it('binds the PAN: a block for another card is PIN_BLOCK_INVALID, not translated to it', async () => {
      await expectCode(posp.hsm.translatePinBlock(handles.pik, handles.zpk, fromTerminal('1234'), OTHER_PAN), pinCode('PIN_BLOCK_INVALID'));
    });

    it('refuses a tampered block, a block under another key and a block that is not 16 bytes', async () => {
      const tampered = fromHex(EP2.block);
      tampered[15] ^= 0x01;
      await expectCode(posp.hsm.translatePinBlock(vectorKeys[0], handles.zpk, tampered, PAN), pinCode('PIN_BLOCK_INVALID'));
      await expectCode(posp.hsm.translatePinBlock(handles.pik, handles.zpk, fromHex(EP2.block), PAN), pinCode('PIN_BLOCK_INVALID'));
      await expectCode(posp.hsm.translatePinBlock(handles.pik, handles.zpk, fromTerminal('1234').subarray(0, 15), PAN), pinCode('BAD_LENGTH'));
      await expectCode(posp.hsm.translatePinBlock(handles.pik, handles.zpk, 'CC17F65586BFD095' as never, PAN), 'BAD_ARGUMENT');
      await expectCode(posp.hsm.translatePinBlock(handles.pik, handles.zpk, fromTerminal('1234'), '4321-9876'), pinCode('PAN_INVALID'));
    });

    it.each([
      ['a MAC key as the source', 'mak', 'zpk'],
      ['the ZAK as the source', 'zak', 'zpk'],
      ['a data key as the source', 'tdk', 'zpk'],
      ['an encrypt-only PIN key (mode E) as the source', 'encryptOnlyPik', 'zpk'],
      ['a MAC key as the destination', 'pik', 'mak'],
      ['the ZAK as the destination', 'pik', 'zak'],
      ['a decrypt-only PIN key (mode D) as the destination', 'pik', 'decryptOnlyZpk'],
    ])('refuses %s (TR31_USAGE_NOT_ALLOWED)', async (_name, source, destination) => {
      await expectCode(posp.hsm.translatePinBlock(handles[source], handles[destination], fromTerminal('1234'), PAN), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('refuses keys made under another LMK (TR31_MAC_MISMATCH)', async () => {
      const foreign = await other.generateKey(key('P0', 'B'));
      await expectCode(posp.hsm.translatePinBlock(foreign, handles.zpk, fromTerminal('1234'), PAN), 'TR31_MAC_MISMATCH');
      await expectCode(posp.hsm.translatePinBlock(handles.pik, foreign, fromTerminal('1234'), PAN), 'TR31_MAC_MISMATCH');
    });
  });

  describe('issuer PIN verification against a PIN verification value', () => {
    /** A PIN block as it reaches the issuer: under the acquirer link's ZPK. */
    const atIssuer = (pin: string, pan = PAN) => encipherPinBlockIso4(zpkKey, pin, pan, rng);
    let pvv: Uint8Array = new Uint8Array(16);

    beforeAll(async () => {
      if (processesPins) pvv = await issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvk, atIssuer('0415'), PAN);
    });

    it.skipIf(!processesPins)('C8 (an HSM that processes PINs): the PVV is the same for every block of the same PIN and card, and differs for another PIN or card', async () => {
      expect(pvv.length).toBe(16);
      const again = await issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvk, atIssuer('0415'), PAN);
      expect(toHex(again)).toBe(toHex(pvv));
      expect(toHex(await issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvk, atIssuer('0416'), PAN))).not.toBe(toHex(pvv));
      expect(toHex(await issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvk, atIssuer('0415', OTHER_PAN), OTHER_PAN))).not.toBe(toHex(pvv));
      // Another PVK, another value: the PVV is worth nothing without its key.
      expect(toHex(await issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvkGenerate, atIssuer('0415'), PAN))).not.toBe(toHex(pvv));
    });

    it('C8: the right PIN verifies; a wrong PIN is PIN_INCORRECT', async () => {
      const verified = issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, atIssuer('0415'), PAN, pvv);
      if (!processesPins) return expectCode(verified, 'HSM_COMMAND_UNSUPPORTED');
      await verified;
      for (const pin of ['0416', '04150', '1234', '5140']) {
        await expectCode(issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, atIssuer(pin), PAN, pvv), 'PIN_INCORRECT');
      }
    });

    it('a PVV copied from another card is PIN_INCORRECT; a block for another PAN, tampered or under another key is PIN_BLOCK_INVALID', async () => {
      const card2 = processesPins ? await issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvk, atIssuer('0415', OTHER_PAN), OTHER_PAN) : pvv;
      await expectCode(issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, atIssuer('0415'), PAN, card2), pinCode('PIN_INCORRECT'));
      await expectCode(issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, atIssuer('0415', OTHER_PAN), PAN, pvv), pinCode('PIN_BLOCK_INVALID'));
      const tampered = atIssuer('0415');
      tampered[0] ^= 0x80;
      await expectCode(issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, tampered, PAN, pvv), pinCode('PIN_BLOCK_INVALID'));
      await expectCode(issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, fromHex(EP2.block), PAN, pvv), pinCode('PIN_BLOCK_INVALID'));
    });

    it.each([
      ['the ZAK as the PIN key', 'issuerZak', 'pvk'],
      ['the PVK as the PIN key', 'pvk', 'pvk'],
      ['the ZPK as the PVK', 'issuerZpk', 'issuerZpk'],
      ['the ZAK as the PVK', 'issuerZpk', 'issuerZak'],
      ['a generate-only PVK (mode G)', 'issuerZpk', 'pvkGenerate'],
    ])('verifyPin refuses %s (TR31_USAGE_NOT_ALLOWED)', async (_name, pinKey, pvk) => {
      await expectCode(issuer.hsm.verifyPin(handles[pinKey], handles[pvk], atIssuer('0415'), PAN, pvv), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('pinVerificationValue refuses a verify-only PVK (mode V) and a MAC key as the PVK (TR31_USAGE_NOT_ALLOWED)', async () => {
      await expectCode(issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.pvkVerify, atIssuer('0415'), PAN), 'TR31_USAGE_NOT_ALLOWED');
      await expectCode(issuer.hsm.pinVerificationValue(handles.issuerZpk, handles.issuerZak, atIssuer('0415'), PAN), 'TR31_USAGE_NOT_ALLOWED');
    });

    it('refuses a PVV that is not 16 bytes (BAD_LENGTH) and keys from another LMK (TR31_MAC_MISMATCH)', async () => {
      await expectCode(issuer.hsm.verifyPin(handles.issuerZpk, handles.pvk, atIssuer('0415'), PAN, pvv.subarray(0, 8)), 'BAD_LENGTH');
      await expectCode(issuer.hsm.verifyPin(handles.zpk, handles.pvk, atIssuer('0415'), PAN, pvv), 'TR31_MAC_MISMATCH');
      await expectCode(issuer.hsm.pinVerificationValue(handles.issuerZpk, await other.generateKey(key('V0', 'C')), atIssuer('0415'), PAN), 'TR31_MAC_MISMATCH');
    });
  });
});
