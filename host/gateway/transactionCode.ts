/**
 * The transaction code a user types to find an order (E2, E3): 12 decimal digits, 11 random and
 * a Damm check digit, shown in groups of four ("4821 0937 5516").
 *
 * Why 12 digits, the most the order-identification rule allows: the code is a bearer reference
 * (whoever holds it can open the order), so the number of codes must dwarf the orders alive at
 * once. 11 random digits with a non-zero lead give 9 x 10^10 codes; with a million orders open at
 * once a guessed code finds one with probability about 1 in 90,000, before any lookup limit. Twelve
 * digits are still shorter than a card number and read back in three groups of four.
 *
 * Why Damm (H. M. Damm, "Total anti-symmetrische Quasigruppen", 2004) rather than Luhn: one check
 * digit that catches every single-digit error and every transposition of adjacent digits, the
 * two mistakes people make most when typing numbers (Verhoeff 1969). Luhn misses the 09 <-> 90
 * transposition; ISO 7064 MOD 97-10 catches both but costs two digits.
 *
 * A code is checked here, before any store is asked: a mistyped code never reaches the database.
 */
import { randomInt } from 'node:crypto';
import { TransactionCodeInvalid } from './gatewayErrors';

export const TRANSACTION_CODE_LENGTH = 12;
const RANDOM_DIGITS = TRANSACTION_CODE_LENGTH - 1;

/**
 * Damm's weakly totally anti-symmetric quasigroup of order 10: row = interim digit, column = next
 * digit. Its diagonal is zero, so a valid code run through it ends at 0.
 */
const DAMM: readonly (readonly number[])[] = Object.freeze(
  [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
  ].map((row) => Object.freeze(row)),
);

/** The Damm check digit of a string of decimal digits. @throws TransactionCodeInvalid on a non-digit. */
export function dammCheckDigit(digits: string): number {
  let interim = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new TransactionCodeInvalid('a transaction code has digits only');
    interim = DAMM[interim][d];
  }
  return interim;
}

/** A source of random integers in [min, max), as node:crypto's randomInt. Tests pass a narrow one to force collisions. */
export type RandomInt = (min: number, max: number) => number;

/** A fresh code: 11 random digits (the first not 0, so no tool drops it) and the check digit. */
export function newTransactionCode(random: RandomInt = randomInt): string {
  const body = String(random(10 ** (RANDOM_DIGITS - 1), 10 ** RANDOM_DIGITS));
  if (!/^[1-9]\d{10}$/.test(body)) throw new TransactionCodeInvalid(`the random source gave ${body.length} digits, not ${RANDOM_DIGITS}`);
  return body + String(dammCheckDigit(body));
}

/**
 * The code as stored, from what a user typed: spaces and hyphens between the groups are dropped.
 * @throws TransactionCodeInvalid when it is not 12 digits or its check digit does not match (a typing error).
 */
export function parseTransactionCode(typed: string): string {
  if (typeof typed !== 'string' || typed.length > 32) throw new TransactionCodeInvalid(`a transaction code is ${TRANSACTION_CODE_LENGTH} digits`);
  const code = typed.replace(/[\s-]/g, '');
  if (!/^\d+$/.test(code) || code.length !== TRANSACTION_CODE_LENGTH) throw new TransactionCodeInvalid(`a transaction code is ${TRANSACTION_CODE_LENGTH} digits`);
  if (dammCheckDigit(code) !== 0) throw new TransactionCodeInvalid('the transaction code does not check: a digit is wrong or two are swapped; please type it again');
  return code;
}

/** "4821 0937 5516": how pages, receipts and texts show a code. */
export function formatTransactionCode(code: string): string {
  return code.replace(/(\d{4})(?=\d)/g, '$1 ');
}
