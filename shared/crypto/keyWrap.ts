/**
 * AES key wrap (RFC 3394, = NIST SP 800-38F KW) and AES key wrap with padding
 * (RFC 5649, = SP 800-38F KWP), over @noble/ciphers' aeskw / aeskwp.
 *
 * Both are deterministic authenticated encryption for key material: the unwrap checks the
 * integrity value (RFC 3394 §2.2.3 ICV A6A6A6A6A6A6A6A6; RFC 5649 §3 AIV A65959A6 || MLI and zero
 * padding) and fails as a whole, with KEY_UNWRAP_FAILED, never with partial plaintext.
 * Vectors: test/vectors/keyWrap.json (RFC 3394 §4, RFC 5649 §6).
 */
import { aeskw, aeskwp } from '@noble/ciphers/aes.js';
import { wipe } from '../bytes';
import { PaypadError } from '../errors';
import { assertAesKey } from './aes';

const SEMIBLOCK = 8;

/** RFC 3394 §2.2.1: key data of n >= 2 semiblocks (16, 24, 32 ... bytes) -> n + 1 semiblocks. */
export function aesKeyWrap(kek: Uint8Array, keyData: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(keyData, 'key data');
  // RFC 3394 §2: "The only restriction the key wrap algorithm places on n is that n be at least two".
  if (keyData.length < 2 * SEMIBLOCK || keyData.length % SEMIBLOCK !== 0) {
    throw new PaypadError('BAD_LENGTH', `AES key wrap: key data must be a multiple of 8 bytes, at least 16; got ${keyData.length}`);
  }
  return aeskw(kek).encrypt(keyData);
}

/** RFC 3394 §2.2.2 with the §2.2.3 integrity check. */
export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(wrapped, 'wrapped key');
  if (wrapped.length < 3 * SEMIBLOCK || wrapped.length % SEMIBLOCK !== 0) {
    throw new PaypadError('BAD_LENGTH', `AES key unwrap: expected a multiple of 8 bytes, at least 24; got ${wrapped.length}`);
  }
  return unwrapWith(() => aeskw(kek).decrypt(wrapped));
}

/** RFC 5649 §4.1: key data of any length from 1 byte; the output is padded to whole semiblocks + 8. */
export function aesKeyWrapPadded(kek: Uint8Array, keyData: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(keyData, 'key data');
  if (keyData.length === 0) throw new PaypadError('BAD_LENGTH', 'AES key wrap with padding: key data is empty');
  return aeskwp(kek).encrypt(keyData);
}

/** RFC 5649 §4.2 with the §3 AIV, length and padding checks. */
export function aesKeyUnwrapPadded(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  assertAesKey(kek, 'KEK');
  assertBytes(wrapped, 'wrapped key');
  if (wrapped.length < 2 * SEMIBLOCK || wrapped.length % SEMIBLOCK !== 0) {
    throw new PaypadError('BAD_LENGTH', `AES key unwrap with padding: expected a multiple of 8 bytes, at least 16; got ${wrapped.length}`);
  }
  return unwrapWith(() => aeskwp(kek).decrypt(wrapped));
}

/**
 * Lengths are checked above, so whatever noble throws now is an integrity failure. The caller
 * gets its own copy of the key and noble's output view is wiped (noble already zeroes the
 * integrity semiblock, and RFC 5649 padding is zero by definition).
 */
function unwrapWith(unwrap: () => Uint8Array): Uint8Array {
  let plain: Uint8Array;
  try {
    plain = unwrap();
  } catch {
    throw new PaypadError('KEY_UNWRAP_FAILED', 'key unwrap failed: wrong KEK or the wrapped key was altered');
  }
  const key = plain.slice();
  wipe(plain);
  return key;
}

function assertBytes(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', `${what}: expected bytes`);
}
