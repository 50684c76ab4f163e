/**
 * One-time codes that prove a payee holds the mobile number they register or update (C1, C2): six
 * digits from the CSPRNG, sent by SMS, good for CODE_TTL_MS and MAX_ATTEMPTS tries. Only a hash is
 * stored: SHA-256 over the registration id and the code, so a copy of the database, a replica or a
 * backup does not show a live code, and the same code under two registrations hashes differently.
 * (Six digits are a million guesses offline; what keeps a code safe is that it lives ten minutes
 * and allows five tries, the hash only keeps it from being read.)
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

export const CODE_DIGITS = 6;
export const CODE_TTL_MS = 10 * 60_000;
export const MAX_ATTEMPTS = 5;
const CODE = /^\d{6}$/;

export function newVerificationCode(): string {
  return String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
}

export function hashVerificationCode(registrationId: string, code: string): string {
  return createHash('sha256').update(`${registrationId}:${code}`, 'utf8').digest('hex');
}

/** Whether `code` is the one hashed as `codeHash`; anything that is not six digits is not. Constant time over the hashes. */
export function verificationCodeMatches(registrationId: string, code: unknown, codeHash: string): boolean {
  if (typeof code !== 'string' || !CODE.test(code)) return false;
  return timingSafeEqual(Buffer.from(hashVerificationCode(registrationId, code), 'hex'), Buffer.from(codeHash, 'hex'));
}
