/**
 * Mainland-China mobile numbers (SPEC C4: the number check unit of CN101976403A): what the POS
 * checks as the payer keys a number in, and what the platform checks again before it looks a
 * payee up, so both sides refuse the same numbers. Runs in XS and Node: no Node APIs, no tables
 * built at import.
 *
 * The rule: 11 digits, the first 1 (ITU-T E.164 country code 86 is not keyed; the MIIT numbering
 * plan, 电信网编号计划 (2017), gives public mobile networks the 1xx network codes), then a network
 * code the MIIT has allocated to mobile operators for personal numbers:
 *
 *   13x            all
 *   145, 147       data-card and IoT ranges with SMS (140-144 are 13-digit IoT numbers, not these)
 *   15x            but 154 (never allocated)
 *   162, 165-167   mobile virtual network operators
 *   170-173, 175-178; 17400-17405 (Tiantong satellite)
 *   18x            all
 *   19x            but 194 (not allocated)
 *   1610x
 *
 * as libphonenumber's metadata for CN mobile (v8.13) writes it:
 * `1(?:610\d|740[0-5])\d{6}|1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}`. Number
 * portability (since 2019) means the network code no longer names the carrier, so nothing here
 * says which operator a number belongs to.
 *
 * Examples: isMainlandMobileNumber('13800138000') is true; '12345678901' (second digit 2) and
 * '15412345678' (154) are false; maskMobileNumber('13800138000') is '138****8000'.
 */
import { PaypadError } from './errors';

const LENGTH = 11;

/**
 * Third digits allowed after "1" and the second digit, as strings of digits (checked with
 * indexOf: a frozen constant, not a table built at import).
 */
const THIRD_DIGITS_AFTER: Readonly<Record<string, string>> = Object.freeze({
  '3': '0123456789',
  '4': '57',
  '5': '012356789',
  '6': '2567',
  '7': '01235678',
  '8': '0123456789',
  '9': '012356789',
});

/** True when `value` is a mainland-China mobile number as keyed at a POS: 11 digits, no spaces, no +86. */
export function isMainlandMobileNumber(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== LENGTH || !allDigits(value) || value.charAt(0) !== '1') return false;
  const second = value.charAt(1);
  const third = value.charAt(2);
  if (second === '6' && third === '1') return value.charAt(3) === '0'; // 1610x
  if (second === '7' && third === '4') return value.charAt(3) === '0' && value.charAt(4) <= '5'; // 17400-17405
  const allowed = THIRD_DIGITS_AFTER[second];
  return allowed !== undefined && allowed.indexOf(third) >= 0;
}

/** MOBILE_NUMBER_INVALID unless isMainlandMobileNumber; the message says what to re-enter (C4). */
export function assertMainlandMobileNumber(value: unknown, what = 'mobile number'): asserts value is string {
  if (!isMainlandMobileNumber(value)) {
    throw new PaypadError('MOBILE_NUMBER_INVALID', `${what}: expected an 11-digit mainland-China mobile number such as 13800138000; please re-enter it`);
  }
}

/** The number in ITU-T E.164 form, as SMS providers take it: '+86' and the 11 digits. */
export function mobileNumberToE164(mobile: string): string {
  assertMainlandMobileNumber(mobile);
  return `+86${mobile}`;
}

/**
 * The number as a message to someone else may show it: the network code and the last four digits,
 * the middle four hidden ('138****8000'), as Chinese banks print a counterparty's number. Enough
 * for a payee who knows the payer to recognise them; not enough to call or text a stranger.
 */
export function maskMobileNumber(mobile: string): string {
  assertMainlandMobileNumber(mobile);
  return `${mobile.slice(0, 3)}****${mobile.slice(7)}`;
}

function allDigits(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
