/**
 * The payee's receiving card number, sealed (X1: no PAN in clear in a database row). The platform
 * needs the full number once per payout, to ask the provider to credit it (C9); everywhere else
 * it uses the 6/4 mask. Sealing is AES-256-GCM (NIST SP 800-38D) under a data key the host keeps
 * in its data directory (mobileCardKey.ts), with the payee's mobile number as additional
 * authenticated data, so a sealed card moved to another payee's row does not open.
 * Format: "v1." + base64url(12-byte IV || ciphertext || 16-byte tag).
 *
 * `fingerprint` names a card without showing it, for counting failed checks per card
 * (lookupBuckets.ts): HMAC-SHA-256 (RFC 2104) under a key derived from the vault key, so it cannot
 * be reversed by trying every PAN of a BIN, as a plain hash could.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { PaypadError } from '../../../shared/errors';

export interface CardVault {
  seal(pan: string, mobile: string): string;
  /** INTERNAL when the sealed value does not open (another key, another payee's row, altered). */
  open(sealed: string, mobile: string): string;
  /** 32 hex digits that are the same for the same PAN under the same key. */
  fingerprint(pan: string): string;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PREFIX = 'v1.';

export function createCardVault(key: Uint8Array): CardVault {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new PaypadError('KEY_LENGTH', `card vault key: expected ${KEY_BYTES} bytes`);
  const k = Buffer.from(key);
  // Key separation: the fingerprint key is derived, never the sealing key itself.
  const fingerprintKey = createHmac('sha256', k).update('paypad card fingerprint key v1').digest();
  return {
    fingerprint(pan) {
      return createHmac('sha256', fingerprintKey).update(pan, 'utf8').digest('hex').slice(0, 32);
    },
    seal(pan, mobile) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', k, iv).setAAD(Buffer.from(mobile, 'utf8'));
      const body = Buffer.concat([cipher.update(pan, 'utf8'), cipher.final()]);
      return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    },
    open(sealed, mobile) {
      const raw = sealed.startsWith(PREFIX) ? Buffer.from(sealed.slice(PREFIX.length), 'base64url') : Buffer.alloc(0);
      if (raw.length <= IV_BYTES + TAG_BYTES) throw notOpened();
      try {
        const decipher = createDecipheriv('aes-256-gcm', k, raw.subarray(0, IV_BYTES)).setAAD(Buffer.from(mobile, 'utf8'));
        decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw notOpened();
      }
    },
  };
}

function notOpened(): PaypadError {
  return new PaypadError('INTERNAL', "a payee's sealed card does not open under the card vault key");
}
