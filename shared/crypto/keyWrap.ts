/**
 * AES key wrap (RFC 3394, = NIST SP 800-38F KW) and AES key wrap with padding
 * (RFC 5649, = SP 800-38F KWP), over the AES primitive.
 *
 * Both are deterministic authenticated encryption for key material: the unwrap checks the
 * integrity value (RFC 3394 §2.2.3 ICV A6A6A6A6A6A6A6A6; RFC 5649 §3 AIV A65959A6 || MLI and zero
 * padding) in constant time and fails as a whole, with KEY_UNWRAP_FAILED, never with partial
 * plaintext. Vectors: test/vectors/keyWrap.json (RFC 3394 §4, RFC 5649 §6).
 */
import { constantTimeEqual, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { aesEcbDecrypt, aesEcbEncrypt, assertAesKey } from './aes';

const SEMIBLOCK = 8;
/** RFC 3394 §2.2.3.1 default initial value. */
const ICV1: readonly number[] = Object.freeze([0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6]);
/** RFC 5649 §3 alternative initial value: A65959A6 || 32-bit message length indicator. */
const AIV_PREFIX: readonly number[] = Object.freeze([0xa6, 0x59, 0x59, 0xa6]);

/** RFC 3394 §2.2.1: key data of n >= 2 semiblocks (16, 24, 32 ... bytes) -> n + 1 semiblocks. */
export function aesKeyWrap(kek: Uint8Array, keyData: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(keyData, 'key data');
  // RFC 3394 §2: "The only restriction the key wrap algorithm places on n is that n be at least two".
  if (keyData.length < 2 * SEMIBLOCK || keyData.length % SEMIBLOCK !== 0) {
    throw new PaypadError('BAD_LENGTH', `AES key wrap: key data must be a multiple of 8 bytes, at least 16; got ${keyData.length}`);
  }
  return wrapSemiblocks(kek, Uint8Array.from(ICV1), keyData);
}

/** RFC 3394 §2.2.2 with the §2.2.3 integrity check. */
export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(wrapped, 'wrapped key');
  if (wrapped.length < 3 * SEMIBLOCK || wrapped.length % SEMIBLOCK !== 0) {
    throw new PaypadError('BAD_LENGTH', `AES key unwrap: expected a multiple of 8 bytes, at least 24; got ${wrapped.length}`);
  }
  const { integrity, plain } = unwrapSemiblocks(kek, wrapped);
  return checked(plain, constantTimeEqual(integrity, Uint8Array.from(ICV1)), plain.length, integrity);
}

/** RFC 5649 §4.1: key data of any length from 1 byte; the output is padded to whole semiblocks + 8. */
export function aesKeyWrapPadded(kek: Uint8Array, keyData: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(keyData, 'key data');
  if (keyData.length === 0) throw new PaypadError('BAD_LENGTH', 'AES key wrap with padding: key data is empty');
  // §4.1: pad with zeros to whole semiblocks; one semiblock is a single AES block with the AIV.
  const padded = new Uint8Array(Math.ceil(keyData.length / SEMIBLOCK) * SEMIBLOCK);
  padded.set(keyData);
  const aiv = Uint8Array.of(...AIV_PREFIX, keyData.length >>> 24, (keyData.length >>> 16) & 0xff, (keyData.length >>> 8) & 0xff, keyData.length & 0xff);
  try {
    if (padded.length === SEMIBLOCK) {
      const block = new Uint8Array(2 * SEMIBLOCK);
      block.set(aiv);
      block.set(padded, SEMIBLOCK);
      try {
        return aesEcbEncrypt(kek, block);
      } finally {
        wipe(block);
      }
    }
    return wrapSemiblocks(kek, aiv, padded);
  } finally {
    wipe(padded);
  }
}

/** RFC 5649 §4.2 with the §3 AIV, length and padding checks. */
export function aesKeyUnwrapPadded(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(wrapped, 'wrapped key');
  if (wrapped.length < 2 * SEMIBLOCK || wrapped.length % SEMIBLOCK !== 0) {
    throw new PaypadError('BAD_LENGTH', `AES key unwrap with padding: expected a multiple of 8 bytes, at least 16; got ${wrapped.length}`);
  }
  let integrity: Uint8Array;
  let plain: Uint8Array;
  if (wrapped.length === 2 * SEMIBLOCK) {
    const block = aesEcbDecrypt(kek, wrapped);
    integrity = block.slice(0, SEMIBLOCK);
    plain = block.slice(SEMIBLOCK);
    wipe(block);
  } else {
    ({ integrity, plain } = unwrapSemiblocks(kek, wrapped));
  }
  // §3: the prefix matches, 8(n-1) < MLI <= 8n, and the padding is zeros; judged as one.
  const mli = ((integrity[4] << 24) | (integrity[5] << 16) | (integrity[6] << 8) | integrity[7]) >>> 0;
  let ok = constantTimeEqual(integrity.subarray(0, 4), Uint8Array.from(AIV_PREFIX));
  ok = mli > plain.length - SEMIBLOCK && mli <= plain.length && ok;
  let padding = 0;
  for (let i = Math.min(mli, plain.length); i < plain.length; i++) padding |= plain[i];
  return checked(plain, ok && padding === 0, mli, integrity);
}

/** RFC 3394 §2.2.1 W, index-based: 6n AES operations over A || R[i]. */
function wrapSemiblocks(kek: Uint8Array, initial: Uint8Array, plain: Uint8Array): Uint8Array {
  const n = plain.length / SEMIBLOCK;
  const out = new Uint8Array(plain.length + SEMIBLOCK);
  out.set(initial);
  out.set(plain, SEMIBLOCK);
  const block = new Uint8Array(2 * SEMIBLOCK);
  for (let j = 0; j < 6; j++) {
    for (let i = 1; i <= n; i++) {
      block.set(out.subarray(0, SEMIBLOCK));
      block.set(out.subarray(i * SEMIBLOCK, (i + 1) * SEMIBLOCK), SEMIBLOCK);
      const b = aesEcbEncrypt(kek, block);
      out.set(b.subarray(0, SEMIBLOCK));
      xorCounter(out, n * j + i);
      out.set(b.subarray(SEMIBLOCK), i * SEMIBLOCK);
      wipe(b);
    }
  }
  wipe(block);
  return out;
}

/** RFC 3394 §2.2.2 W^-1: the integrity semiblock A and the plaintext semiblocks, not yet checked. */
function unwrapSemiblocks(kek: Uint8Array, wrapped: Uint8Array): { integrity: Uint8Array; plain: Uint8Array } {
  const n = wrapped.length / SEMIBLOCK - 1;
  const work = wrapped.slice();
  const block = new Uint8Array(2 * SEMIBLOCK);
  for (let j = 5; j >= 0; j--) {
    for (let i = n; i >= 1; i--) {
      xorCounter(work, n * j + i);
      block.set(work.subarray(0, SEMIBLOCK));
      block.set(work.subarray(i * SEMIBLOCK, (i + 1) * SEMIBLOCK), SEMIBLOCK);
      const b = aesEcbDecrypt(kek, block);
      work.set(b.subarray(0, SEMIBLOCK));
      work.set(b.subarray(SEMIBLOCK), i * SEMIBLOCK);
      wipe(b);
    }
  }
  wipe(block);
  const result = { integrity: work.slice(0, SEMIBLOCK), plain: work.slice(SEMIBLOCK) };
  wipe(work);
  return result;
}

/** A ^= t, with t as a 64-bit big-endian integer (t < 2^32 here). */
function xorCounter(a: Uint8Array, t: number): void {
  a[4] ^= t >>> 24;
  a[5] ^= (t >>> 16) & 0xff;
  a[6] ^= (t >>> 8) & 0xff;
  a[7] ^= t & 0xff;
}

/** Hands out the first `length` plaintext bytes when the integrity check passed; wipes everything otherwise. */
function checked(plain: Uint8Array, ok: boolean, length: number, integrity: Uint8Array): Uint8Array {
  wipe(integrity);
  if (!ok) {
    wipe(plain);
    throw new PaypadError('KEY_UNWRAP_FAILED', 'key unwrap failed: wrong KEK or the wrapped key was altered');
  }
  const key = plain.slice(0, length);
  wipe(plain);
  return key;
}

function assertBytes(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', `${what}: expected bytes`);
}
