import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../shared/bytes';
import { aesCbcDecrypt, aesCbcEncrypt, aesEcbDecrypt, aesEcbEncrypt } from '../../../shared/crypto/aes';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
};

describe('AES building blocks (issue 2)', () => {
  it('FIPS 197 appendix C.1 (AES-128) and C.3 (AES-256) single blocks, both directions', () => {
    const pt = fromHex('00112233445566778899aabbccddeeff');
    const k128 = fromHex('000102030405060708090a0b0c0d0e0f');
    const k256 = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    expect(toHex(aesEcbEncrypt(k128, pt))).toBe('69C4E0D86A7B0430D8CDB78070B4C55A');
    expect(toHex(aesEcbEncrypt(k256, pt))).toBe('8EA2B7CA516745BFEAFC49904B496089');
    expect(toHex(aesEcbDecrypt(k128, fromHex('69C4E0D86A7B0430D8CDB78070B4C55A')))).toBe(toHex(pt));
    expect(aesEcbDecrypt(k256, aesEcbEncrypt(k256, pt))).toEqual(pt);
  });

  it('CBC round trip, and typed errors for a bad IV, key or length', () => {
    const key = new Uint8Array(16).fill(7), iv = new Uint8Array(16).fill(1), data = new Uint8Array(32).fill(9);
    expect(aesCbcDecrypt(key, iv, aesCbcEncrypt(key, iv, data))).toEqual(data);
    expect(code(() => aesCbcEncrypt(key, new Uint8Array(15), data))).toBe('BAD_LENGTH');
    expect(code(() => aesCbcDecrypt(key, new Uint8Array(17), data))).toBe('BAD_LENGTH');
    expect(code(() => aesCbcEncrypt(new Uint8Array(20), iv, data))).toBe('KEY_LENGTH');
    expect(code(() => aesEcbEncrypt(key, new Uint8Array(15)))).toBe('BAD_LENGTH');
  });
});
