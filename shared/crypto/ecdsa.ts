/**
 * ECDSA signatures on P-256 with SHA-256 (FIPS 186-5 §6.4.1), the nonce k derived as RFC 6979
 * §3.2 says (HMAC-SHA-256 over the private key and the message hash): no random source is needed,
 * so a weak one cannot leak the key, and the same message gives the same signature. A device
 * signs with its identity key this way; verifiers (the host) use any ECDSA implementation.
 *
 * Only the scalar multiplication k * G comes from the P-256 primitive; the rest is arithmetic mod
 * n. Signatures are r || s, 32 bytes each (IEEE P1363). Vectors: RFC 6979 Appendix A.2.5.
 */
import { concatBytes, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { hmacSha256 } from './hmac';
import { bigIntToBytes, bytesToBigInt, decodeP256Point, isValidP256PrivateKey, P256_N, powMod } from './p256';
import { p256PublicKey, sha256 } from './primitives';

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
