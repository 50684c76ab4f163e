/**
 * Merchant numbers never look like card numbers (D2, X1): 15 digits that fail the Luhn check, so
 * the ledger takes them in account names and no PAN scan flags them.
 */
import { describe, expect, it } from 'vitest';
import { newMerchantId } from '../../../host/merchants/merchantDirectory';
import { isLuhnValid } from '../../../shared/pan';

describe('merchant numbers (D2, X1)', () => {
  it('D2 X1: 2,000 new merchant numbers are 15 digits starting 8983, and none passes the Luhn check', () => {
    const ids = Array.from({ length: 2000 }, () => newMerchantId());
    for (const id of ids) expect(id).toMatch(/^8983\d{11}$/);
    expect(ids.filter((id) => isLuhnValid(id))).toEqual([]);
    expect(new Set(ids).size).toBeGreaterThan(1990);
  });
});
