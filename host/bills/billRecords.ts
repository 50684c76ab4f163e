/**
 * Bills as stored and as the seam shows them (billPlatform.ts): ids, the mobile numbers they are
 * for, and how a stored row reads at a given time (a bill in flight reads as open, an open bill past
 * its expiry as expired).
 */
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isMainlandMobileNumber } from '../../shared/mobileNumber';
import type { Bill, BillState } from './billPlatform';
import type { BillTables } from './tables';

export type BillRow = Selectable<BillTables['bills']>;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const BILL_ID = /^B[A-Z2-7]{20}$/;

/** 'B' and 20 base32 characters (100 random bits): unguessable, so a bill id is no key to others' bills. */
export function newBillId(): string {
  // 256 is a multiple of 32: each byte's low five bits are uniform.
  return `B${Array.from(randomBytes(20), (b) => BASE32[b & 31]).join('')}`;
}

/** A mainland-China mobile number in E.164 (+86 and 11 digits): the bill platform's form of a number. */
export function isBillMobile(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('+86') && isMainlandMobileNumber(value.slice(3));
}

/** @throws PaypadError MOBILE_NUMBER_INVALID naming `what`. */
export function assertBillMobile(value: unknown, what: string): asserts value is string {
  if (!isBillMobile(value)) throw new PaypadError('MOBILE_NUMBER_INVALID', `${what}: expected a mainland-China mobile number in E.164, such as +8613800138000`);
}

/** The 11 digits of an E.164 bill number, as host/sms and the masks take them. */
export function nationalNumber(mobile: string): string {
  return mobile.slice(3);
}

export function stateAt(row: Pick<BillRow, 'state' | 'expires_at'>, now: Date): BillState {
  if (row.state === 'paid' || row.state === 'refused') return row.state;
  return new Date(row.expires_at) <= now ? 'expired' : 'open';
}

export function billOf(row: BillRow, now: Date): Bill {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    merchantName: row.merchant_name,
    merchantCertificateSubject: row.merchant_certificate_subject,
    orderId: row.order_id,
    amountMinor: row.amount_minor,
    currency: row.currency,
    goods: row.goods,
    designatedMobile: row.designated_mobile,
    buyerMobile: row.buyer_mobile,
    receivingAccount: row.receiving_account,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    state: stateAt(row, now),
    ...(row.paid_masked_pan === null ? {} : { paidWithMaskedPan: row.paid_masked_pan }),
  };
}
