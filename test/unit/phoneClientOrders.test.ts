/**
 * The phone client's gateway order messages (E3; docs/online-payments.md "Paying from the phone
 * client"): what the phone is shown and what it sends, refused out of shape (PROTOCOL_MALFORMED)
 * before anything is looked up or deciphered.
 */
import { describe, expect, it } from 'vitest';
import { findOrderRequest, payOrderRequest, phoneOrder } from '../../shared/protocol/phoneClient';

const ORDER = Object.freeze({
  orderNumber: 'GO3F9A1C7E22B04D5A9E61C0D8',
  merchantName: 'Tea House Ltd',
  merchantOrderId: 'MO-20261206-0042',
  description: 'Two tea cups',
  amountMinor: 12_800,
  currency: 'CNY',
  transactionCode: '482109375516',
  state: 'created',
  expiresAt: '2026-12-06T08:15:00.000Z',
  forThisAccount: false,
});
const FIELD = '00'.repeat(32);
const PAY = Object.freeze({ v: 1, orderNumber: ORDER.orderNumber, code: '4821 0937 5516', pan: FIELD, expiry: FIELD, pinBlock: FIELD, amountMinor: 12_800, currency: 'CNY' });
const malformed = expect.objectContaining({ code: 'PROTOCOL_MALFORMED' });

describe('phone client: gateway order messages', () => {
  it('E3: an order as the phone shows it decodes; another state, a short code or an unknown field does not', () => {
    expect(phoneOrder({ ...ORDER }, 'order')).toEqual(ORDER);
    for (const bad of [{ ...ORDER, state: 'open' }, { ...ORDER, transactionCode: '48210937551' }, { ...ORDER, account: '13912345678' }, { ...ORDER, orderNumber: 'go3f9a1c7e22b04d5a9e61c0d8' }]) {
      expect(() => phoneOrder(bad, 'order')).toThrow(malformed);
    }
  });

  it('E3: a typed code travels as typed (digits, spaces, dashes; the platform checks its digit); anything else is refused at once', () => {
    for (const code of ['482109375516', '4821 0937 5516', '4821-0937-5516', '1']) expect(findOrderRequest({ v: 1, code }, 'find')).toEqual({ v: 1, code });
    for (const code of ['', '4821O9375516', '4821 0937 5516 4821 0937 5516 482', 12]) expect(() => findOrderRequest({ v: 1, code }, 'find')).toThrow(malformed);
  });

  it('E3, X1: a pay message takes the card, expiry and PIN block only as enciphered fields, and no mobile number or clear card number', () => {
    expect(payOrderRequest({ ...PAY }, 'pay')).toEqual(PAY);
    const { code: _code, ...byAccount } = PAY;
    expect(payOrderRequest({ ...byAccount }, 'pay')).toEqual(byAccount);
    for (const bad of [{ ...PAY, pan: '6222021000000000017' }, { ...PAY, pinBlock: 'zz' }, { ...PAY, mobile: FIELD }, { ...PAY, amountMinor: 0 }, { ...PAY, currency: 'cny' }]) {
      expect(() => payOrderRequest(bad, 'pay')).toThrow(malformed);
    }
  });
});
