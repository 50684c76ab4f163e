/**
 * E1, E2, E3, E8 end to end: a merchant enrolled with a CA-certified RSA key sends signed orders to
 * the real host (`startHost`, every role) over loopback at /gateway/orders. Idempotency-Key: the
 * same key and body give the stored answer and one order; another body is 422; concurrent ones run
 * once. A replayed, stale, tampered or impersonating request is refused and creates nothing. Two
 * payments claim an order at once and one wins; when it is paid the merchant's backend gets a
 * notification signed by the platform (order number, status, amount), and the signed status query
 * agrees.
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_KEY_ID } from '../../host/bills/merchantNotifications';
import { loadConfig } from '../../host/config';
import type { OrderNotification } from '../../host/gateway/orderNotifications';
import { keepRawBody } from '../../host/http/rawBody';
import { createRsaKeyAndCsr, privateKeyOf, publicKeyOfCertificate } from '../../host/merchants/rsaIdentity';
import { signRequest, verifySignedRequest } from '../../host/merchants/signedRequest';
import { signedRequestOf } from '../../host/merchants/signedRoute';
import { type RunningHost, startHost } from '../../host/server';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { e2eDatabase, type E2eDatabase } from './support/e2eDatabase';
import { eventually, LOOPBACK } from './support/loopback';
import { hostEnv } from './support/paypadCli';

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown> & { error?: { code: string } };
}

describe('E1-E3, E8: the payment gateway over loopback', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-gateway-e2e-'));
  const log = captureLogger('info');
  let database: E2eDatabase;
  let host: RunningHost;
  let merchantNo: string;
  let merchantKey: KeyObject;
  let receiver: Server;
  let notifyUrl: string;
  const received: { body: OrderNotification; verified: boolean }[] = [];

  beforeAll(async () => {
    database = await e2eDatabase();
    const config = loadConfig({ ...hostEnv(join(root, 'data'), database.databaseUrl), PAYPAD_HOST: LOOPBACK, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '0' });
    host = await startHost(config, { logger: log.logger });

    // The merchant's backend: verifies the platform's signature with the platform's certificate.
    const platformKey = publicKeyOfCertificate(host.bills.identity.certificatePem);
    const nonces = new Set<string>();
    const app = express();
    app.use(express.json({ verify: keepRawBody }));
    app.post('/gateway-notify', async (req, res) => {
      let verified = true;
      try {
        await verifySignedRequest(signedRequestOf(req), { publicKeyOf: async (id) => (id === PLATFORM_KEY_ID ? platformKey : undefined), rememberNonce: async (id, n) => !nonces.has(`${id} ${n}`) && Boolean(nonces.add(`${id} ${n}`)) }, new Date());
      } catch {
        verified = false;
      }
      received.push({ body: req.body as OrderNotification, verified });
      res.status(verified ? 200 : 401).json({});
    });
    receiver = await new Promise<Server>((resolve) => {
      const s = app.listen(0, LOOPBACK, () => resolve(s));
    });
    const address = receiver.address();
    notifyUrl = `http://${LOOPBACK}:${typeof address === 'object' && address ? address.port : 0}/gateway-notify`;

    // Enrolment: the merchant's own key pair; only its CSR goes to the platform's CA.
    const { privateKeyPem, csrPem } = await createRsaKeyAndCsr({ role: 'merchant', name: 'Tea House Online' });
    const merchant = await host.bills.merchants.register({ legalName: 'Tea House Online', csrPem, receivingAccount: 'CN6212260000000001', notifyUrl });
    merchantNo = merchant.merchantId;
    merchantKey = privateKeyOf(privateKeyPem);
  }, 120_000);

  afterAll(async () => {
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    await host?.close({ graceMs: 1_000 });
    await database?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  const order = (overrides: Record<string, unknown> = {}) => ({
    merchantNo,
    merchantOrderId: `MO-${randomUUID().slice(0, 8)}`,
    amount: 12_800,
    currency: 'CNY',
    description: 'Two tea cups',
    notifyUrl,
    ...overrides,
  });

  /** One signed request, as a merchant sends it: a fresh request id and time unless told otherwise. */
  const send = async (method: 'GET' | 'POST', path: string, json: unknown, options: { key?: string; nonce?: string; created?: Date; tamper?: boolean } = {}): Promise<Answer> => {
    const body = json === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(json));
    const signed = signRequest({ method, path, body, keyId: merchantNo, nonce: options.nonce ?? randomUUID(), created: options.created ?? new Date(), privateKey: merchantKey });
    const sent = options.tamper ? new TextEncoder().encode(JSON.stringify({ ...(json as object), amount: 1 })) : body;
    const response = await fetch(`${host.url}${path}`, {
      method,
      headers: { ...signed, ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...(options.key ? { 'idempotency-key': options.key } : {}) },
      ...(method === 'GET' ? {} : { body: sent }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Answer['body'] };
  };
  const ordersOf = async (merchantOrderId: string) => {
    try {
      return [await host.gateway.orders.findForMerchant(merchantNo, merchantOrderId)];
    } catch {
      return [];
    }
  };

  it('E1, E2: a signed order is created with a 12-digit transaction code; the same key and body get the same answer, once', async () => {
    const key = randomUUID();
    const o = order({ expiresInMinutes: 30, account: 'alice@paypad' });
    const first = await send('POST', '/gateway/orders', o, { key });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ merchantNo, merchantOrderId: o.merchantOrderId, amount: 12_800, currency: 'CNY', status: 'created', account: 'alice@paypad' });
    expect(first.body.transactionCode).toMatch(/^\d{12}$/);
    expect(first.body.transactionCodeDisplay).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(Date.parse(first.body.expiresAt as string) - Date.parse(first.body.createdAt as string)).toBe(30 * 60_000);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // The retry is signed afresh (new request id), same key, same body.
    const again = await send('POST', '/gateway/orders', o, { key });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await ordersOf(o.merchantOrderId)).toHaveLength(1);
    // The user finds it by the code, typed as shown.
    expect((await host.gateway.orders.findByCode(first.body.transactionCodeDisplay as string)).orderNumber).toBe(first.body.orderNumber);
    expect((await host.gateway.orders.listForAccount('alice@paypad')).map((x) => x.orderNumber)).toContain(first.body.orderNumber);
  });

  it('E1: the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; the same order id under a new key is 409 GATEWAY_ORDER_EXISTS', async () => {
    const key = randomUUID();
    const o = order();
    expect((await send('POST', '/gateway/orders', o, { key })).status).toBe(201);
    const reused = await send('POST', '/gateway/orders', { ...o, amount: 99 }, { key });
    expect([reused.status, reused.body.error?.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    const exists = await send('POST', '/gateway/orders', { ...o, amount: 99 }, { key: randomUUID() });
    expect([exists.status, exists.body.error?.code]).toEqual([409, 'GATEWAY_ORDER_EXISTS']);
    expect((await ordersOf(o.merchantOrderId))[0]?.amountMinor).toBe(12_800);
  });

  it('E1: five requests with one key at once create one order; each answer is that order or 409 IDEMPOTENCY_KEY_IN_PROGRESS', async () => {
    const key = randomUUID();
    const o = order();
    const answers = await Promise.all(Array.from({ length: 5 }, () => send('POST', '/gateway/orders', o, { key })));
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const a of created) expect(a.body.orderNumber).toBe(created[0].body.orderNumber);
    for (const a of answers.filter((x) => x.status !== 201)) expect([a.status, a.body.error?.code, a.headers.get('retry-after')]).toEqual([409, 'IDEMPOTENCY_KEY_IN_PROGRESS', '1']);
    expect(await ordersOf(o.merchantOrderId)).toHaveLength(1);
  });

  it('E1: a replayed, stale, tampered or impersonating request is refused and creates nothing', async () => {
    const o = order();
    const nonce = randomUUID();
    expect((await send('POST', '/gateway/orders', order(), { nonce })).status).toBe(201);
    const replayed = await send('POST', '/gateway/orders', o, { nonce });
    expect([replayed.status, replayed.body.error?.code]).toEqual([409, 'MERCHANT_REQUEST_REPLAYED']);
    const stale = await send('POST', '/gateway/orders', o, { created: new Date(Date.now() - 10 * 60_000) });
    expect([stale.status, stale.body.error?.code]).toEqual([401, 'MERCHANT_REQUEST_STALE']);
    const tampered = await send('POST', '/gateway/orders', o, { tamper: true });
    expect([tampered.status, tampered.body.error?.code]).toEqual([400, 'MERCHANT_DIGEST_MISMATCH']);
    const other = await send('POST', '/gateway/orders', { ...o, merchantNo: '898399999999999' });
    expect([other.status, other.body.error?.code]).toEqual([403, 'GATEWAY_MERCHANT_MISMATCH']);
    const bad = await send('POST', '/gateway/orders', { ...o, expiresInMinutes: 90 });
    expect([bad.status, bad.body.error?.code]).toEqual([400, 'GATEWAY_ORDER_INVALID']);
    const unsigned = await fetch(`${host.url}/gateway/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(o) });
    expect(unsigned.status).toBe(400);
    expect(await ordersOf(o.merchantOrderId)).toHaveLength(0);
  });

  it('E3, E8: two payments claim the order at once and one wins; paid, the merchant gets a signed notification and the status query agrees', async () => {
    const o = order({ amount: 4_500 });
    const created = await send('POST', '/gateway/orders', o, { key: randomUUID() });
    const orderNumber = created.body.orderNumber as string;
    const claims = await Promise.allSettled([host.gateway.orders.claimForPayment(orderNumber), host.gateway.orders.claimForPayment(orderNumber)]);
    const won = claims.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []));
    expect(won).toHaveLength(1);
    expect(claims.flatMap((c) => (c.status === 'rejected' ? [(c.reason as { code: string }).code] : []))).toEqual(['GATEWAY_ORDER_NOT_PAYABLE']);
    await host.gateway.orders.markPaid(orderNumber, won[0].claimToken, 'E2E-REF-0001');

    const note = await eventually(async () => received.find((r) => r.body.orderNumber === orderNumber), 'the merchant notification', { timeoutMs: 15_000 });
    expect(note.verified).toBe(true);
    expect(note.body).toMatchObject({ notificationId: `gwn-${orderNumber}`, merchantNo, merchantOrderId: o.merchantOrderId, orderNumber, status: 'paid', amount: 4_500, currency: 'CNY', paymentReference: 'E2E-REF-0001' });
    const status = await send('GET', `/gateway/orders/${o.merchantOrderId}`, undefined);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ orderNumber, status: 'paid', amount: 4_500, paymentReference: 'E2E-REF-0001' });
  });
});
