/**
 * Card data under TDK (shared/crypto/cardData.ts; SPEC C6, X1): IV || AES-CBC with ISO/IEC 9797-1
 * padding method 2, checked against NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt, first block) and
 * by round trips at every length; every malformed input is CARD_DATA_INVALID.
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex, toHex } from '../../../shared/bytes';
import { aesCbcEncrypt } from '../../../shared/crypto/aes';
import { CARD_DATA_MAX_BYTES, decipherCardData, encipherCardData } from '../../../shared/crypto/cardData';
import { isPaypadError } from '../../../shared/errors';
import { rng } from '../hsm/hsmTestKit';

// NIST SP 800-38A F.2.1: key, IV and the first plaintext / ciphertext block.
const KEY = fromHex('2B7E151628AED2A6ABF7158809CF4F3C');
const IV = fromHex('000102030405060708090A0B0C0D0E0F');
const P1 = fromHex('6BC1BEE22E409F96E93D7E117393172A');
const C1 = '7649ABAC8119B246CEE98E9B12E9197D';

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return isPaypadError(e) ? e.code : 'not a PaypadError';
  }
  return undefined;
};

describe('C6/X1: card data enciphered under TDK', () => {
  it('C6: CBC as SP 800-38A F.2.1 with the fixed IV; padding is one more block of 80 00 .. 00 for whole-block data', () => {
    const out = encipherCardData(KEY, P1, () => IV.slice());
    expect(toHex(out.subarray(0, 16))).toBe(toHex(IV));
    expect(toHex(out.subarray(16, 32))).toBe(C1);
    const pad = new Uint8Array(16);
    pad[0] = 0x80;
    expect(toHex(out.subarray(32))).toBe(toHex(aesCbcEncrypt(KEY, out.subarray(16, 32), pad)));
    expect(toHex(decipherCardData(KEY, out))).toBe(toHex(P1));
  });

  it('C6: every length from 1 to the limit round-trips, with a fresh IV each time', () => {
    for (let n = 1; n <= CARD_DATA_MAX_BYTES; n++) {
      const data = rng(n);
      const a = encipherCardData(KEY, data, rng);
      const b = encipherCardData(KEY, data, rng);
      expect(a.length).toBe(16 + (Math.floor(n / 16) + 1) * 16);
      expect(toHex(a)).not.toBe(toHex(b));
      expect(toHex(decipherCardData(KEY, a))).toBe(toHex(data));
    }
  });

  it('X1: track 2 does not appear in the enciphered form', () => {
    const track = asciiToBytes('6222021000000000017=30121011234');
    expect(toHex(encipherCardData(KEY, track, rng))).not.toContain(toHex(track.subarray(0, 8)));
  });

  it('refuses empty, oversized and non-byte data, and malformed, truncated or wrong-key ciphertext (CARD_DATA_INVALID)', () => {
    expect(code(() => encipherCardData(KEY, new Uint8Array(0), rng))).toBe('CARD_DATA_INVALID');
    expect(code(() => encipherCardData(KEY, new Uint8Array(CARD_DATA_MAX_BYTES + 1), rng))).toBe('CARD_DATA_INVALID');
    expect(code(() => encipherCardData(KEY, 'track' as unknown as Uint8Array, rng))).toBe('CARD_DATA_INVALID');
    const good = encipherCardData(KEY, asciiToBytes('6222021000000000017=3012101'), rng);
    expect(code(() => decipherCardData(KEY, good.subarray(0, 16)))).toBe('CARD_DATA_INVALID');
    expect(code(() => decipherCardData(KEY, good.subarray(0, good.length - 1)))).toBe('CARD_DATA_INVALID');
    expect(code(() => decipherCardData(KEY, new Uint8Array(16 * 7)))).toBe('CARD_DATA_INVALID');
    // Another key: the padding is not there (with overwhelming probability; fixed keys keep it deterministic).
    expect(code(() => decipherCardData(fromHex('000102030405060708090A0B0C0D0E0F'), good))).toBe('CARD_DATA_INVALID');
  });
});
