/**
 * The client gateway's routes (docs/bill-payments.md "The phone client protocol"), for the bill
 * role's router to mount at /bills/client:
 *
 *   GET  /enrolment-key            the platform's enrolment public key           not MAC'd
 *   POST /enrol/start              phone id, number, session keys (enveloped)     not MAC'd
 *   POST /enrol/finish             the texted code                                MAC'd, pending K_mac
 *   POST /cards                    bind a card (D1)                               MAC'd
 *   GET  /bills                    the phone's open bills (D3)                    MAC'd
 *   POST /bills/:billId/pay        pay (D4-D6)                                    MAC'd
 *   POST /bills/:billId/refuse     refuse (D7)                                    MAC'd
 *   GET  /orders                   gateway orders open for the phone's account (E3) MAC'd
 *   POST /orders/find              a gateway order by its transaction code (E3)   MAC'd
 *   POST /orders/pay               pay a gateway order (E3, E6-E9)                MAC'd
 *
 * Bodies arrive raw: the MAC covers the bytes as sent (the client sends them as
 * application/vnd.paypad.phone+json, which the host's JSON parser leaves alone). Once a request's
 * MAC and sequence verified, its answer is MAC'd too, errors included; a request that did not
 * verify is answered by the host's error handler, unsigned, and the client does not act on it.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { toHex } from '../../../shared/bytes';
import { isPaypadError, PaypadError } from '../../../shared/errors';
import { billId as billIdField, refuseRequest } from '../../../shared/protocol/phoneClient';
import { PHONE_MAC_HEADERS, PHONE_MAX_BODY_BYTES, parsePhoneRequest, type ReceivedPhoneRequest } from '../../../shared/protocol/phoneClientEnvelope';
import { decodeJson, encodeJson } from '../../../shared/protocol/validate';
import { httpStatusOf } from '../../http/errors';
import type { KeyHandle } from '../../hsm/hsm';
import { RateLimited } from '../../payments/mobile/lookupBuckets';
import type { BoundCards } from './cards';
import type { Enrolments } from './enrolment';
import type { GatewayKeys } from './gatewayKeys';
import type { PhoneBillPayments } from './billPayments';
import type { PhoneOrderPayments } from './orderPayments';
import type { Phone, Phones } from './phones';

export interface BillClientRouterDeps {
  readonly keys: GatewayKeys;
  readonly enrolments: Enrolments;
  readonly phones: Phones;
  readonly cards: BoundCards;
  readonly payments: PhoneBillPayments;
  readonly orders: PhoneOrderPayments;
}

const rawBody = express.raw({ type: () => true, limit: PHONE_MAX_BODY_BYTES });

function bytesOf(req: Request): Uint8Array {
  return Buffer.isBuffer(req.body) ? new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.length) : new Uint8Array(0);
}

function sendJson(res: Response, status: number, body: Uint8Array, mac?: Uint8Array): void {
  if (mac) res.set(PHONE_MAC_HEADERS.mac, toHex(mac));
  res.status(status).type('application/json').set('Cache-Control', 'no-store').end(Buffer.from(body.buffer, body.byteOffset, body.length));
}

type Authenticated = { macKey: KeyHandle; phoneId: string; run(): Promise<unknown> };

/** A MAC'd exchange: `authenticate` verifies (its errors go out unsigned), then `run`'s answer or error is MAC'd. */
function macRoute(phones: Phones, authenticate: (request: ReceivedPhoneRequest, req: Request) => Promise<Authenticated>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    let request: ReceivedPhoneRequest;
    let auth: Authenticated;
    try {
      request = parsePhoneRequest(req.method, req.originalUrl, req.headers, bytesOf(req));
      auth = await authenticate(request, req);
    } catch (e) {
      next(e);
      return;
    }
    let status = 200;
    let message: unknown;
    try {
      message = await auth.run();
    } catch (e) {
      if (!isPaypadError(e)) req.log.error({ err: e }, 'phone request failed');
      const error = isPaypadError(e) ? e : new PaypadError('INTERNAL', 'internal error; the host logged the details');
      status = httpStatusOf(error.code);
      message = { error: { code: error.code, message: error.message.slice(0, 512) } };
    }
    const body = encodeJson(message);
    sendJson(res, status, body, await phones.responseMac(auth.macKey, status, auth.phoneId, request.seq, body));
  };
}

export function createBillClientRouter(deps: BillClientRouterDeps): Router {
  const router = express.Router();
  const phoneRoute = (handle: (phone: Phone, request: ReceivedPhoneRequest, req: Request) => Promise<unknown>) =>
    macRoute(deps.phones, async (request, req) => {
      const phone = await deps.phones.authenticate(request);
      return { macKey: phone.keys.mac, phoneId: phone.phoneId, run: () => handle(phone, request, req) };
    });

  router.get('/enrolment-key', async (_req, res) => {
    const key = await deps.keys.enrolmentKey();
    sendJson(res, 200, encodeJson({ v: 1, publicKey: toHex(key.publicKey), kcv: key.handle.kcv }));
  });
  router.post('/enrol/start', rawBody, async (req, res) => {
    sendJson(res, 200, encodeJson({ v: 1, ...(await deps.enrolments.start(bytesOf(req))) }));
  });
  router.post(
    '/enrol/finish',
    rawBody,
    macRoute(deps.phones, async (request) => {
      const pending = await deps.enrolments.authenticateFinish(request);
      return { macKey: pending.macKey, phoneId: request.phoneId, run: async () => ({ v: 1, ...(await pending.confirm()) }) };
    }),
  );
  router.post('/cards', rawBody, phoneRoute(async (phone, request) => ({ v: 1, card: await deps.cards.bind(phone, request.body) })));
  router.get('/bills', rawBody, phoneRoute(async (phone) => ({ v: 1, bills: await deps.payments.bills(phone) })));
  router.post('/bills/:billId/pay', rawBody, phoneRoute(async (phone, request, req) => deps.payments.pay(phone, billIdField(req.params.billId, 'billId'), request.body)));
  router.post('/bills/:billId/refuse', rawBody, phoneRoute(async (phone, request, req) => {
    decodeJson(request.body, PHONE_MAX_BODY_BYTES, refuseRequest, 'refuse');
    return { v: 1, bill: await deps.payments.refuse(phone, billIdField(req.params.billId, 'billId')) };
  }));
  router.get('/orders', rawBody, phoneRoute(async (phone) => ({ v: 1, orders: await deps.orders.orders(phone) })));
  router.post('/orders/find', rawBody, phoneRoute(async (phone, request) => ({ v: 1, order: await deps.orders.find(phone, request.body) })));
  router.post('/orders/pay', rawBody, phoneRoute(async (phone, request) => deps.orders.pay(phone, request.body)));
  // Retry-After for a refused enrolment start (RFC 6585 §4, RFC 9110 §10.2.3); then the host's error handler answers.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof RateLimited) res.set('Retry-After', String(err.retryAfterS));
    next(err);
  });
  return router;
}
