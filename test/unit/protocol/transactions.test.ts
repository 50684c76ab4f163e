/**
 * The terminal transaction protocol's messages and paths (shared/protocol/transactions.ts; SPEC
 * C3-C8, X2): what each side accepts, and the typed refusal of everything else.
 */
import { describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import { MAX_AMOUNT_MINOR, pospTerminalPath, validateTransactionMessage } from '../../../shared/protocol/transactions';

const PAY = { v: 1, lookupId: 'L0123abc', amount: 12_345, currency: 'CNY', card: 'AB'.repeat(48), pinBlock: 'CD'.repeat(16) };
const ANSWER = { v: 1, responseCode: '00', reason: 'Approved', reference: 'ABC123DEF456', amount: 12_345, currency: 'CNY', maskedPan: '622202*********0017', approvalCode: '123456' };

function refused(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    return e.code;
  }
  return 'accepted';
}

describe('C3-C8: terminal transaction messages', () => {
  it('C3, C6: a payment request and its answer validate and come back with only their declared fields', () => {
    expect(validateTransactionMessage('mobilePayRequest', { ...PAY, payerMobile: '+8613900139000' })).toEqual({ ...PAY, payerMobile: '+8613900139000' });
    expect(validateTransactionMessage('mobilePayResponse', ANSWER)).toEqual(ANSWER);
    expect(validateTransactionMessage('mobileLookupRequest', { v: 1, payeeMobile: '13800138000' })).toEqual({ v: 1, payeeMobile: '13800138000' });
    expect(pospTerminalPath('PP-0001', 'mobile/pay')).toBe('/posp/v1/terminals/PP-0001/mobile/pay');
  });

  it('X2: malformed fields are PROTOCOL_MALFORMED, another version PROTOCOL_UNSUPPORTED_VERSION', () => {
    const bad: [string, Record<string, unknown>][] = [
      ['amount as text', { ...PAY, amount: '12345' }],
      ['fractional amount', { ...PAY, amount: 1.5 }],
      ['zero amount', { ...PAY, amount: 0 }],
      ['amount over field 4', { ...PAY, amount: MAX_AMOUNT_MINOR + 1 }],
      ['lower-case currency', { ...PAY, currency: 'cny' }],
      ['card too short (no whole block after the IV)', { ...PAY, card: 'AB'.repeat(16) }],
      ['card too long', { ...PAY, card: 'AB'.repeat(97) }],
      ['odd hex', { ...PAY, pinBlock: `${PAY.pinBlock}A` }],
      ['PIN block of a TDES size', { ...PAY, pinBlock: 'CD'.repeat(8) }],
      ['a clear PAN field', { ...PAY, pan: '6222021000000000017' }],
      ['missing PIN block', { ...PAY, pinBlock: undefined }],
      ['payer mobile with letters', { ...PAY, payerMobile: '1390013900x' }],
      ['lookup id with a slash', { ...PAY, lookupId: 'a/b' }],
    ];
    for (const [name, message] of bad) expect(refused(() => validateTransactionMessage('mobilePayRequest', message)), name).toBe('PROTOCOL_MALFORMED');
    expect(refused(() => validateTransactionMessage('mobilePayRequest', { ...PAY, v: 2 }))).toBe('PROTOCOL_UNSUPPORTED_VERSION');
    expect(refused(() => validateTransactionMessage('mobilePayResponse', { ...ANSWER, maskedPan: 'ABCD1234' }))).toBe('PROTOCOL_MALFORMED');
    expect(refused(() => validateTransactionMessage('mobilePayResponse', { ...ANSWER, responseCode: '0' }))).toBe('PROTOCOL_MALFORMED');
    expect(refused(() => validateTransactionMessage('mobileLookupResponse', { v: 1, lookupId: 'L1', maskedName: '', expiresAt: 'x' }))).toBe('PROTOCOL_MALFORMED');
    expect(refused(() => validateTransactionMessage('mobileLookupRequest', [1]))).toBe('PROTOCOL_MALFORMED');
  });
});
