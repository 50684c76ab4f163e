/**
 * What the platform tells a merchant about its bills (D5, D7, D8), and how:
 *
 * - Each notification is a row written in the same transaction as the change it reports, with the
 *   bill's next sequence number (1, 2, ...) and a cursor increasing per merchant; its JSON body is
 *   fixed at that moment and is the exact bytes signed and sent.
 * - An outbox row (topic MERCHANT_NOTIFY_TOPIC, key "bn-<bill>-<sequence>") delivers it: POST to the
 *   merchant's notify URL, signed by the platform (host/merchants/signedRequest.ts, key id
 *   PLATFORM_KEY_ID, the platform's CA-certified RSA key). Any 2xx is an acknowledgement; anything
 *   else, or no answer in 10 s, is tried again on NOTIFICATION_RETRY_SCHEDULE_MS (immediately, then
 *   1 min doubling to 12 h, 15 attempts over about 2.7 days), after which the row is dead.
 * - Delivery is at least once: merchants dedupe on (billId, sequence) and order by sequence.
 * - Whatever a merchant missed it fetches with a signed GET of the notifications after its cursor
 *   (notificationsAfter), the same bodies.
 */
import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isoTimestamp, type Schema } from '../db/schema';
import { enqueue } from '../outbox/outboxStore';
import type { OutboxHandler } from '../outbox/outboxWorker';
import { retryDelayMs, type RetryPolicy } from '../outbox/retryPolicy';
import type { Merchant } from '../merchants/merchantDirectory';
import { signRequest } from '../merchants/signedRequest';
import type { BillRow } from './billRecords';
import type { BillTables } from './tables';

export const MERCHANT_NOTIFY_TOPIC = 'bills.merchant-notify';
/** The key id merchants verify platform notifications under (with the platform's certificate). */
export const PLATFORM_KEY_ID = 'paypad-bill-platform';
/** How long one delivery attempt waits for the merchant's answer. */
export const NOTIFY_TIMEOUT_MS = 10_000;

/** The outbox policy of merchant notifications: no jitter, so the schedule below is what happens. */
export const NOTIFICATION_RETRY_POLICY: RetryPolicy = Object.freeze({ baseMs: 60_000, capMs: 12 * 60 * 60_000, maxAttempts: 15 });
export const NOTIFICATION_RETRY_RANDOM = (): number => 1;

/** When each attempt is made, in ms after the change: 0, then after each failure the policy's delay. */
export const NOTIFICATION_RETRY_SCHEDULE_MS: readonly number[] = Object.freeze(
  Array.from({ length: NOTIFICATION_RETRY_POLICY.maxAttempts }, (_, i) => i).reduce<number[]>((at, i) => [...at, i === 0 ? 0 : at[i - 1] + retryDelayMs(NOTIFICATION_RETRY_POLICY, i, NOTIFICATION_RETRY_RANDOM)], []),
);

export type NotificationEvent = 'bill.paid' | 'bill.payment_declined' | 'bill.refused';

/** The body a merchant receives (JSON). */
export interface NotificationBody {
  readonly event: NotificationEvent;
  readonly merchantId: string;
  readonly billId: string;
  readonly orderId: string;
  /** 1, 2, ... per bill: order by it, dedupe on (billId, sequence). */
  readonly sequence: number;
  readonly occurredAt: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly state: 'open' | 'paid' | 'refused';
  readonly designatedMobile: string;
  readonly buyerMobile: string;
  /** D8: the designated number paid (or refused) for the buyer. */
  readonly paidForAnother: boolean;
  readonly payerMobile?: string;
  readonly maskedPan?: string;
  readonly reference?: string;
  readonly responseCode?: string;
  /** bill.refused: 'payer' (the user refused) or 'declined' (the bank declined for good). */
  readonly reason?: 'payer' | 'declined';
}

export interface StoredNotification {
  readonly cursor: number;
  readonly body: NotificationBody;
}

/**
 * Inside the caller's transaction: takes the bill's next sequence number, stores the notification
 * and queues its delivery. `bill` is the row as the transaction changed it.
 */
export async function recordNotification(trx: Kysely<Schema>, bill: BillRow, event: NotificationEvent, details: Partial<NotificationBody>, at: Date): Promise<NotificationBody> {
  const db = trx.withTables<BillTables>();
  const taken = await db.updateTable('bills').set((eb) => ({ notify_sequence: eb('notify_sequence', '+', 1) })).where('id', '=', bill.id).returning('notify_sequence').executeTakeFirstOrThrow();
  const body: NotificationBody = {
    event,
    merchantId: bill.merchant_id,
    billId: bill.id,
    orderId: bill.order_id,
    sequence: taken.notify_sequence,
    occurredAt: isoTimestamp(at),
    amountMinor: bill.amount_minor,
    currency: bill.currency,
    state: bill.state === 'paid' || bill.state === 'refused' ? bill.state : 'open',
    designatedMobile: bill.designated_mobile,
    buyerMobile: bill.buyer_mobile,
    paidForAnother: bill.designated_mobile !== bill.buyer_mobile,
    ...details,
  };
  const row = await db
    .insertInto('bill_notifications')
    .values({ merchant_id: bill.merchant_id, bill_id: bill.id, sequence: body.sequence, event, body: JSON.stringify(body), created_at: isoTimestamp(at) })
    .returning('id')
    .executeTakeFirstOrThrow();
  await enqueue(trx, { topic: MERCHANT_NOTIFY_TOPIC, destination: bill.merchant_id, payload: { notification: row.id }, idempotencyKey: `bn-${bill.id}-${body.sequence}` }, at);
  return body;
}

/** The pull API: a merchant's notifications after `cursor`, oldest first, at most `limit`. */
export async function notificationsAfter(schemaDb: Kysely<Schema>, merchantId: string, cursor: number, limit: number): Promise<StoredNotification[]> {
  if (!Number.isSafeInteger(cursor) || cursor < 0) throw new PaypadError('BAD_REQUEST', 'after: expected a cursor, a whole number from 0');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100) throw new PaypadError('BAD_REQUEST', 'limit: expected 1 to 100');
  const rows = await schemaDb
    .withTables<BillTables>()
    .selectFrom('bill_notifications')
    .select(['id', 'body'])
    .where('merchant_id', '=', merchantId)
    .where('id', '>', cursor)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ cursor: r.id, body: JSON.parse(r.body) as NotificationBody }));
}

export interface NotifierDeps {
  readonly db: Kysely<Schema>;
  readonly merchantOf: (merchantId: string) => Promise<Merchant | undefined>;
  readonly platformKey: KeyObject;
  readonly clock: () => Date;
}

/** The outbox handler: signs the stored body and POSTs it to the merchant's notify URL. */
export function merchantNotifyHandler(deps: NotifierDeps): OutboxHandler {
  return async ({ payload, attempt }) => {
    const row = await deps.db.withTables<BillTables>().selectFrom('bill_notifications').selectAll().where('id', '=', Number(payload.notification)).executeTakeFirst();
    if (row === undefined) return { outcome: 'discarded', reason: 'the notification row is gone' };
    const merchant = await deps.merchantOf(row.merchant_id);
    if (merchant === undefined) return { outcome: 'discarded', reason: `merchant ${row.merchant_id} is not enrolled` };
    const url = new URL(merchant.notifyUrl);
    const body = new TextEncoder().encode(row.body);
    const headers = signRequest({ method: 'POST', path: url.pathname, query: url.search, body, keyId: PLATFORM_KEY_ID, nonce: `${row.bill_id}.${row.sequence}.${attempt}`, created: deps.clock(), privateKey: deps.platformKey });
    let status: number;
    try {
      const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS), redirect: 'error' });
      status = answer.status;
      await answer.body?.cancel();
    } catch (e) {
      throw Object.assign(new PaypadError('HTTP_FAILED', `merchant ${row.merchant_id} did not answer: ${(e as Error).name}`), { cause: e });
    }
    if (status < 200 || status > 299) throw new PaypadError('HTTP_FAILED', `merchant ${row.merchant_id} answered ${status}`);
    return { outcome: 'delivered' };
  };
}
