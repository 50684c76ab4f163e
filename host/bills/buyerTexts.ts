/**
 * The platform's own texts to a bill's buyer (D7, D8), queued through the outbox in the
 * transaction that changed the bill (topic BUYER_SMS_TOPIC, delivered by host/sms): a refused bill,
 * and a bill someone else paid for the buyer. Numbers of others are masked (138****8000); no card
 * number appears.
 */
import type { Kysely } from 'kysely';
import { maskMobileNumber } from '../../shared/mobileNumber';
import type { Schema } from '../db/schema';
import { enqueue } from '../outbox/outboxStore';
import { formatAmount } from '../payments/mobile/notifications';
import { type BillRow, nationalNumber } from './billRecords';

export const BUYER_SMS_TOPIC = 'bills.buyer-sms';

export function refusedText(bill: BillRow, reason: 'payer' | 'declined'): string {
  const who = reason === 'declined' ? "the paying card's bank declined it" : bill.designated_mobile === bill.buyer_mobile ? 'you refused it' : `${maskMobileNumber(nationalNumber(bill.designated_mobile))} refused it`;
  return `paypad: the bill of ${formatAmount(bill.amount_minor, bill.currency)} from ${bill.merchant_name} for your order ${bill.order_id} was not paid: ${who}. Nothing was charged.`;
}

export function paidForYouText(bill: BillRow, reference: string): string {
  return `paypad: ${maskMobileNumber(nationalNumber(bill.designated_mobile))} paid ${formatAmount(bill.amount_minor, bill.currency)} to ${bill.merchant_name} for your order ${bill.order_id}, reference ${reference}.`;
}

/** Inside the caller's transaction; once per bill and kind of text. */
export async function queueBuyerText(trx: Kysely<Schema>, bill: BillRow, kind: 'refused' | 'paid-for-you', text: string, at: Date): Promise<void> {
  await enqueue(trx, { topic: BUYER_SMS_TOPIC, destination: bill.buyer_mobile, payload: { to: bill.buyer_mobile, text }, idempotencyKey: `bs-${bill.id}-${kind}` }, at);
}
