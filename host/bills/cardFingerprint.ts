/**
 * A card's fingerprint for payment attempts (D6: the same idempotency key with the same card
 * answers what it answered; with another card it tries that card): HMAC-SHA256 of the PAN under
 * a key of the platform's own, so the table holds no PAN and no unkeyed hash a BIN-range search
 * could reverse. The key is 32 random bytes in <dataDir>/bill-card-fingerprint.key (0600), made on
 * the first start and never overwritten (a new key would forget every attempt's card).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { SECRET_FILE_MODE, writeNewFile } from '../files';

export const CARD_FINGERPRINT_KEY_FILE = 'bill-card-fingerprint.key';

export type CardFingerprint = (pan: string) => string;

export function cardFingerprinter(key: Uint8Array): CardFingerprint {
  if (key.length !== 32) throw new PaypadError('CONFIG_INVALID', 'the card fingerprint key must be 32 bytes');
  return (pan) => createHmac('sha256', key).update(pan, 'ascii').digest('hex');
}

export async function loadOrCreateCardFingerprintKey(dataDir: string): Promise<Uint8Array> {
  const path = join(dataDir, CARD_FINGERPRINT_KEY_FILE);
  try {
    await writeNewFile(path, randomBytes(32).toString('hex') + '\n', SECRET_FILE_MODE);
  } catch (e) {
    if (!isPaypadError(e, 'FILE_EXISTS')) throw e;
  }
  const hex = (await readFile(path, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new PaypadError('CONFIG_INVALID', `${path}: expected 64 hex digits (the card fingerprint key)`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
