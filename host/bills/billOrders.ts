/**
 * D2, D3: a merchant's order becomes a bill. The order arrives signed (the route checked the
 * signature, so `merchant` is who sent it); the bill takes the merchant's verified name from its
 * certificate, the receiving account from the directory, and an expiry the merchant may choose
 * between 1 and 60 minutes (15 by default). The same order id sent again with the same fields
 * returns the bill it made; with other fields it is refused.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isoTimestamp, type Schema } from '../db/schema';
import type { Merchant } from '../merchants/merchantDirectory';
import { CURRENCY_NUMERIC } from '../posp/mobilePayment';
import type { Bill } from './billPlatform';
import { billOf, type BillRow, isBillMobile, newBillId } from './billRecords';
import type { BillTables } from './tables';

export const DEFAULT_EXPIRY_MINUTES = 15;
export const MIN_EXPIRY_MINUTES = 1;
export const MAX_EXPIRY_MINUTES = 60;
/** 10 000 000.00 in minor units: more is not a bill paid from a phone. */
const MAX_AMOUNT_MINOR = 1_000_000_000;
const ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The order as the merchant sends it (JSON). */
export interface BillOrder {
  readonly orderId: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly goods: string;
  /** E.164: whose payment client gets the bill (D3) and pays it. */
  readonly designatedMobile: string;
  /** E.164: who ordered; another number than designatedMobile when someone else pays (D8). */
  readonly buyerMobile: string;
  /** When given, it must be the merchant's enrolled receiving account. */
  readonly receivingAccount?: string;
  /** 1 to 60; 15 when absent. */
  readonly expiresInMinutes?: number;
}

/** @throws PaypadError BILL_ORDER_INVALID naming the field and what was expected. */
export function readBillOrder(input: unknown, merchant: Merchant): Required<BillOrder> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('the order must be a JSON object');
  const o = input as Record<string, unknown>;
  const known = new Set(['orderId', 'amountMinor', 'currency', 'goods', 'designatedMobile', 'buyerMobile', 'receivingAccount', 'expiresInMinutes']);
  const unknown = Object.keys(o).find((k) => !known.has(k));
  if (unknown !== undefined) throw invalid(`unknown field ${JSON.stringify(unknown.slice(0, 40))}`);
  if (typeof o.orderId !== 'string' || !ORDER_ID.test(o.orderId)) throw invalid('orderId: 1-64 of A-Z a-z 0-9 _ -');
  if (typeof o.amountMinor !== 'number' || !Number.isSafeInteger(o.amountMinor) || o.amountMinor < 1 || o.amountMinor > MAX_AMOUNT_MINOR) throw invalid(`amountMinor: a whole number of minor units from 1 to ${MAX_AMOUNT_MINOR}`);
  if (typeof o.currency !== 'string' || CURRENCY_NUMERIC[o.currency] === undefined) throw invalid(`currency: one of ${Object.keys(CURRENCY_NUMERIC).join(', ')}`);
  if (typeof o.goods !== 'string' || o.goods.trim() === '' || o.goods.length > 200 || /[\u0000-\u001f\u007f]/.test(o.goods)) throw invalid('goods: 1-200 printable characters');
  if (!isBillMobile(o.designatedMobile)) throw invalid('designatedMobile: a mainland-China mobile number in E.164, such as +8613800138000');
  if (!isBillMobile(o.buyerMobile)) throw invalid('buyerMobile: a mainland-China mobile number in E.164, such as +8613800138000');
  if (o.receivingAccount !== undefined && o.receivingAccount !== merchant.receivingAccount) throw invalid("receivingAccount: not the merchant's enrolled receiving account");
  const minutes = o.expiresInMinutes ?? DEFAULT_EXPIRY_MINUTES;
  if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < MIN_EXPIRY_MINUTES || minutes > MAX_EXPIRY_MINUTES) {
    throw invalid(`expiresInMinutes: a whole number of minutes from ${MIN_EXPIRY_MINUTES} to ${MAX_EXPIRY_MINUTES}`);
  }
  return {
    orderId: o.orderId,
    amountMinor: o.amountMinor,
    currency: o.currency,
    goods: o.goods,
    designatedMobile: o.designatedMobile,
    buyerMobile: o.buyerMobile,
    receivingAccount: merchant.receivingAccount,
    expiresInMinutes: minutes,
  };
}

/**
 * Stores the bill for `order` (read by readBillOrder), or returns the one the same order made.
 * @throws PaypadError BILL_ORDER_EXISTS_DIFFERENT when the order id was used with other fields.
 */
export async function storeBill(schemaDb: Kysely<Schema>, merchant: Merchant, order: Required<BillOrder>, now: Date): Promise<{ bill: Bill; created: boolean }> {
  const db = schemaDb.withTables<BillTables>();
  const digest = createHash('sha256')
    .update(JSON.stringify([order.orderId, order.amountMinor, order.currency, order.goods, order.designatedMobile, order.buyerMobile, order.receivingAccount, order.expiresInMinutes]))
    .digest('hex');
  const row: BillRow = {
    id: newBillId(),
    merchant_id: merchant.merchantId,
    merchant_name: merchant.legalName,
    merchant_certificate_subject: merchant.certificateSubject,
    order_id: order.orderId,
    order_digest: digest,
    amount_minor: order.amountMinor,
    currency: order.currency,
    goods: order.goods,
    designated_mobile: order.designatedMobile,
    buyer_mobile: order.buyerMobile,
    receiving_account: order.receivingAccount,
    created_at: isoTimestamp(now),
    expires_at: isoTimestamp(new Date(now.getTime() + order.expiresInMinutes * 60_000)),
    state: 'open',
    paying_until: null,
    paid_masked_pan: null,
    paid_reference: null,
    paid_at: null,
    refused_reason: null,
    refused_at: null,
    notify_sequence: 0,
  };
  const inserted = await db.insertInto('bills').values(row).onConflict((oc) => oc.columns(['merchant_id', 'order_id']).doNothing()).executeTakeFirst();
  if (inserted.numInsertedOrUpdatedRows === 1n) return { bill: billOf(row, now), created: true };
  const existing = await db.selectFrom('bills').selectAll().where('merchant_id', '=', merchant.merchantId).where('order_id', '=', order.orderId).executeTakeFirstOrThrow();
  if (existing.order_digest !== digest) throw new PaypadError('BILL_ORDER_EXISTS_DIFFERENT', `order ${order.orderId} was sent before with other fields; use a new order id`);
  return { bill: billOf(existing, now), created: false };
}

function invalid(message: string): PaypadError {
  return new PaypadError('BILL_ORDER_INVALID', message);
}
