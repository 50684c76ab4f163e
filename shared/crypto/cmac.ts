/**
 * AES-CMAC, NIST SP 800-38B (RFC 4493 for AES-128). Vectors: test/vectors/cmac.json.
 */
import { cmac } from '@noble/ciphers/aes.js';
import { constantTimeEqual } from '../bytes';
import { PaypadError } from '../errors';
import { assertAesKey } from './aes';

/** The full 16-byte CMAC of `data` under `key`. */
export function aesCmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  assertAesKey(key, 'CMAC key');
  return cmac(data, key);
}

/**
 * Verifies a (possibly truncated, SP 800-38B §5.3: at least 8 bytes) CMAC in constant time.
 * Throws MAC_MISMATCH on any difference, so a caller cannot forget to check a boolean.
 */
export function verifyAesCmac(key: Uint8Array, data: Uint8Array, mac: Uint8Array): void {
  if (mac.length < 8 || mac.length > 16) {
    throw new PaypadError('BAD_LENGTH', `CMAC: expected 8 to 16 bytes, got ${mac.length}`);
  }
  const expected = aesCmac(key, data).subarray(0, mac.length);
  if (!constantTimeEqual(expected, mac)) throw new PaypadError('MAC_MISMATCH', 'CMAC does not verify');
}
