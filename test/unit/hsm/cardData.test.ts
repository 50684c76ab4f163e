/**
 * decipherCardData (host/hsm; SPEC C6, X1): card data a terminal enciphered under its TDK comes out
 * of the HSM that holds the TDK handle, on both backends; only a data key that may decrypt opens it.
 */
import { beforeAll, expect, it } from 'vitest';
import { asciiToBytes, bytesToAscii } from '../../../shared/bytes';
import { encipherCardData } from '../../../shared/crypto/cardData';
import type { GenerateKeyRequest, KeyHandle } from '../../../host/hsm/hsm';
import { expectCode, forEachHsmBackend, rng, type TestHsm } from './hsmTestKit';

const TRACK = '6222021000000000017=30121011234';
const key = (usage: GenerateKeyRequest['usage'], modeOfUse: GenerateKeyRequest['modeOfUse']): GenerateKeyRequest => ({ usage, algorithm: 'A', modeOfUse, exportability: 'E', lengthBytes: 16 });

forEachHsmBackend((name) => `C6: card data under TDK, deciphered in the ${name} HSM`, (backend) => {
  let posp: TestHsm;
  let tdk: KeyHandle;
  let card: Uint8Array;
  beforeAll(async () => {
    posp = await backend.openTestHsm();
    tdk = await posp.hsm.generateKey(key('D0', 'B'));
    card = encipherCardData((await posp.open(tdk)).key, asciiToBytes(TRACK), rng);
  });

  it('C6: the TDK (D0, mode B or D) gives back the track the terminal enciphered', async () => {
    expect(bytesToAscii(await posp.hsm.decipherCardData(tdk, card))).toBe(TRACK);
    const decryptOnly = await posp.hsm.generateKey(key('D0', 'D'));
    const other = encipherCardData((await posp.open(decryptOnly)).key, asciiToBytes(TRACK), rng);
    expect(bytesToAscii(await posp.hsm.decipherCardData(decryptOnly, other))).toBe(TRACK);
  });

  it('refuses an encrypt-only TDK, a MAC key and a PIN key (TR31_USAGE_NOT_ALLOWED)', async () => {
    await expectCode(posp.hsm.decipherCardData(await posp.hsm.generateKey(key('D0', 'E')), card), 'TR31_USAGE_NOT_ALLOWED');
    await expectCode(posp.hsm.decipherCardData(await posp.hsm.generateKey(key('M6', 'C')), card), 'TR31_USAGE_NOT_ALLOWED');
    await expectCode(posp.hsm.decipherCardData(await posp.hsm.generateKey(key('P0', 'B')), card), 'TR31_USAGE_NOT_ALLOWED');
  });

  it('refuses truncated, oversized and wrong-key data (CARD_DATA_INVALID) and non-bytes (BAD_ARGUMENT)', async () => {
    await expectCode(posp.hsm.decipherCardData(tdk, card.subarray(0, 16)), 'CARD_DATA_INVALID');
    await expectCode(posp.hsm.decipherCardData(tdk, card.subarray(1)), 'CARD_DATA_INVALID');
    await expectCode(posp.hsm.decipherCardData(tdk, new Uint8Array(16 * 7)), 'CARD_DATA_INVALID');
    const otherTdk = await posp.hsm.generateKey(key('D0', 'B'));
    // Another key deciphers to noise whose padding is not method 2 (a 1-in-256 chance otherwise: two tries).
    const tries = await Promise.allSettled([card, encipherCardData((await posp.open(tdk)).key, asciiToBytes(TRACK), rng)].map((c) => posp.hsm.decipherCardData(otherTdk, c)));
    expect(tries.some((t) => t.status === 'rejected' && (t.reason as { code?: string }).code === 'CARD_DATA_INVALID')).toBe(true);
    await expectCode(posp.hsm.decipherCardData(tdk, 'card' as unknown as Uint8Array), 'BAD_ARGUMENT');
  });
});
