import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../shared/bytes';
import { aesCmac, verifyAesCmac } from '../../../shared/crypto/cmac';
import { keyCheckValue, type KcvMethod } from '../../../shared/crypto/kcv';
import cmacVectors from '../../vectors/cmac.json';
import kcvVectors from '../../vectors/kcv.json';

describe('AES-CMAC (issue 2: RFC 4493, SP 800-38B)', () => {
  it.each(cmacVectors.vectors)('$name', ({ key, message, mac }) => {
    expect(toHex(aesCmac(fromHex(key), fromHex(message)))).toBe(mac.toUpperCase());
  });

  it('verifies a full and a truncated MAC, and refuses a one-bit change with MAC_MISMATCH', () => {
    const { key, message, mac } = cmacVectors.vectors[3];
    const k = fromHex(key), m = fromHex(message), t = fromHex(mac);
    expect(() => verifyAesCmac(k, m, t)).not.toThrow();
    expect(() => verifyAesCmac(k, m, t.slice(0, 8))).not.toThrow();
    for (let bit = 0; bit < t.length * 8; bit++) {
      const bad = t.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(() => verifyAesCmac(k, m, bad)).toThrow(expect.objectContaining({ code: 'MAC_MISMATCH' }));
    }
  });

  it('refuses keys of the wrong length and MACs shorter than 8 bytes with typed errors', () => {
    expect(() => aesCmac(new Uint8Array(15), new Uint8Array())).toThrow(expect.objectContaining({ code: 'KEY_LENGTH' }));
    expect(() => verifyAesCmac(new Uint8Array(16), new Uint8Array(), new Uint8Array(7))).toThrow(expect.objectContaining({ code: 'BAD_LENGTH' }));
  });
});

describe('key check values (issue 2: X9.24-1 CMAC KCV and legacy AES KCV)', () => {
  it.each(kcvVectors.vectors)('$name', ({ key, method, kcv }) => {
    expect(toHex(keyCheckValue(fromHex(key), method as KcvMethod))).toBe(kcv);
  });

  it('the CMAC KCV is the first five bytes of CMAC(K, 0^16) (RFC 4493 key)', () => {
    const key = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
    expect(keyCheckValue(key)).toEqual(aesCmac(key, new Uint8Array(16)).slice(0, 5));
  });
});
