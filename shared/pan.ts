/**
 * The primary account number (PAN) of a payment card, ISO/IEC 7812-1:2017: 8 to 19 digits, the
 * leading 6 or 8 of them the issuer identification number (BIN), the last one a Luhn check digit
 * (ISO/IEC 7812-1 annex B, the "modulus 10, double add double" method).
 *
 * The terminal checks a keyed or swiped PAN with these before it spends a PIN entry on it, and the
 * host checks it again before a card is routed. Runs in XS and Node: no Node APIs, no tables.
 *
 * Examples: isLuhnValid('79927398713') is true (the worked example usually quoted with ISO/IEC 7812-1);
 * luhnCheckDigit('7992739871') is 3; maskPan('6222021234567890128') is '622202*********0128'.
 * No message here carries the digits it was given (X1).
 */
import { PaypadError } from './errors';

const PAN_MIN_DIGITS = 8;
const PAN_MAX_DIGITS = 19;

/** PCI DSS v4.0 Req. 3.4.1: at most the BIN (first six) and the last four digits may be shown. */
const SHOWN_LEADING = 6;
const SHOWN_TRAILING = 4;
/** Fewer hidden digits than this and a 6/4 mask would give the number away: show only the last four. */
const MIN_HIDDEN = 3;

/** True when the last digit of `digits` (2 to 19 of them) is the Luhn check digit of the others. */
export function isLuhnValid(digits: string): boolean {
  assertDigits(digits, 2, PAN_MAX_DIGITS, 'number with check digit');
  return luhnSum(digits, false) % 10 === 0;
}

/** The Luhn check digit to append to `payload` (1 to 18 digits: a PAN without its last digit). */
export function luhnCheckDigit(payload: string): number {
  assertDigits(payload, 1, PAN_MAX_DIGITS - 1, 'number without check digit');
  return (10 - (luhnSum(payload, true) % 10)) % 10;
}

/** True when `value` has the shape of a PAN, 8 to 19 decimal digits; whether its check digit is right is isLuhnValid's question. */
export function isPanShaped(value: unknown): value is string {
  return typeof value === 'string' && value.length >= PAN_MIN_DIGITS && value.length <= PAN_MAX_DIGITS && allDigits(value);
}

/**
 * The PAN as it may appear in a log, a record or a message: first six and last four digits, the
 * rest '*'. A PAN too short to hide at least three digits that way shows only its last four.
 */
export function maskPan(pan: string): string {
  assertDigits(pan, PAN_MIN_DIGITS, PAN_MAX_DIGITS, 'PAN');
  const hidden = pan.length - SHOWN_LEADING - SHOWN_TRAILING;
  if (hidden < MIN_HIDDEN) return '*'.repeat(pan.length - SHOWN_TRAILING) + pan.slice(-SHOWN_TRAILING);
  return pan.slice(0, SHOWN_LEADING) + '*'.repeat(hidden) + pan.slice(-SHOWN_TRAILING);
}

/**
 * Sum of the digits from the right, every second one doubled (and 9 taken off a two-digit result).
 * `doubleRightmost` is true when the check digit is not yet there, so the payload's last digit is
 * the first one doubled.
 */
function luhnSum(digits: string, doubleRightmost: boolean): number {
  let sum = 0;
  let double = doubleRightmost;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum;
}

function assertDigits(value: string, min: number, max: number, what: string): void {
  if (typeof value !== 'string' || value.length < min || value.length > max || !allDigits(value)) {
    throw new PaypadError('PAN_INVALID', `${what}: expected ${min} to ${max} decimal digits`);
  }
}

function allDigits(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
