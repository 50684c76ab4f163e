/**
 * Key transport to the holder of a P-256 public key: how a device-made key (the terminal's TK)
 * reaches MTMS while the operating terminal that relays it cannot read it (SPEC A5, A10).
 *
 * Scheme: NIST SP 800-56A r3 §6.2.2.2 One-Pass Diffie-Hellman, C(1e, 1s, ECC CDH), then key wrap:
 *   1. the sender makes an ephemeral P-256 key pair from the injected Rng
 *      (FIPS 186-5 §A.2.1 extra random bits: 48 random bytes reduced mod n-1, plus 1);
 *   2. Z = x-coordinate of ephemeralPrivate * RecipientPublic (SP 800-56A r3 §5.7.1.2);
 *   3. KEK = SP 800-56C r2 §4.1 one-step KDF, H = SHA-256, L = 128:
 *        KEK = leftmost 128 bits of SHA-256([1]_32 || Z || FixedInfo)
 *      FixedInfo (SP 800-56A r3 §5.8.2.1.1 concatenation; every field fixed-length or length-prefixed):
 *        AlgorithmID  KEY_TRANSPORT_ALGORITHM_ID in ASCII (a constant, so fixed-length)
 *        PartyUInfo   ephemeral public key (65) || [len(context)]_8 || context
 *        PartyVInfo   recipient public key (65)
 *        SuppPubInfo  [128]_32, the KEK length in bits
 *      so the KEK is bound to the algorithm, the sender's context (its serial number) and both keys;
 *   4. wrappedKey = RFC 5649 AES key wrap with padding of the key under the KEK.
 * A 128-bit KEK matches P-256's 128-bit security strength (SP 800-57 Pt 1 r5 Table 2).
 *
 * Envelope bytes: version (0x01) || ephemeral public key (65) || wrapped key (24, 32 or 40).
 * Public keys are uncompressed SEC 1 points (0x04 || X || Y); both are validated on the curve.
 *
 * This gives confidentiality and integrity towards the recipient, not sender authentication:
 * anyone with the public key can make an envelope. Who sent it is for the channel to prove
 * (mutual TLS with CA-issued certificates, SPEC A8), and the context binds it to one serial.
 */
import { type Rng, asciiToBytes, randomBytes, concatBytes, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { assertAesKey } from './aes';
import { aesKeyUnwrapPadded, aesKeyWrapPadded } from './keyWrap';
import { decodeP256Point, isValidP256PrivateKey, P256_PRIVATE_KEY_BYTES, P256_PUBLIC_KEY_BYTES, p256PrivateKeyFromSeed } from './p256';
import { p256PublicKey, p256SharedSecretX, sha256 } from './primitives';

export const KEY_TRANSPORT_ALGORITHM_ID = 'paypad-kt1/P256-CDH/SHA256/KWP128';
export const KEY_ENVELOPE_VERSION = 0x01;
export { P256_PRIVATE_KEY_BYTES, P256_PUBLIC_KEY_BYTES };
/** FIPS 186-5 §A.2.1 needs at least 64 bits beyond the 256 (40 bytes); 48 gives 128 extra bits. */
const P256_KEYGEN_SEED_BYTES = 48;
const KEK_BYTES = 16;
const CONTEXT_MAX_BYTES = 255;
/** RFC 5649 output for 16/24/32-byte AES keys: one integrity semiblock plus the padded key. */
const WRAPPED_KEY_LENGTHS: readonly number[] = Object.freeze([24, 32, 40]);

export interface P256KeyPair {
  privateKey: Uint8Array;
  /** Uncompressed SEC 1 point, 65 bytes. */
  publicKey: Uint8Array;
}

export interface KeyEnvelope {
  ephemeralPublicKey: Uint8Array;
  wrappedKey: Uint8Array;
}

/** A P-256 key pair whose private scalar comes from `rng` (FIPS 186-5 §A.2.1). */
export function generateP256KeyPair(rng: Rng): P256KeyPair {
  const seed = randomBytes(rng, P256_KEYGEN_SEED_BYTES, 'a P-256 key');
  try {
    const privateKey = p256PrivateKeyFromSeed(seed);
    return { privateKey, publicKey: p256PublicKey(privateKey) };
  } finally {
    wipe(seed);
  }
}

/**
 * Wraps the AES `key` (16, 24 or 32 bytes) so that only the holder of the private key matching
 * `recipientPublicKey` can unwrap it, and only with the same `context` (1 to 255 bytes).
 */
export function wrapKeyForRecipient(recipientPublicKey: Uint8Array, key: Uint8Array, context: Uint8Array, rng: Rng): KeyEnvelope {
  assertPublicKey(recipientPublicKey, 'recipient public key');
  assertAesKey(key, 'key to transport');
  assertContext(context);
  const ephemeral = generateP256KeyPair(rng);
  const kek = deriveKek(ephemeral.privateKey, recipientPublicKey, ephemeral.publicKey, recipientPublicKey, context);
  try {
    return { ephemeralPublicKey: ephemeral.publicKey, wrappedKey: aesKeyWrapPadded(kek, key) };
  } finally {
    wipe(kek, ephemeral.privateKey);
  }
}

/** Recovers the key from `envelope`; fails with KEY_UNWRAP_FAILED for any other recipient or context. */
export function unwrapKeyAsRecipient(recipientPrivateKey: Uint8Array, envelope: KeyEnvelope, context: Uint8Array): Uint8Array {
  assertPrivateKey(recipientPrivateKey);
  assertEnvelope(envelope);
  assertContext(context);
  const recipientPublicKey = p256PublicKey(recipientPrivateKey);
  const kek = deriveKek(recipientPrivateKey, envelope.ephemeralPublicKey, envelope.ephemeralPublicKey, recipientPublicKey, context);
  let key: Uint8Array;
  try {
    key = aesKeyUnwrapPadded(kek, envelope.wrappedKey);
  } finally {
    wipe(kek);
  }
  try {
    assertAesKey(key, 'transported key');
  } catch (e) {
    wipe(key);
    throw e;
  }
  return key;
}

export function encodeKeyEnvelope(envelope: KeyEnvelope): Uint8Array {
  assertEnvelope(envelope);
  return concatBytes(new Uint8Array([KEY_ENVELOPE_VERSION]), envelope.ephemeralPublicKey, envelope.wrappedKey);
}

export function decodeKeyEnvelope(bytes: Uint8Array): KeyEnvelope {
  if (!(bytes instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'key envelope: expected bytes');
  if (bytes.length === 0) throw new PaypadError('BAD_LENGTH', 'key envelope: empty');
  if (bytes[0] !== KEY_ENVELOPE_VERSION) {
    throw new PaypadError('KEY_ENVELOPE_UNSUPPORTED', `key envelope: version ${bytes[0]} is not supported (expected ${KEY_ENVELOPE_VERSION})`);
  }
  const envelope = {
    ephemeralPublicKey: bytes.slice(1, 1 + P256_PUBLIC_KEY_BYTES),
    wrappedKey: bytes.slice(1 + P256_PUBLIC_KEY_BYTES),
  };
  if (!WRAPPED_KEY_LENGTHS.includes(envelope.wrappedKey.length)) {
    const expected = WRAPPED_KEY_LENGTHS.map((n) => 1 + P256_PUBLIC_KEY_BYTES + n).join(', ');
    throw new PaypadError('BAD_LENGTH', `key envelope: expected ${expected} bytes, got ${bytes.length}`);
  }
  assertPublicKey(envelope.ephemeralPublicKey, 'envelope ephemeral public key');
  return envelope;
}

/** Steps 2 and 3 of the scheme above; `partyU`/`partyV` are the sender's and recipient's public keys. */
function deriveKek(privateKey: Uint8Array, peerPublicKey: Uint8Array, partyU: Uint8Array, partyV: Uint8Array, context: Uint8Array): Uint8Array {
  let z: Uint8Array;
  try {
    z = p256SharedSecretX(privateKey, peerPublicKey);
  } catch {
    // Unreachable with validated inputs on a prime-order curve; kept so no primitive's error escapes.
    throw new PaypadError('PUBLIC_KEY_INVALID', 'ECDH: the shared point is invalid');
  }
  try {
    return oneStepKek((before, after) => {
      const input = concatBytes(before, z, after);
      try {
        return sha256(input);
      } finally {
        wipe(input);
      }
    }, partyU, partyV, context);
  } finally {
    wipe(z);
  }
}

/**
 * Step 3, the SP 800-56C r2 one-step KDF, over any SHA-256 of Z: `hashAroundZ(before, after)`
 * must return SHA-256(before || Z || after), so Z may stay inside an HSM that digests it as a key
 * object (host/hsm's PKCS#11 backend). Builds [1]_32 and FixedInfo here, once, for every caller.
 */
export function oneStepKek(
  hashAroundZ: (before: Uint8Array, after: Uint8Array) => Uint8Array,
  partyU: Uint8Array,
  partyV: Uint8Array,
  context: Uint8Array,
): Uint8Array {
  assertContext(context);
  const counter = new Uint8Array([0, 0, 0, 1]);
  const kekBits = new Uint8Array([0, 0, (KEK_BYTES * 8) >> 8, (KEK_BYTES * 8) & 0xff]);
  const fixedInfo = concatBytes(
    asciiToBytes(KEY_TRANSPORT_ALGORITHM_ID),
    partyU,
    new Uint8Array([context.length]),
    context,
    partyV,
    kekBits,
  );
  const digest = hashAroundZ(counter, fixedInfo);
  try {
    return digest.slice(0, KEK_BYTES);
  } finally {
    wipe(digest);
  }
}

export function assertPublicKey(publicKey: Uint8Array, what: string): void {
  // SP 800-56A r3 §5.6.2.3.3 full validation (shared/crypto/p256).
  if (!decodeP256Point(publicKey)) {
    throw new PaypadError('PUBLIC_KEY_INVALID', `${what}: expected an uncompressed P-256 point (65 bytes, 0x04 || X || Y) on the curve`);
  }
}

function assertPrivateKey(privateKey: Uint8Array): void {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== P256_PRIVATE_KEY_BYTES) {
    throw new PaypadError('KEY_LENGTH', `P-256 private key: expected ${P256_PRIVATE_KEY_BYTES} bytes`);
  }
  if (!isValidP256PrivateKey(privateKey)) {
    throw new PaypadError('BAD_ARGUMENT', 'P-256 private key: not a scalar in [1, n-1]');
  }
}

function assertContext(context: Uint8Array): void {
  if (!(context instanceof Uint8Array) || context.length < 1 || context.length > CONTEXT_MAX_BYTES) {
    throw new PaypadError('BAD_LENGTH', `key transport context: expected 1 to ${CONTEXT_MAX_BYTES} bytes`);
  }
}

function assertEnvelope(envelope: KeyEnvelope): void {
  if (typeof envelope !== 'object' || envelope === null) throw new PaypadError('BAD_ARGUMENT', 'key envelope: expected an object');
  assertPublicKey(envelope.ephemeralPublicKey, 'envelope ephemeral public key');
  if (!(envelope.wrappedKey instanceof Uint8Array) || !WRAPPED_KEY_LENGTHS.includes(envelope.wrappedKey.length)) {
    throw new PaypadError('BAD_LENGTH', `key envelope: wrapped key must be ${WRAPPED_KEY_LENGTHS.join(', ')} bytes`);
  }
}
