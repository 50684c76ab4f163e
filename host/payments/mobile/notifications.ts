/**
 * The texts the platform sends (the patent's communication unit, CN101976403A [0041]) and how they
 * leave: the payer's success message (C8) and the payee's credit notice (C9) go through the outbox
 * (host/outbox) under the topic MOBILE_SMS_TOPIC, so an SMS provider that is down delays a message
 * and loses none, and a retried payment or reconciliation queues it once (its idempotency key).
 * Verification codes do not: a code must not sit in a table in clear, so it is sent at once and a
 * provider that is down fails the registration step (the payee asks again).
 *
 * No text carries a full card number (6/4 masks only) or a PIN; the SMS simulator masks again.
 */
import type { Kysely } from 'kysely';
import { isPaypadError } from '../../../shared/errors';
import { maskMobileNumber, mobileNumberToE164 } from '../../../shared/mobileNumber';
import type { Schema } from '../../db/schema';
import { enqueue } from '../../outbox/outboxStore';
import { type OutboxHandler, permanentFailure } from '../../outbox/outboxWorker';
import type { SmsGateway } from '../../sms/smsGateway';

export const MOBILE_SMS_TOPIC = 'mobile.sms';

/** Minor units as the amount a person reads: CNY 123.45 (ISO 4217 exponent 2 for the currencies the provider settles). */
export function formatAmount(amount: number, currency: string): string {
  return `${currency} ${Math.floor(amount / 100)}.${String(amount % 100).padStart(2, '0')}`;
}

export function verificationCodeText(code: string, minutes: number): string {
  return `paypad: your verification code is ${code}, good for ${minutes} minutes. Never give it to anyone: paypad will never call you to ask for it.`;
}

export function payerSuccessText(p: { amount: number; currency: string; maskedName: string; payeeMobile: string; maskedPan: string; reference: string }): string {
  return `paypad: you paid ${formatAmount(p.amount, p.currency)} to ${p.maskedName} (${maskMobileNumber(p.payeeMobile)}) from card ${p.maskedPan}, reference ${p.reference}.`;
}

/**
 * C9: the payee is told who paid by the payer's mobile number (the patent's way of telling payers
 * apart, [0028]), masked to 138****8000: enough for a payee who knows the payer, and a payee who
 * is a fraudster (push-payment fraud starts with a number to call) learns no number to use.
 */
export function payeeCreditText(p: { amount: number; currency: string; payerMobile: string | null; terminalId: string; maskedCard: string; reference: string }): string {
  const from = p.payerMobile ? `from ${maskMobileNumber(p.payerMobile)}` : `from a card payment at terminal ${p.terminalId}`;
  return `paypad: ${formatAmount(p.amount, p.currency)} ${from} has been credited to your card ${p.maskedCard}, reference ${p.reference}.`;
}

/** Queues `text` for `mobile` under `key` (letters, digits, '-', '_'; at most 64): once per key. */
export async function queueSms(db: Kysely<Schema>, mobile: string, text: string, key: string, at: Date): Promise<void> {
  const to = mobileNumberToE164(mobile);
  await enqueue(db, { topic: MOBILE_SMS_TOPIC, destination: to, payload: { to, text }, idempotencyKey: key }, at);
}

/** The outbox handler for MOBILE_SMS_TOPIC: a message the provider refuses as such goes dead at once. */
export function mobileSmsHandler(gateway: SmsGateway): OutboxHandler {
  return async ({ payload }) => {
    try {
      await gateway.send(String(payload.to), String(payload.text));
      return { outcome: 'delivered' };
    } catch (e) {
      if (isPaypadError(e, 'SMS_MESSAGE_INVALID')) throw permanentFailure(e);
      throw e;
    }
  };
}
