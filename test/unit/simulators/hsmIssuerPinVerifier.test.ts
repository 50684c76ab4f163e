/**
 * The simulated banks on the host's HSM (host/simulators/hsmIssuerPinVerifier.ts): the whole PIN
 * path of docs/payment-keys.md with two software HSMs, the POSP's and the issuer's. A ZMK from
 * components at a key ceremony, a ZPK made by the POSP and imported by the issuer under it, a PIN
 * enciphered under the terminal's PIK and translated to the ZPK, and the issuer's verdict.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex, xorBytes } from '../../../shared/bytes';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import type { KeyHandle } from '../../../host/hsm/hsm';
import { BankSimulator } from '../../../host/simulators/bankSimulator';
import { hsmIssuerPinVerifier } from '../../../host/simulators/hsmIssuerPinVerifier';
import { TEST_CARDS, TEST_NETWORK, TEST_PIN } from '../../../host/simulators/testCards';
import { openTestHsm, rng, type TestHsm } from '../hsm/hsmTestKit';

let posp: TestHsm;
let pik: KeyHandle;
let pospZpk: KeyHandle;
let provider: BankSimulator;
let stan = 0;

beforeAll(async () => {
  posp = await openTestHsm();
  const issuer = await openTestHsm();

  // Key ceremony: the same ZMK in both HSMs, from two components.
  const zmkKey = rng(32);
  const first = rng(32);
  const components = [first, xorBytes(zmkKey, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) }));
  const zmkAttributes = { usage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' } as const;
  const pospZmk = await posp.hsm.importKeyComponents(zmkAttributes, components, toHex(keyCheckValue(zmkKey)));
  const issuerZmk = await issuer.hsm.importKeyComponents(zmkAttributes, components, toHex(keyCheckValue(zmkKey)));

  // Key exchange: the POSP makes the ZPK, the issuer imports it under the ZMK.
  const zpk = await posp.hsm.generateZoneKey(pospZmk, { usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });
  pospZpk = zpk.handle;
  const issuerZpk = await issuer.hsm.importKeyBlock(issuerZmk, zpk.block, 'P0');
  expect(issuerZpk.kcv).toBe(zpk.handle.kcv);
  const pvk = await issuer.hsm.generateKey({ usage: 'V0', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 });
  pik = await posp.hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'E', lengthBytes: 16 });

  // The fixture's PINs are set under the ZPK at card issue; only a test oracle can give its bytes.
  const zonePinKey = (await posp.open(zpk.handle)).key;
  provider = await BankSimulator.create(TEST_NETWORK, {
    zonePinKey,
    rng,
    now: () => new Date('2026-12-06T10:00:00Z'),
    pinVerifierFor: () => hsmIssuerPinVerifier(issuer.hsm, { zonePinKey: issuerZpk, pinVerificationKey: pvk }),
  });
});

/** What the terminal sends (format 4 under its PIK) translated by the POSP's HSM to the ZPK. */
async function pinBlockFromTerminal(pan: string, pin: string): Promise<Uint8Array> {
  const clearPik = (await posp.open(pik)).key; // the terminal's copy of the PIK
  return posp.hsm.translatePinBlock(pik, pospZpk, encipherPinBlockIso4(clearPik, pin, pan, rng), pan);
}

async function pay(pan: string, pin: string): Promise<string> {
  const reference = `HSM${String(++stan).padStart(9, '0')}`;
  return (await provider.authorise({ reference, pan, amount: 100, currency: 'CNY', pinBlock: await pinBlockFromTerminal(pan, pin) })).responseCode;
}

describe('C6/C8 on the host HSM: terminal PIN -> POSP translation -> issuer verification', () => {
  it('C8: the right PIN, translated from the terminal\'s PIK to the ZPK, is approved', async () => {
    expect(await pay(TEST_CARDS.unionPay.pan, TEST_PIN)).toBe('00');
    expect(provider.balanceOf(TEST_CARDS.unionPay.pan)?.balance).toBe(999_900);
  });

  it('C8: a wrong PIN is 55, and the third wrong one in a row 75, exactly as on the simulated HSM', async () => {
    const pan = TEST_CARDS.visa.pan;
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push(await pay(pan, '9876'));
    expect(codes).toEqual(['55', '55', '75']);
    expect(await pay(pan, TEST_PIN)).toBe('75');
  });

  it('C8: a PIN block the POSP did not translate (still under the PIK) is a wrong PIN to the issuer', async () => {
    const pan = TEST_CARDS.masterCard.pan;
    const clearPik = (await posp.open(pik)).key;
    const untranslated = encipherPinBlockIso4(clearPik, TEST_PIN, pan, rng);
    expect((await provider.authorise({ reference: 'HSMUNTRANS01', pan, amount: 100, currency: 'CNY', pinBlock: untranslated })).responseCode).toBe('55');
  });
});
