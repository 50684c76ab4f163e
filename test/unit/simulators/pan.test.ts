/**
 * shared/pan.ts: the Luhn check digit (ISO/IEC 7812-1 annex B) and PAN masking (PCI DSS v4.0
 * Req. 3.4.1), checked against published numbers and against the properties the check digit is
 * there for, so a wrong doubling position or a wrong carry fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import { isLuhnValid, isPanShaped, luhnCheckDigit, maskPan } from '../../../shared/pan';

function expectPanInvalid(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(isPaypadError(e, 'PAN_INVALID'), String(e)).toBe(true);
    return e as Error;
  }
  throw new Error('expected PAN_INVALID, but nothing was thrown');
}

/** Published numbers (test/vectors/luhn.json, replayed in XS by test/xs/vectors.test.ts). */
const vectors: {
  valid: { number: string }[];
  invalid: { number: string }[];
  mask: { pan: string; masked: string }[];
} = JSON.parse(readFileSync(new URL('../../vectors/luhn.json', import.meta.url), 'utf8'));
const PUBLISHED_VALID = vectors.valid.map((v) => v.number);

describe('Luhn check digit (X5: test cards and the terminal share it)', () => {
  it.each(PUBLISHED_VALID)('X5: %s passes the Luhn check', (pan) => {
    expect(isLuhnValid(pan)).toBe(true);
  });

  it.each(PUBLISHED_VALID)('X5: the check digit of %s is computed from the rest', (pan) => {
    expect(luhnCheckDigit(pan.slice(0, -1))).toBe(Number(pan.at(-1)));
  });

  it.each(vectors.invalid.map((v) => v.number))('X5: %s fails the Luhn check', (number) => {
    expect(isLuhnValid(number)).toBe(false);
  });

  it('X5: 79927398710 ... 79927398719: only the published check digit 3 passes', () => {
    const passing = [...'0123456789'].filter((d) => isLuhnValid(`7992739871${d}`));
    expect(passing).toEqual(['3']);
  });

  it('X5: every single-digit error in a valid PAN is caught (what the check digit is for)', () => {
    const pan = '6222021234567890128';
    expect(isLuhnValid(pan)).toBe(true);
    for (let i = 0; i < pan.length; i++) {
      for (let d = 0; d <= 9; d++) {
        if (String(d) === pan[i]) continue;
        const wrong = pan.slice(0, i) + d + pan.slice(i + 1);
        expect(isLuhnValid(wrong), `digit ${i} changed to ${d}`).toBe(false);
      }
    }
  });

  it('X5: swapping two adjacent different digits is caught, except 09 <-> 90 (a known Luhn blind spot)', () => {
    const pan = '4532015112830366';
    expect(isLuhnValid(pan)).toBe(true);
    for (let i = 0; i + 1 < pan.length; i++) {
      if (pan[i] === pan[i + 1]) continue;
      const swapped = pan.slice(0, i) + pan[i + 1] + pan[i] + pan.slice(i + 2);
      const blindSpot = (pan[i] === '0' && pan[i + 1] === '9') || (pan[i] === '9' && pan[i + 1] === '0');
      expect(isLuhnValid(swapped), `swap at ${i}`).toBe(blindSpot);
    }
    expect(isLuhnValid('4590')).toBe(isLuhnValid('4509')); // the blind spot itself
  });

  it('X5: check digit 0 comes out as 0, not 10', () => {
    expect(luhnCheckDigit('0')).toBe(0);
    expect(luhnCheckDigit('5')).toBe(9);
    expect(isLuhnValid('00')).toBe(true);
  });

  it.each([
    ['letters', '4111a11111111111'],
    ['a space', '4111 1111 1111 1111'],
    ['one digit', '7'],
    ['20 digits', '41111111111111111111'],
    ['empty', ''],
  ])('X5: %s is PAN_INVALID, not false', (_name, value) => {
    expectPanInvalid(() => isLuhnValid(value));
  });

  it('X5: bad payloads for a check digit are PAN_INVALID, and the message carries no digits', () => {
    expectPanInvalid(() => luhnCheckDigit(''));
    expectPanInvalid(() => luhnCheckDigit('1234567890123456789')); // 19 digits: no room for the check digit
    expect(expectPanInvalid(() => luhnCheckDigit('41111111x')).message).not.toMatch(/4111/);
  });
});

describe('isPanShaped (ISO/IEC 7812-1: 8 to 19 digits)', () => {
  it('X5: the published test PANs and the 8- and 19-digit extremes have the shape; the check digit is not its business', () => {
    for (const pan of [...PUBLISHED_VALID, '12345678', '1234567890123456789', '4111111111111112']) expect(isPanShaped(pan)).toBe(true);
  });

  it('X5: 7 or 20 digits, separators, letters and non-strings do not', () => {
    for (const value of ['1234567', '12345678901234567890', '4111 1111 1111 1111', '411111111111111a', 4111111111111111, undefined]) {
      expect(isPanShaped(value)).toBe(false);
    }
  });
});

describe('maskPan (PCI DSS v4.0 Req. 3.4.1: at most the first six and last four digits)', () => {
  it.each(vectors.mask.map((v) => [v.pan, v.masked]))('X1: %s is shown as %s', (pan, masked) => {
    expect(maskPan(pan)).toBe(masked);
  });

  it('X1: a PAN too short to hide three digits behind a 6/4 mask shows its last four only', () => {
    expect(maskPan('1234567890123')).toBe('123456***0123'); // 13 digits: three hidden, 6/4 allowed
    expect(maskPan('123456789012')).toBe('********9012');
    expect(maskPan('79927398')).toBe('****7398');
  });

  it('X1: the mask keeps the length, so a person can still tell a 16- from a 19-digit card', () => {
    for (const pan of PUBLISHED_VALID) expect(maskPan(pan)).toHaveLength(pan.length);
  });

  it('X1: anything but 8 to 19 digits is PAN_INVALID', () => {
    expectPanInvalid(() => maskPan('1234567'));
    expectPanInvalid(() => maskPan('4111-1111-1111-1111'));
  });
});
