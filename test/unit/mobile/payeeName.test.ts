import { describe, expect, it } from 'vitest';
import { maskPayeeName, normalisePayeeName } from '../../../host/payments/mobile/payeeName';

describe('C5: the payee\'s name with its second character hidden', () => {
  it.each([
    ['张三丰', '张*丰'],
    ['王小明', '王*明'],
    ['张三', '张*'],
    ['欧阳娜娜', '欧*娜娜'],
    ['买买提·艾力', '买*提·艾力'],
    ['𠮷野家', '𠮷*家'], // a character outside the BMP counts as one
    ['Li Lei', 'L* L**'],
    ['John Smith', 'J*** S****'],
    ['Zoë', 'Z*ë'],
    ['王', '*'],
  ])('C5: %s is shown as %s', (name, masked) => {
    expect(maskPayeeName(name)).toBe(masked);
  });
});

describe('C1: the name a payee registers', () => {
  it('C1: is stored trimmed, NFC, with single spaces', () => {
    expect(normalisePayeeName('  John   Smith ')).toBe('John Smith');
    expect(normalisePayeeName('Zoe\u0308')).toBe('Zoë');
    expect(normalisePayeeName("O'Brien-Smith")).toBe("O'Brien-Smith");
  });
  it.each([['王'], [''], ['   '], ['王小明1'], ['<script>'], ['a\u0000b'], ['王'.repeat(41)], [42], [null]])('C1: %j is refused with PAYEE_REGISTRATION_INVALID', (name) => {
    expect(() => normalisePayeeName(name)).toThrow(expect.objectContaining({ code: 'PAYEE_REGISTRATION_INVALID' }));
  });
});
