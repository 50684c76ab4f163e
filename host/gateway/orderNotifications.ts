/**
 * E8: the merchant's backend is told, asynchronously, how each order ended (order number, status,
 * amount). The message is an outbox row written in the transaction that ends the order
 * (host/outbox), so it exists exactly when the ending committed and is posted until the merchant
 * answers 2xx: at least once, retried with backoff for about a day, unordered. The merchant dedupes
 * on notificationId (one per order: an order ends once).
 */
import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import type { Schema } from '../db/schema';
import type { DeliveryOutcome, OutboxDelivery, OutboxHandler } from '../outbox/outboxWorker';
import { signRequest } from '../merchants/signedRequest';
import { enqueue } from '../outbox/outboxStore';
import type { GatewayOrder } from './gatewayOrders';

export const ORDER_NOTIFICATION_TOPIC = 'gateway.order-ended';

/** The JSON body the merchant's notify URL receives. */
export interface OrderNotification {
  readonly notificationId: string;
  readonly merchantNo: string;
  readonly merchantOrderId: string;
  readonly orderNumber: string;
  readonly status: 'paid' | 'failed' | 'expired';
  readonly amount: number;
  readonly currency: string;
  readonly endedAt: string;
  readonly paymentReference?: string;
  readonly failureReason?: string;
}

/** Queues the notification of an ended order inside `trx`, the transaction that ended it. */
export async function queueOrderNotification(trx: Kysely<Schema>, order: GatewayOrder, at: Date): Promise<void> {
  if (order.state !== 'paid' && order.state !== 'failed' && order.state !== 'expired') {
    throw new PaypadError('BAD_ARGUMENT', `order ${order.orderNumber} is ${order.state}: only an ended order is notified`);
  }
  const notificationId = `gwn-${order.orderNumber}`;
  const body: OrderNotification = {
    notificationId,
    merchantNo: order.merchantNo,
    merchantOrderId: order.merchantOrderId,
    orderNumber: order.orderNumber,
    status: order.state,
    amount: order.amountMinor,
    currency: order.currency,
    endedAt: (order.endedAt ?? at).toISOString(),
    ...(order.paymentReference === undefined ? {} : { paymentReference: order.paymentReference }),
    ...(order.failureReason === undefined ? {} : { failureReason: order.failureReason }),
  };
  await enqueue(trx, { topic: ORDER_NOTIFICATION_TOPIC, destination: order.merchantNo, idempotencyKey: notificationId, payload: { notifyUrl: order.notifyUrl, body: { ...body } } }, at);
}

/** Signs a notification's exact bytes for its target: the headers to send with it. */
export interface NotificationSigner {
  /** `nonce` is unique per attempt; the body's notificationId is what the merchant dedupes on. */
  sign(request: { readonly method: 'POST'; readonly url: URL; readonly body: Uint8Array; readonly nonce: string }): Readonly<Record<string, string>>;
}

/**
 * The platform signs its notifications as merchants sign their requests (host/merchants/signedRequest.ts),
 * with its own CA-certified key: the merchant checks them with the platform's certificate.
 */
export function platformNotificationSigner(identity: { readonly keyId: string; readonly privateKey: KeyObject }, clock: () => Date = () => new Date()): NotificationSigner {
  return {
    sign: ({ method, url, body, nonce }) => ({ ...signRequest({ method, path: url.pathname, query: url.search, body, keyId: identity.keyId, nonce, created: clock(), privateKey: identity.privateKey }) }),
  };
}

export interface NotificationDeliveryOptions {
  readonly signer: NotificationSigner;
  /** Per attempt (ms); default 10 s. The outbox lease must outlast it. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/**
 * The outbox handler: POSTs the signed JSON to the order's notify URL. 2xx is delivered; any other
 * answer, or none, is tried again (host/outbox/retryPolicy.ts), as Adyen and Stripe do: a merchant
 * backend answering 404 or 500 during a deployment still gets the message afterwards.
 */
export function orderNotificationHandler(options: NotificationDeliveryOptions): OutboxHandler {
  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async (delivery: OutboxDelivery): Promise<DeliveryOutcome> => {
    const { notifyUrl, body } = delivery.payload as unknown as { notifyUrl: string; body: OrderNotification };
    const url = new URL(notifyUrl);
    const bytes = new TextEncoder().encode(JSON.stringify(body));
    const headers = { 'content-type': 'application/json', ...options.signer.sign({ method: 'POST', url, body: bytes, nonce: `${delivery.idempotencyKey}.${delivery.attempt}` }) };
    let status: number;
    try {
      const response = await send(url, { method: 'POST', headers, body: bytes, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
      status = response.status;
      await response.body?.cancel();
    } catch (e) {
      throw new PaypadError('GATEWAY_NOTIFY_FAILED', `merchant ${delivery.destination} notify URL did not answer: ${(e as Error).name}`);
    }
    if (status >= 200 && status < 300) return { outcome: 'delivered' };
    throw new PaypadError('GATEWAY_NOTIFY_FAILED', `merchant ${delivery.destination} notify URL answered HTTP ${status}`);
  };
}
