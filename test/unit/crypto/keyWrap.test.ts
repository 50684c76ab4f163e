import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { aesKeyUnwrap, aesKeyUnwrapPadded, aesKeyWrap, aesKeyWrapPadded } from '../../../shared/crypto/keyWrap';

interface WrapVector {
  name: string;
  kek: string;
  keyData: string;
  wrapped: string;
}
const file = JSON.parse(readFileSync(new URL('../../vectors/keyWrap.json', import.meta.url), 'utf8'));
const kwVectors: WrapVector[] = file.kw.vectors;
const kwpVectors: WrapVector[] = file.kwp.vectors;

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isPaypadError(e), `expected a PaypadError, got ${String(e)}`).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

function flipEveryBit(bytes: Uint8Array, check: (tampered: Uint8Array) => void): void {
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const tampered = bytes.slice();
    tampered[bit >> 3] ^= 0x80 >> (bit & 7);
    check(tampered);
  }
}

/** OpenSSL's RFC 3394 / RFC 5649 ciphers through node:crypto, as an independent implementation. */
function nodeWrap(kek: Uint8Array, data: Uint8Array, padded: boolean, decrypt = false): Uint8Array {
  const name = `id-aes${kek.length * 8}-wrap${padded ? '-pad' : ''}`;
  const iv = Buffer.from(padded ? 'A65959A6' : 'A6A6A6A6A6A6A6A6', 'hex');
  const c = decrypt ? createDecipheriv(name, kek, iv) : createCipheriv(name, kek, iv);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

describe('AES key wrap, RFC 3394', () => {
  for (const v of kwVectors) {
    it(`RFC 3394 §${v.name}`, () => {
      expect(toHex(aesKeyWrap(fromHex(v.kek), fromHex(v.keyData)))).toBe(v.wrapped);
      expect(toHex(aesKeyUnwrap(fromHex(v.kek), fromHex(v.wrapped)))).toBe(v.keyData);
    });
  }

  it('has all six RFC 3394 §4 vectors in the vector file', () => {
    expect(kwVectors.map((v) => v.name.slice(0, 3))).toEqual(['4.1', '4.2', '4.3', '4.4', '4.5', '4.6']);
  });

  it('fails with KEY_UNWRAP_FAILED for every single-bit change of the wrapped key', () => {
    const v = kwVectors[0];
    flipEveryBit(fromHex(v.wrapped), (tampered) => expectCode(() => aesKeyUnwrap(fromHex(v.kek), tampered), 'KEY_UNWRAP_FAILED'));
  });

  it('fails with KEY_UNWRAP_FAILED under the wrong KEK', () => {
    const v = kwVectors[0];
    expectCode(() => aesKeyUnwrap(fromHex('000102030405060708090A0B0C0D0E0E'), fromHex(v.wrapped)), 'KEY_UNWRAP_FAILED');
  });

  it('agrees with OpenSSL (node:crypto id-aesNNN-wrap) for every KEK size and key lengths 16..64', () => {
    for (const kekLength of [16, 24, 32]) {
      const kek = new Uint8Array(randomBytes(kekLength));
      for (let length = 16; length <= 64; length += 8) {
        const data = new Uint8Array(randomBytes(length));
        const wrapped = aesKeyWrap(kek, data);
        expect(toHex(wrapped)).toBe(toHex(nodeWrap(kek, data, false)));
        expect(toHex(aesKeyUnwrap(kek, wrapped))).toBe(toHex(data));
      }
    }
  });

  it('leaves the caller\'s wrapped bytes untouched', () => {
    const v = kwVectors[5];
    const wrapped = fromHex(v.wrapped);
    aesKeyUnwrap(fromHex(v.kek), wrapped);
    expect(toHex(wrapped)).toBe(v.wrapped);
  });

  it('rejects key data that is not n >= 2 semiblocks, and wrapped data that is not n >= 3, with BAD_LENGTH', () => {
    const kek = new Uint8Array(16);
    for (const length of [0, 8, 15, 17, 23]) expectCode(() => aesKeyWrap(kek, new Uint8Array(length)), 'BAD_LENGTH');
    for (const length of [0, 8, 16, 23, 25]) expectCode(() => aesKeyUnwrap(kek, new Uint8Array(length)), 'BAD_LENGTH');
  });
});

describe('AES key wrap with padding, RFC 5649', () => {
  for (const v of kwpVectors) {
    it(`RFC 5649 §${v.name}`, () => {
      expect(toHex(aesKeyWrapPadded(fromHex(v.kek), fromHex(v.keyData)))).toBe(v.wrapped);
      expect(toHex(aesKeyUnwrapPadded(fromHex(v.kek), fromHex(v.wrapped)))).toBe(v.keyData);
    });
  }

  it('fails with KEY_UNWRAP_FAILED for every single-bit change, in the multi-block and the single-block case', () => {
    for (const v of kwpVectors) {
      flipEveryBit(fromHex(v.wrapped), (tampered) => expectCode(() => aesKeyUnwrapPadded(fromHex(v.kek), tampered), 'KEY_UNWRAP_FAILED'));
    }
  });

  it('fails with KEY_UNWRAP_FAILED when the wrap is truncated or extended by whole semiblocks', () => {
    const v = kwpVectors[0];
    const wrapped = fromHex(v.wrapped);
    expectCode(() => aesKeyUnwrapPadded(fromHex(v.kek), wrapped.subarray(0, 24)), 'KEY_UNWRAP_FAILED');
    expectCode(() => aesKeyUnwrapPadded(fromHex(v.kek), new Uint8Array([...wrapped, 0, 0, 0, 0, 0, 0, 0, 0])), 'KEY_UNWRAP_FAILED');
  });

  it('keeps KW and KWP apart: neither unwraps the other\'s output (different integrity values)', () => {
    const kek = new Uint8Array(randomBytes(16));
    const key = new Uint8Array(randomBytes(16));
    expectCode(() => aesKeyUnwrapPadded(kek, aesKeyWrap(kek, key)), 'KEY_UNWRAP_FAILED');
    expectCode(() => aesKeyUnwrap(kek, aesKeyWrapPadded(kek, key)), 'KEY_UNWRAP_FAILED');
  });

  it('agrees with OpenSSL (node:crypto id-aesNNN-wrap-pad) for every KEK size and key lengths 1..64', () => {
    for (const kekLength of [16, 24, 32]) {
      const kek = new Uint8Array(randomBytes(kekLength));
      for (let length = 1; length <= 64; length++) {
        const data = new Uint8Array(randomBytes(length));
        const wrapped = aesKeyWrapPadded(kek, data);
        expect(wrapped.length).toBe(8 + Math.ceil(length / 8) * 8);
        expect(toHex(wrapped)).toBe(toHex(nodeWrap(kek, data, true)));
        expect(toHex(aesKeyUnwrapPadded(kek, wrapped))).toBe(toHex(data));
        expect(toHex(nodeWrap(kek, wrapped, true, true))).toBe(toHex(data));
      }
    }
  });

  it('rejects empty key data, and wrapped data that is not n >= 2 semiblocks, with BAD_LENGTH', () => {
    const kek = new Uint8Array(16);
    expectCode(() => aesKeyWrapPadded(kek, new Uint8Array(0)), 'BAD_LENGTH');
    for (const length of [0, 8, 15, 17, 31]) expectCode(() => aesKeyUnwrapPadded(kek, new Uint8Array(length)), 'BAD_LENGTH');
  });
});

describe('key wrap input checks', () => {
  it('rejects KEKs that are not AES keys with KEY_LENGTH', () => {
    for (const length of [0, 8, 15, 20, 33]) {
      const kek = new Uint8Array(length);
      expectCode(() => aesKeyWrap(kek, new Uint8Array(16)), 'KEY_LENGTH');
      expectCode(() => aesKeyUnwrap(kek, new Uint8Array(24)), 'KEY_LENGTH');
      expectCode(() => aesKeyWrapPadded(kek, new Uint8Array(16)), 'KEY_LENGTH');
      expectCode(() => aesKeyUnwrapPadded(kek, new Uint8Array(24)), 'KEY_LENGTH');
    }
  });

  it('rejects non-byte key data with BAD_ARGUMENT', () => {
    const kek = new Uint8Array(16);
    const notBytes = 'A6A6A6A6A6A6A6A6A6A6A6A6A6A6A6A6' as unknown as Uint8Array;
    expectCode(() => aesKeyWrap(kek, notBytes), 'BAD_ARGUMENT');
    expectCode(() => aesKeyUnwrap(kek, notBytes), 'BAD_ARGUMENT');
    expectCode(() => aesKeyWrapPadded(kek, notBytes), 'BAD_ARGUMENT');
    expectCode(() => aesKeyUnwrapPadded(kek, notBytes), 'BAD_ARGUMENT');
  });
});
