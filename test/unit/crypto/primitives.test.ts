/**
 * The compact crypto primitives (shared/crypto/primitives, used in Node and in the XS engine)
 * against published vectors and against independent implementations: node:crypto (OpenSSL) for
 * AES and SHA-256, @noble/curves and node:crypto ECDH for P-256.
 */
import { createCipheriv, createDecipheriv, createECDH, createHash, randomBytes } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../shared/bytes';
import { decodeP256Point, isValidP256PrivateKey, P256_N, bigIntToBytes, p256PrivateKeyFromSeed } from '../../../shared/crypto/p256';
import * as primitives from '../../../shared/crypto/primitives';

const ROUNDS = 200;

function openssl(mode: 'ecb' | 'cbc', key: Uint8Array, iv: Uint8Array | null, data: Uint8Array, decrypt: boolean): Uint8Array {
  const name = `aes-${key.length * 8}-${mode}`;
  const cipher = decrypt ? createDecipheriv(name, key, iv) : createCipheriv(name, key, iv);
  cipher.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
}

describe('X3 compact primitives: AES (FIPS 197, SP 800-38A)', () => {
  it('FIPS 197 appendix C.2 (AES-192) and SP 800-38A F.2.1 CBC-AES128 encrypt', () => {
    const pt = fromHex('00112233445566778899aabbccddeeff');
    const k192 = fromHex('000102030405060708090a0b0c0d0e0f1011121314151617');
    expect(toHex(primitives.aesEncryptEcb(k192, pt))).toBe('DDA97CA4864CDFE06EAF70A0EC0D7191');
    expect(toHex(primitives.aesDecryptEcb(k192, fromHex('DDA97CA4864CDFE06EAF70A0EC0D7191')))).toBe(toHex(pt));
    const key = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
    const iv = fromHex('000102030405060708090a0b0c0d0e0f');
    const plain = fromHex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51');
    const cipher = '7649ABAC8119B246CEE98E9B12E9197D5086CB9B507219EE95DB113A917678B2';
    expect(toHex(primitives.aesEncryptCbc(key, iv, plain))).toBe(cipher);
    expect(toHex(primitives.aesDecryptCbc(key, iv, fromHex(cipher)))).toBe(toHex(plain));
  });

  it(`${ROUNDS} random keys (128/192/256), IVs and lengths give OpenSSL's bytes, ECB and CBC, both ways`, () => {
    for (let i = 0; i < ROUNDS; i++) {
      const key = new Uint8Array(randomBytes([16, 24, 32][i % 3]));
      const iv = new Uint8Array(randomBytes(16));
      const data = new Uint8Array(randomBytes(16 * (1 + (i % 5))));
      expect(primitives.aesEncryptEcb(key, data)).toEqual(openssl('ecb', key, null, data, false));
      expect(primitives.aesDecryptEcb(key, data)).toEqual(openssl('ecb', key, null, data, true));
      expect(primitives.aesEncryptCbc(key, iv, data)).toEqual(openssl('cbc', key, iv, data, false));
      expect(primitives.aesDecryptCbc(key, iv, data)).toEqual(openssl('cbc', key, iv, data, true));
    }
  });

  it('leaves its inputs untouched', () => {
    const key = new Uint8Array(16).fill(1), iv = new Uint8Array(16).fill(2), data = new Uint8Array(32).fill(3);
    primitives.aesEncryptCbc(key, iv, data);
    primitives.aesDecryptCbc(key, iv, data);
    expect([key, iv, data].map((b) => b.every((x) => x === b[0]))).toEqual([true, true, true]);
  });
});

describe('X3 compact primitives: SHA-256 (FIPS 180-4)', () => {
  it('FIPS 180-4 examples: "abc" and the 448-bit two-block message', () => {
    const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
    expect(toHex(primitives.sha256(ascii('abc')))).toBe('BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD');
    expect(toHex(primitives.sha256(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248D6A61D20638B8E5C026930C3E6039A33CE45964FF2167F6ECEDD419DB06C1',
    );
  });

  it('every length from 0 to 200 bytes (all padding cases) and a 100 KB message agree with OpenSSL', () => {
    for (let n = 0; n <= 200; n++) {
      const data = new Uint8Array(randomBytes(n));
      expect(toHex(primitives.sha256(data))).toBe(createHash('sha256').update(data).digest('hex').toUpperCase());
    }
    const big = new Uint8Array(randomBytes(100_000));
    expect(toHex(primitives.sha256(big))).toBe(createHash('sha256').update(big).digest('hex').toUpperCase());
  });
});

describe('X3 compact primitives: P-256 (FIPS 186-5, SP 800-56A r3 §5.7.1.2)', () => {
  it('public keys and ECDH shared secrets agree with @noble/curves and OpenSSL for random keys', () => {
    for (let i = 0; i < 20; i++) {
      const a = p256PrivateKeyFromSeed(new Uint8Array(randomBytes(48)));
      const b = p256PrivateKeyFromSeed(new Uint8Array(randomBytes(48)));
      const publicA = primitives.p256PublicKey(a);
      expect(publicA).toEqual(p256.getPublicKey(a, false));
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(b);
      expect(toHex(ecdh.getPublicKey())).toBe(toHex(primitives.p256PublicKey(b)));
      const z = primitives.p256SharedSecretX(b, publicA);
      expect(toHex(z)).toBe(toHex(ecdh.computeSecret(publicA)));
      expect(z).toEqual(primitives.p256SharedSecretX(a, primitives.p256PublicKey(b)));
    }
  });

  it('edge scalars 1, 2 and n-1 give G, 2G and -G', () => {
    const one = primitives.p256PublicKey(bigIntToBytes(1n, 32));
    expect(one).toEqual(p256.getPublicKey(bigIntToBytes(1n, 32), false));
    expect(primitives.p256PublicKey(bigIntToBytes(2n, 32))).toEqual(p256.getPublicKey(bigIntToBytes(2n, 32), false));
    const minusOne = primitives.p256PublicKey(bigIntToBytes(P256_N - 1n, 32));
    expect(minusOne.subarray(0, 33)).toEqual(one.subarray(0, 33));
    expect(minusOne.subarray(33)).not.toEqual(one.subarray(33));
  });

  it('point and scalar validation: off-curve, out-of-range and badly encoded keys are refused', () => {
    const good = primitives.p256PublicKey(p256PrivateKeyFromSeed(new Uint8Array(randomBytes(48))));
    expect(decodeP256Point(good)).not.toBeNull();
    const offCurve = good.slice();
    offCurve[64] ^= 1;
    expect(decodeP256Point(offCurve)).toBeNull();
    const compressed = good.slice();
    compressed[0] = 0x02;
    expect(decodeP256Point(compressed)).toBeNull();
    expect(decodeP256Point(good.subarray(0, 64))).toBeNull();
    const tooBig = new Uint8Array(65).fill(0xff);
    tooBig[0] = 4;
    expect(decodeP256Point(tooBig)).toBeNull();
    expect(isValidP256PrivateKey(new Uint8Array(32))).toBe(false);
    expect(isValidP256PrivateKey(bigIntToBytes(P256_N, 32))).toBe(false);
    expect(isValidP256PrivateKey(bigIntToBytes(P256_N - 1n, 32))).toBe(true);
    expect(isValidP256PrivateKey(new Uint8Array(31).fill(1))).toBe(false);
  });
});
