/**
 * The check value people and logs compare a public key by (MTMS's and each KMS's intake key, a
 * device's identity key): the leftmost 5 bytes of SHA-256 of the key's bytes as sent (an
 * uncompressed P-256 point), uppercase hex. A public key has no CMAC to take, as an AES key's
 * check value does (shared/crypto/kcv); a hash prefix is how certificate tools name keys (RFC 7093
 * §2 method 1 truncates SHA-256 the same way). Not secret: the terminal's status, MTMS, the KMS,
 * the HSMs and the audit log all print it, so all compute it here.
 * Runs in XS: no Node APIs.
 */
import { toHex } from '../bytes';
import { sha256 } from '../crypto/primitives';

export const PUBLIC_KEY_CHECK_BYTES = 5;

export function publicKeyCheckValue(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey).subarray(0, PUBLIC_KEY_CHECK_BYTES));
}
