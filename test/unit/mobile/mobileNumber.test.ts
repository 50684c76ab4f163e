import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import { assertMainlandMobileNumber, isMainlandMobileNumber, maskMobileNumber, mobileNumberToE164 } from '../../../shared/mobileNumber';

const vectors = JSON.parse(readFileSync(join(__dirname, '../../vectors/mobileNumbers.json'), 'utf8')) as {
  valid: { name: string; number: string }[];
  invalid: { name: string; number: string }[];
  mask: { name: string; number: string; masked: string }[];
};

/** libphonenumber's CN mobile pattern, as docs and shared/mobileNumber.ts cite it: the oracle. */
const LIBPHONENUMBER_CN_MOBILE = /^(?:1(?:610\d|740[0-5])\d{6}|1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8})$/;

describe('C4: the mainland-China mobile number rule (shared/mobileNumber.ts)', () => {
  it.each(vectors.valid)('C4: $name ($number) is a mobile number', ({ number }) => {
    expect(isMainlandMobileNumber(number)).toBe(true);
  });
  it.each(vectors.invalid)('C4: $name ($number) is not, and asks to re-enter', ({ number }) => {
    expect(isMainlandMobileNumber(number)).toBe(false);
    expect(() => assertMainlandMobileNumber(number)).toThrow(expect.objectContaining({ code: 'MOBILE_NUMBER_INVALID' }));
  });
  it('C4: agrees with the cited pattern on every 5-digit prefix of 1xxxx', () => {
    for (let p = 10000; p < 20000; p++) {
      const number = `${p}123456`;
      expect(isMainlandMobileNumber(number), number).toBe(LIBPHONENUMBER_CN_MOBILE.test(number));
    }
  });
  it('C4: anything but a string is refused, not thrown on', () => {
    for (const v of [undefined, null, 13800138000, {}, ['13800138000']]) expect(isMainlandMobileNumber(v)).toBe(false);
  });
  it.each(vectors.mask)('C9: $number is masked as $masked for messages to others', ({ number, masked }) => {
    expect(maskMobileNumber(number)).toBe(masked);
  });
  it('C4: E.164 for the SMS provider; a bad number never reaches it', () => {
    expect(mobileNumberToE164('13800138000')).toBe('+8613800138000');
    try {
      mobileNumberToE164('12345678901');
      expect.unreachable();
    } catch (e) {
      expect(isPaypadError(e, 'MOBILE_NUMBER_INVALID')).toBe(true);
      expect((e as Error).message).not.toContain('12345678901');
    }
  });
});
