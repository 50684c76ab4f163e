/**
 * NIST P-256 (FIPS 186-5, SP 800-186 §3.2.1.3) domain parameters and the checks and encodings
 * that do not need point arithmetic: validating a public key, a private scalar, and making a
 * scalar from random bytes. The point arithmetic itself is a primitive (shared/crypto/primitives).
 */

/** The field prime p = 2^256 - 2^224 + 2^192 + 2^96 - 1. */
export const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
/** The order n of the base point. */
export const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
export const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
export const P256_GX = 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n;
export const P256_GY = 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n;

export const P256_PUBLIC_KEY_BYTES = 65;
export const P256_PRIVATE_KEY_BYTES = 32;
const COORDINATE_BYTES = 32;

export interface AffinePoint {
  x: bigint;
  y: bigint;
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = 0; i < bytes.length; i++) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** Big-endian, exactly `length` bytes; `n` must fit. */
export function bigIntToBytes(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** base^exponent mod m, by square and multiply (exponents here are public: p - 2, n - 2). */
export function powMod(base: bigint, exponent: bigint, m: bigint): bigint {
  let result = 1n;
  let b = ((base % m) + m) % m;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

/** SEC 1 §2.3.3 uncompressed encoding: 0x04 || X || Y. */
export function encodeP256Point(point: AffinePoint): Uint8Array {
  const out = new Uint8Array(P256_PUBLIC_KEY_BYTES);
  out[0] = 0x04;
  out.set(bigIntToBytes(point.x, COORDINATE_BYTES), 1);
  out.set(bigIntToBytes(point.y, COORDINATE_BYTES), 1 + COORDINATE_BYTES);
  return out;
}

/**
 * SP 800-56A r3 §5.6.2.3.3 full public-key validation of an uncompressed point: not the point at
 * infinity (which has no uncompressed encoding), coordinates in [0, p-1], on the curve
 * y^2 = x^3 - 3x + b. The order check nQ = O holds for every such point: P-256 has cofactor 1.
 * Returns null for anything else.
 */
export function decodeP256Point(bytes: Uint8Array): AffinePoint | null {
  if (!(bytes instanceof Uint8Array) || bytes.length !== P256_PUBLIC_KEY_BYTES || bytes[0] !== 0x04) return null;
  const x = bytesToBigInt(bytes.subarray(1, 1 + COORDINATE_BYTES));
  const y = bytesToBigInt(bytes.subarray(1 + COORDINATE_BYTES));
  if (x >= P256_P || y >= P256_P) return null;
  const p = P256_P;
  if ((y * y) % p !== (((((x * x) % p) * x) % p) + p - ((3n * x) % p) + P256_B) % p) return null;
  return { x, y };
}

/** A private key is a 32-byte big-endian scalar d with 1 <= d <= n-1 (SP 800-56A r3 §5.6.1.2). */
export function isValidP256PrivateKey(privateKey: Uint8Array): boolean {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== P256_PRIVATE_KEY_BYTES) return false;
  const d = bytesToBigInt(privateKey);
  return d >= 1n && d < P256_N;
}

/**
 * FIPS 186-5 §A.2.1 key pair generation with extra random bits: d = (c mod (n-1)) + 1 for a
 * random c of at least 320 bits (the caller draws 48 bytes), so d is uniform in [1, n-1] to
 * within 2^-64.
 */
export function p256PrivateKeyFromSeed(seed: Uint8Array): Uint8Array {
  return bigIntToBytes((bytesToBigInt(seed) % (P256_N - 1n)) + 1n, P256_PRIVATE_KEY_BYTES);
}
