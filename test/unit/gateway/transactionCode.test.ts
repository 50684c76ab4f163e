/**
 * E2: the transaction code's check digit catches the typing errors people make: every
 * single-digit substitution and every transposition of two adjacent different digits, tried
 * exhaustively on sampled codes. Luhn (the card-number check) is shown missing 09 <-> 90 here.
 */
import { describe, expect, it } from 'vitest';
import { dammCheckDigit, formatTransactionCode, newTransactionCode, parseTransactionCode, TRANSACTION_CODE_LENGTH } from '../../../host/gateway/transactionCode';

/** The ISO/IEC 7812 Luhn check over a digit string with its check digit: true when it checks. */
function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

function errorCode(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

function refused(typed: string): boolean {
  try {
    parseTransactionCode(typed);
    return false;
  } catch (e) {
    expect(errorCode(e)).toBe('TRANSACTION_CODE_INVALID');
    return true;
  }
}

const SAMPLES = 300;

describe('E2: transaction codes', () => {
  it('E2: a code is 12 digits, random, with a valid Damm check digit and no leading zero', () => {
    const codes = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const code = newTransactionCode();
      expect(code).toMatch(/^[1-9]\d{11}$/);
      expect(code).toHaveLength(TRANSACTION_CODE_LENGTH);
      expect(dammCheckDigit(code)).toBe(0);
      expect(parseTransactionCode(code)).toBe(code);
      codes.add(code);
    }
    // 9 x 10^10 codes: 2,000 draws collide with probability about 2e-5.
    expect(codes.size).toBe(2_000);
  });

  it('E2: Damm check digit of the published example 572 is 4', () => {
    expect(dammCheckDigit('572')).toBe(4);
    expect(dammCheckDigit('5724')).toBe(0);
  });

  it('E2: every single-digit error in sampled codes is refused by the check digit', () => {
    let tried = 0;
    for (let s = 0; s < SAMPLES; s++) {
      const code = newTransactionCode();
      for (let i = 0; i < code.length; i++) {
        for (let d = 0; d <= 9; d++) {
          if (String(d) === code[i]) continue;
          expect(refused(code.slice(0, i) + d + code.slice(i + 1)), `${code} with digit ${i} -> ${d}`).toBe(true);
          tried++;
        }
      }
    }
    expect(tried).toBe(SAMPLES * 12 * 9);
  });

  it('E2: every transposition of two adjacent different digits in sampled codes is refused', () => {
    let tried = 0;
    for (let s = 0; s < SAMPLES; s++) {
      const code = newTransactionCode();
      for (let i = 0; i + 1 < code.length; i++) {
        if (code[i] === code[i + 1]) continue;
        expect(refused(code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2)), `${code} swapping ${i} and ${i + 1}`).toBe(true);
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(SAMPLES * 9);
  });

  it('E2: every adjacent pair of all 100 digit pairs is covered, including 09 <-> 90 that Luhn misses', () => {
    for (let a = 0; a <= 9; a++) {
      for (let b = 0; b <= 9; b++) {
        if (a === b) continue;
        const body = `1234${a}${b}56789`;
        const code = body + dammCheckDigit(body);
        const swapped = `1234${b}${a}56789${code[11]}`;
        expect(refused(swapped)).toBe(true);
      }
    }
    // The same swap under Luhn: both check, so Luhn would have let the typing error through.
    const luhnBody = '1234095678';
    const luhnDigit = [...Array(10).keys()].find((d) => luhnValid(luhnBody + d))!;
    expect(luhnValid(`1234905678${luhnDigit}`)).toBe(true);
  });

  it('E2: the grouped form a user reads is accepted; letters, wrong lengths and a too-long input are refused', () => {
    const code = newTransactionCode();
    const shown = formatTransactionCode(code);
    expect(shown).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(parseTransactionCode(shown)).toBe(code);
    expect(parseTransactionCode(shown.replace(/ /g, '-'))).toBe(code);
    for (const bad of [code.slice(0, 11), `${code}0`, `${code.slice(0, 11)}x`, '', ' '.repeat(40)]) expect(refused(bad)).toBe(true);
  });

  it('E2: a random source outside the 11-digit range is refused rather than giving a short code', () => {
    expect(() => newTransactionCode(() => 12_345)).toThrow(/digits/);
  });
});
