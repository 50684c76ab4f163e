/**
 * The simulated schemes' BIN table (host/simulators/binTable.ts): longest-prefix routing over 6-,
 * 7- and 8-digit BINs, whatever the order the table lists them in, and tables that cannot be built.
 */
import { describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import { type BinRange, BinTable } from '../../../host/simulators/binTable';

const RANGES: BinRange[] = [
  { bin: '622202', scheme: 'UnionPay', bankId: 'SIX' },
  { bin: '6222021', scheme: 'UnionPay', bankId: 'SEVEN' },
  { bin: '62220219', scheme: 'UnionPay', bankId: 'EIGHT' },
  { bin: '411111', scheme: 'VISA', bankId: 'V' },
  { bin: '22210000', scheme: 'MasterCard', bankId: 'M' },
];

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
  }
  return undefined;
}

describe('BIN table: longest-prefix match (C7 routing)', () => {
  const table = new BinTable(RANGES);

  it.each([
    ['6222020000000000', 'SIX'],
    ['6222021000000000', 'SEVEN'],
    ['6222021800000000', 'SEVEN'],
    ['6222021900000000', 'EIGHT'],
    ['4111110000000000', 'V'],
    ['2221000012345678', 'M'],
  ])('C7: %s routes to %s', (pan, bankId) => {
    expect(table.lookup(pan)?.bankId).toBe(bankId);
  });

  it('C7: the table order does not matter: the same answers with the ranges reversed', () => {
    const reversed = new BinTable([...RANGES].reverse());
    for (const pan of ['6222020000000000', '6222021000000000', '6222021900000000']) {
      expect(reversed.lookup(pan)).toEqual(table.lookup(pan));
    }
  });

  it('C7: a number that only shares five digits, or whose 8-digit BIN is one off, has no match', () => {
    expect(table.lookup('6222030000000000')).toBeUndefined();
    expect(table.lookup('2221000112345678')).toBeUndefined();
    expect(table.lookup('9999999999999999')).toBeUndefined();
  });

  it('C7: an 8-digit PAN can match a 6- or 8-digit BIN (the whole number is the prefix)', () => {
    expect(table.lookup('62220219')?.bankId).toBe('EIGHT');
    expect(table.lookup('62220200')?.bankId).toBe('SIX');
  });

  it('C7: the answer says the scheme with the bank, and cannot be changed by its receiver', () => {
    const range = table.lookup('2221000012345678')!;
    expect(range).toEqual({ bin: '22210000', scheme: 'MasterCard', bankId: 'M' });
    expect(Object.isFrozen(range)).toBe(true);
  });

  it('X5: a lookup of anything but 8 to 19 digits is PAN_INVALID', () => {
    expect(code(() => table.lookup('6222021'))).toBe('PAN_INVALID');
    expect(code(() => table.lookup('62220210000000000000'))).toBe('PAN_INVALID');
    expect(code(() => table.lookup('6222-0210-0000-0000'))).toBe('PAN_INVALID');
  });
});

describe('BIN table: tables that cannot be built (BIN_TABLE_INVALID)', () => {
  it.each([
    ['a 5-digit BIN', [{ bin: '62220', scheme: 'UnionPay', bankId: 'A' }]],
    ['a 9-digit BIN', [{ bin: '622202190', scheme: 'UnionPay', bankId: 'A' }]],
    ['a BIN with a letter', [{ bin: '62220A', scheme: 'UnionPay', bankId: 'A' }]],
    ['an unknown scheme', [{ bin: '601111', scheme: 'Discover', bankId: 'A' }]],
    ['no bank', [{ bin: '622202', scheme: 'UnionPay', bankId: '' }]],
    ['a BIN listed twice', [RANGES[0], { ...RANGES[0], bankId: 'OTHER' }]],
    ['a hole in the list', [undefined]],
  ])('X5: %s', (_what, ranges) => {
    expect(code(() => new BinTable(ranges as BinRange[]))).toBe('BIN_TABLE_INVALID');
  });
});
