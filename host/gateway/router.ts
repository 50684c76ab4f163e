/**
 * The gateway's order interface for merchants (E1, E2), mounted at /gateway. Every request is
 * signed by the merchant (host/merchants/signedRequest.ts: Content-Digest, RSA signature over the
 * method, path, query and digest, a timestamp within five minutes, a request id good once):
 *
 *   POST /gateway/orders                     order JSON (orderRequest.ts)   201 the order, with its transaction code
 *        Idempotency-Key: <key> (optional, recommended): a retry with the same key and body gets
 *        the first answer again (Idempotent-Replayed: true); while the first is still running,
 *        409 IDEMPOTENCY_KEY_IN_PROGRESS with Retry-After: 1 (idempotencyKeys.ts)
 *   GET  /gateway/orders/:merchantOrderId                                   200 the order as it is now
 *        (a merchant that missed a notification asks here)
 *
 * A retry is signed afresh (new request id and time) over the same body: the signature layer
 * refuses a request seen before, the idempotency layer answers a repeated order.
 */
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { isPaypadError } from '../../shared/errors';
import type { Kysely } from 'kysely';
import type { JsonValue } from '../audit/auditStore';
import type { Schema } from '../db/schema';
import { rawBodyOf } from '../http/rawBody';
import type { SignerRegistry } from '../merchants/signedRequest';
import { requireSignedRequest, signerOf } from '../merchants/signedRoute';
import { GatewayMerchantMismatch } from './gatewayErrors';
import type { GatewayOrder } from './gatewayOrders';
import { checkIdempotencyKey, type IdempotencyKeys, type StoredAnswer } from './idempotencyKeys';
import type { OrderStore } from './orderStore';
import { parseOrderRequest } from './orderRequest';
import { formatTransactionCode } from './transactionCode';

export interface GatewayRouterDeps {
  readonly orders: OrderStore;
  readonly idempotencyKeys: IdempotencyKeys;
  /** The merchant directory's signers (their certified keys and used request ids). */
  readonly signers: SignerRegistry;
  readonly clock?: () => Date;
}

export function createGatewayRouter(deps: GatewayRouterDeps): Router {
  const clock = deps.clock ?? (() => new Date());
  const router = express.Router();

  const signed = requireSignedRequest(deps.signers, clock);

  router.post('/orders', signed, async (req, res) => {
    const merchantNo = signerOf(res).keyId;
    const order = parseOrderRequest(req.body);
    if (order.merchantNo !== merchantNo) throw new GatewayMerchantMismatch();
    const key = req.get('idempotency-key');
    const create = async (trx: Kysely<Schema>): Promise<StoredAnswer> => ({ status: 201, body: orderJson(await deps.orders.createIn(trx, order)) });
    if (key === undefined) {
      const created = await deps.orders.create(order);
      res.status(201).json(orderJson(created));
      return;
    }
    const digest = createHash('sha256').update(`${req.method} ${req.baseUrl}${req.path}\n`).update(rawBodyOf(req)).digest('hex');
    const { answer, replayed } = await deps.idempotencyKeys.run({ merchantNo, key: checkIdempotencyKey(key), digest }, create);
    if (replayed) res.set('Idempotent-Replayed', 'true');
    res.status(answer.status).json(answer.body);
  });

  router.get('/orders/:merchantOrderId', signed, async (req, res) => {
    const merchantNo = signerOf(res).keyId;
    res.set('Cache-Control', 'no-store').json(orderJson(await deps.orders.findForMerchant(merchantNo, String(req.params.merchantOrderId))));
  });

  // RFC 9110 §10.2.3: when to come back for the answer of a request still in progress.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (isPaypadError(err, 'IDEMPOTENCY_KEY_IN_PROGRESS')) res.set('Retry-After', '1');
    next(err);
  });
  return router;
}

/** An order as the merchant sees it: amounts in minor units, times in ISO 8601 UTC. */
export function orderJson(order: GatewayOrder): { [key: string]: JsonValue } {
  return {
    orderNumber: order.orderNumber,
    merchantNo: order.merchantNo,
    merchantOrderId: order.merchantOrderId,
    amount: order.amountMinor,
    currency: order.currency,
    description: order.description,
    status: order.state,
    transactionCode: order.transactionCode,
    transactionCodeDisplay: formatTransactionCode(order.transactionCode),
    createdAt: order.createdAt.toISOString(),
    expiresAt: order.expiresAt.toISOString(),
    notifyUrl: order.notifyUrl,
    ...(order.returnUrl === undefined ? {} : { returnUrl: order.returnUrl }),
    ...(order.account === undefined ? {} : { account: order.account }),
    ...(order.endedAt === undefined ? {} : { endedAt: order.endedAt.toISOString() }),
    ...(order.paymentReference === undefined ? {} : { paymentReference: order.paymentReference }),
    ...(order.failureReason === undefined ? {} : { failureReason: order.failureReason }),
  };
}
