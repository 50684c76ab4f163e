/**
 * ECDSA signatures on P-256 with SHA-256 (FIPS 186-5 §6.4.1), the nonce k derived as RFC 6979
 * §3.2 says (HMAC-SHA-256 over the private key and the message hash): no random source is needed,
 * so a weak one cannot leak the key, and the same message gives the same signature. A device
 * signs with its identity key this way. The terminal verifies the vendor's signature over an update
 * manifest (FIPS 186-5 §6.4.2) with verifyP256Sha256; the host may use any ECDSA implementation.
 *
 * Only the scalar multiplications (k * G, u1 * G, u2 * Q) come from the P-256 primitive, native
 * on the device; the rest is arithmetic mod n and one affine point addition mod p. Signatures are
 * r || s, 32 bytes each (IEEE P1363). Vectors: RFC 6979 Appendix A.2.5 (signing), NIST CAVP
 * FIPS 186-4 SigVer P-256/SHA-256 (verification, test/vectors/ecdsaSigVer.json).
 */
import { concatBytes, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { hmacSha256 } from './hmac';
import { type AffinePoint, bigIntToBytes, bytesToBigInt, decodeP256Point, isValidP256PrivateKey, P256_N, P256_P, powMod } from './p256';
import { p256Multiply, p256PublicKey, sha256 } from './primitives';

export const P256_SIGNATURE_BYTES = 64;

/** The signature r || s of SHA-256(message) under `privateKey`. @throws KEY_LENGTH, BAD_ARGUMENT. */
export function signP256Sha256(privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32) throw new PaypadError('KEY_LENGTH', 'ECDSA P-256 private key: expected 32 bytes');
  if (!isValidP256PrivateKey(privateKey)) throw new PaypadError('BAD_ARGUMENT', 'ECDSA P-256 private key: not a scalar in [1, n-1]');
  if (!(message instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'ECDSA: expected bytes to sign');
  const h1 = sha256(message);
  const e = bytesToBigInt(h1); // FIPS 186-5 §6.4.1: the leftmost 256 bits of the hash, as an integer
  const d = bytesToBigInt(privateKey);
  // RFC 6979 §3.2 b-f; bits2octets(h1) = int2octets(bits2int(h1) mod q), q = n.
  const reduced = bigIntToBytes(e % P256_N, 32);
  let v: Uint8Array = new Uint8Array(32).fill(0x01);
  let k: Uint8Array = hmacSha256(new Uint8Array(32), concatBytes(v, Uint8Array.of(0x00), privateKey, reduced));
  v = hmacSha256(k, v);
  k = hmacSha256(k, concatBytes(v, Uint8Array.of(0x01), privateKey, reduced));
  v = hmacSha256(k, v);
  try {
    for (;;) {
      // §3.2 h: T = V (one HMAC output is qlen bits here), k = bits2int(T); retried while out of range or r, s = 0.
      v = hmacSha256(k, v);
      const nonce = bytesToBigInt(v);
      if (nonce >= 1n && nonce < P256_N) {
        const point = decodeP256Point(p256PublicKey(v));
        const r = point ? point.x % P256_N : 0n;
        const s = (powMod(nonce, P256_N - 2n, P256_N) * ((e + r * d) % P256_N)) % P256_N;
        if (r !== 0n && s !== 0n) return concatBytes(bigIntToBytes(r, 32), bigIntToBytes(s, 32));
      }
      k = hmacSha256(k, concatBytes(v, Uint8Array.of(0x00)));
      v = hmacSha256(k, v);
    }
  } finally {
    wipe(k, v, reduced);
  }
}

/** a + b on P-256 in affine coordinates (SEC 1 §2.2.1); null for the point at infinity. */
function addPoints(a: AffinePoint | null, b: AffinePoint): AffinePoint | null {
  if (a === null) return b;
  const p = P256_P;
  let slope: bigint;
  if (a.x === b.x) {
    if ((a.y + b.y) % p === 0n) return null; // b = -a
    // Doubling, curve a = -3: (3x^2 - 3) / 2y.
    slope = (((3n * ((a.x * a.x) % p) - 3n + p) % p) * powMod(2n * a.y, p - 2n, p)) % p;
  } else {
    slope = (((b.y - a.y + p) % p) * powMod((b.x - a.x + p) % p, p - 2n, p)) % p;
  }
  const x = (((slope * slope - a.x - b.x) % p) + 2n * p) % p;
  const y = (((slope * ((a.x - x + p) % p) - a.y) % p) + p) % p;
  return { x, y };
}

/**
 * FIPS 186-5 §6.4.2: true when `signature` (r || s) is a valid signature of SHA-256(message) under
 * `publicKey` (SEC 1 uncompressed). False for any signature that does not verify, including r or s
 * outside [1, n-1] and the wrong length. @throws PUBLIC_KEY_INVALID for a key not on the curve
 * (the caller's own trusted key, so a broken one is a configuration error, not a bad signature).
 */
export function verifyP256Sha256(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (decodeP256Point(publicKey) === null) throw new PaypadError('PUBLIC_KEY_INVALID', 'ECDSA P-256 public key: not an uncompressed point on the curve');
  if (!(message instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'ECDSA: expected bytes to verify');
  if (!(signature instanceof Uint8Array) || signature.length !== P256_SIGNATURE_BYTES) return false;
  const r = bytesToBigInt(signature.subarray(0, 32));
  const s = bytesToBigInt(signature.subarray(32));
  if (r < 1n || r >= P256_N || s < 1n || s >= P256_N) return false;
  const e = bytesToBigInt(sha256(message));
  const w = powMod(s, P256_N - 2n, P256_N);
  const u1 = (e * w) % P256_N;
  const u2 = (r * w) % P256_N;
  // u2 is never 0 (r, w in [1, n-1], n prime); u1 is 0 only when e = 0 mod n, then R = u2 * Q.
  const first = u1 === 0n ? null : decodeP256Point(p256PublicKey(bigIntToBytes(u1, 32)));
  const second = decodeP256Point(p256Multiply(bigIntToBytes(u2, 32), publicKey)) as AffinePoint;
  const sum = addPoints(first, second);
  return sum !== null && sum.x % P256_N === r;
}
