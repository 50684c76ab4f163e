/**
 * A small in-memory BillPlatform for the phone client's tests until they run on the real platform
 * (host/bills): bills are added by the test (as a merchant's order would make them), `pay` debits
 * the card through the simulated provider with the PIN block it is given (so the client gateway's
 * PIN translation to the zone PIN key is checked by the simulated bank), and D6's outcomes follow
 * the bank's answer: 00 paid, 51 insufficient funds (the bill stays open), anything else declined.
 */
import { randomBytes } from 'node:crypto';
import type { PaymentProvider } from '../../host/payments/paymentProvider';
import { type Bill, BillAlreadyPaid, BillNotForThisNumber, BillNotFound, type BillPaymentOutcome, type BillPlatform, BillRefused } from '../../host/bills/billPlatform';
import { maskPan } from '../../shared/pan';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export interface BillPlatformDouble extends BillPlatform {
  /** A new open bill for `designatedMobile` (E.164), announced to onBill listeners. */
  addBill(fields: { designatedMobile: string; amountMinor: number; buyerMobile?: string; goods?: string }): Bill;
  /** Every pay() call's outcome or error code, in order. */
  readonly attempts: string[];
}

export function createBillPlatformDouble(provider: PaymentProvider, now: () => Date = () => new Date()): BillPlatformDouble {
  const bills = new Map<string, Bill>();
  const listeners = new Set<(bill: Bill) => void>();
  const attempts: string[] = [];
  const update = (bill: Bill, change: Partial<Bill>): Bill => {
    const next = { ...bill, ...change };
    bills.set(bill.id, next);
    return next;
  };
  const get = (id: string): Bill => {
    const bill = bills.get(id);
    if (!bill) throw new BillNotFound(id);
    return bill;
  };
  return {
    attempts,
    addBill({ designatedMobile, amountMinor, buyerMobile, goods }) {
      const id = 'B' + Array.from(randomBytes(20), (b) => BASE32[b & 31]).join('');
      const created = now();
      const bill: Bill = {
        id, merchantId: '100000000000001', merchantName: 'Tea House (test)', merchantCertificateSubject: 'CN=Tea House (test),O=paypad test merchants',
        orderId: `O-${id.slice(1, 9)}`, amountMinor, currency: 'CNY', goods: goods ?? 'Longjing tea, 250 g', designatedMobile, buyerMobile: buyerMobile ?? designatedMobile,
        receivingAccount: '6222021000000000058', createdAt: created, expiresAt: new Date(created.getTime() + 30 * 60_000), state: 'open',
      };
      bills.set(id, bill);
      for (const l of listeners) l(bill);
      return bill;
    },
    async openBills(mobile) {
      return [...bills.values()].filter((b) => b.designatedMobile === mobile && b.state === 'open').sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    },
    async bill(id) {
      return get(id);
    },
    async pay(payment): Promise<BillPaymentOutcome> {
      const bill = get(payment.billId);
      try {
        if (bill.designatedMobile !== payment.payerMobile) throw new BillNotForThisNumber(bill.id);
        if (bill.state === 'paid') throw new BillAlreadyPaid(bill.id);
        if (bill.state === 'refused') throw new BillRefused(bill.id);
      } catch (e) {
        attempts.push((e as { code: string }).code);
        throw e;
      }
      const reference = Array.from(randomBytes(12), (b) => BASE32[b & 31]).join('');
      const answer = await provider.authorise({ reference, pan: payment.pan, amount: bill.amountMinor, currency: bill.currency, pinBlock: payment.pinBlock });
      const outcome: BillPaymentOutcome =
        answer.responseCode === '00'
          ? { outcome: 'paid', bill: update(bill, { state: 'paid', paidWithMaskedPan: maskPan(payment.pan) }), reference }
          : answer.responseCode === '51'
            ? { outcome: 'insufficient_funds', bill }
            : { outcome: 'declined', bill, responseCode: answer.responseCode };
      attempts.push(outcome.outcome);
      return outcome;
    },
    async refuse(billId, payerMobile) {
      const bill = get(billId);
      if (bill.designatedMobile !== payerMobile) throw new BillNotForThisNumber(bill.id);
      if (bill.state === 'paid') throw new BillAlreadyPaid(bill.id);
      return update(bill, { state: 'refused' });
    },
    onBill(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
