/**
 * The checkout page's routes (E3, E4, E9), mounted at /gateway/checkout on the host's listener:
 *
 *   GET  /                          the page (?code=<transaction code> or ?order=<order number>, &reader=<reader id>)
 *   GET  /checkout.js, /checkout.css its script (TypeScript bundled by esbuild on first request) and style
 *   POST /sessions                  { code | orderNumber, readerId? }  -> 201 the checkout: merchant, amount, code, reader status
 *   GET  /sessions/:id/events       Server-Sent Events: the reader connected/disconnected (live), each payment step, the result
 *   POST /sessions/:id/pay          { requestId, mobile, card: { kind: 'reader', pinOnPad } | { kind: 'swipe', track2 } }
 *                                   -> 200 paid, or the typed error (the page shows its message)
 *
 * The page never receives card data but the last four digits; it sends track 2 only in the
 * keyboard-wedge mode (the weaker mode: the page saw the swipe anyway), and never a PIN.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';
import { asciiToBytes } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { appBundle } from '../bills/web/appBundle';
import type { CheckoutEvent, CheckoutService, PayRequest } from './checkoutService';
import { orderJson } from './router';
import { formatTransactionCode } from './transactionCode';

const WEB = join(dirname(fileURLToPath(import.meta.url)), 'web');
export const CHECKOUT_PAGE_ENTRY = join(WEB, 'checkoutPage.ts');
const PAGE_HEADERS = Object.freeze({
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
});
/** An idle event stream gets a comment this often, so proxies keep it open. */
const KEEPALIVE_MS = 15_000;
const TRACK2_CHARS = /^[0-9]{12,19}=[0-9]{4,}$/;

export function createCheckoutRouter(deps: { readonly service: CheckoutService }): Router {
  const { service } = deps;
  const router = express.Router();
  const html = readFileSync(join(WEB, 'checkout.html'), 'utf8');
  const css = readFileSync(join(WEB, 'checkout.css'), 'utf8');

  router.get('/', (_req, res) => {
    res.set(PAGE_HEADERS).type('html').send(html);
  });
  router.get('/checkout.css', (_req, res) => {
    res.set(PAGE_HEADERS).type('css').send(css);
  });
  router.get('/checkout.js', async (_req, res) => {
    const bundle = await appBundle(CHECKOUT_PAGE_ENTRY, 'esm');
    res.set(PAGE_HEADERS).type('js').send(bundle.js);
  });

  router.post('/sessions', async (req, res) => {
    const body = (req.body ?? {}) as { code?: unknown; orderNumber?: unknown; readerId?: unknown };
    const opened = await service.open({
      ...(typeof body.code === 'string' ? { code: body.code.replace(/[\s-]/g, '') } : {}),
      ...(typeof body.orderNumber === 'string' ? { orderNumber: body.orderNumber } : {}),
      ...(body.readerId === undefined || body.readerId === '' ? {} : { readerId: body.readerId as string }),
    });
    const { order } = opened;
    res.status(201).set('Cache-Control', 'no-store').json({
      checkoutId: opened.checkoutId,
      merchantName: opened.merchantName,
      orderNumber: order.orderNumber,
      merchantOrderId: order.merchantOrderId,
      description: order.description,
      amount: order.amountMinor,
      currency: order.currency,
      transactionCode: order.transactionCode,
      transactionCodeDisplay: formatTransactionCode(order.transactionCode),
      expiresAt: order.expiresAt.toISOString(),
      ...(order.returnUrl === undefined ? {} : { returnUrl: order.returnUrl }),
      ...(opened.readerId === undefined ? {} : { readerId: opened.readerId }),
      reader: opened.reader,
    });
  });

  router.get('/sessions/:id/events', (req, res) => {
    const id = String(req.params.id);
    service.session(id); // NOT_FOUND before the stream opens
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write(': checkout events\n\n');
    const send = (event: CheckoutEvent) => res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    const unsubscribe = service.subscribe(id, send);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
    req.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
  });

  router.post('/sessions/:id/pay', async (req, res) => {
    const result = await service.pay(String(req.params.id), parsePayRequest(req.body));
    res.set('Cache-Control', 'no-store').json({ status: 'paid', reference: result.reference, maskedPan: result.maskedPan, order: orderJson(result.order) });
  });
  return router;
}

/** The page's pay request; BAD_ARGUMENT naming the field (never echoing a track). */
function parsePayRequest(body: unknown): PayRequest {
  const { requestId, mobile, card } = (body ?? {}) as { requestId?: unknown; mobile?: unknown; card?: { kind?: unknown; pinOnPad?: unknown; track2?: unknown } };
  if (typeof card !== 'object' || card === null) throw new PaypadError('BAD_ARGUMENT', "card: { kind: 'reader' } or { kind: 'swipe', track2 }");
  let parsed: PayRequest['card'];
  if (card.kind === 'reader') parsed = { kind: 'reader', pinOnPad: card.pinOnPad === true };
  else if (card.kind === 'swipe' && typeof card.track2 === 'string' && TRACK2_CHARS.test(card.track2) && card.track2.length <= 37) parsed = { kind: 'swipe', track2: asciiToBytes(card.track2) };
  else throw new PaypadError('CARD_SWIPE_INVALID', 'card: the swipe did not read as track 2; swipe again');
  return { requestId: requestId as string, mobile: mobile as string, card: parsed };
}
