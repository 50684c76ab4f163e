/**
 * D2-D5, D8 end to end: the real host (`startHost`, every role, demo data on) over loopback. The
 * demo merchant is there and signs orders on request; an enrolled merchant (the merchant
 * simulator) sends a signed order to the host's listener, the designated number pays it through
 * the host's acquirer link, and the host's own outbox worker delivers the platform-signed
 * notification to the merchant's webhook. The platform's key, made on the first start, is the
 * same after a restart on the same data directory.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MERCHANT } from '../../host/bills/billsRole';
import { loadConfig } from '../../host/config';
import { type RunningHost, startHost } from '../../host/server';
import { MerchantSimulator } from '../../host/simulators/merchantSimulator';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { e2eDatabase, type E2eDatabase } from './support/e2eDatabase';
import { eventually, LOOPBACK } from './support/loopback';
import { hostEnv } from './support/paypadCli';

describe('D2-D5, D8: the bill platform in the real host over loopback', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-bills-e2e-'));
  const dataDir = join(root, 'data');
  const log = captureLogger('warn');
  let database: E2eDatabase;
  let host: RunningHost;
  let merchant: MerchantSimulator;
  const config = () => loadConfig({ ...hostEnv(dataDir, database.databaseUrl), PAYPAD_HOST: LOOPBACK, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' });

  beforeAll(async () => {
    database = await e2eDatabase();
    host = await startHost(config(), { logger: log.logger });
    const identity = await MerchantSimulator.enrol(host.bills.merchants, { legalName: 'Lakeside Tea House', receivingAccount: '6222020000000000099' });
    merchant = await MerchantSimulator.start({ identity, platformUrl: host.url, platformCertificatePem: host.bills.identity.certificatePem, caCertificatePem: host.ca.caCertificatePem, sms: host.mobile.sms });
    await host.bills.merchants.setNotifyUrl(identity.merchantId, merchant.notifyUrl);
  }, 120_000);

  afterAll(async () => {
    await merchant?.close();
    await host?.close({ graceMs: 0 });
    await database?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  it('D2: the demo merchant is enrolled with a CA certificate and signs an order on request; its bill shows the verified name', async () => {
    expect(host.bills.demoMerchant()?.identity.legalName).toBe(DEMO_MERCHANT.legalName);
    const answer = await fetch(`${host.url}/bills/simulator/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amountMinor: 2_500, goods: 'A book', designatedMobile: '+8613800138000', buyerMobile: '+8613800138000' }),
    });
    expect(answer.status).toBe(201);
    const { bill } = (await answer.json()) as { bill: { id: string; merchantName: string; merchantCertificateSubject: string } };
    expect(bill).toMatchObject({ merchantName: 'Harbour Books Ltd', merchantCertificateSubject: 'CN=Harbour Books Ltd, OU=merchant' });
    expect((await host.bills.bills.openBills('+8613800138000')).map((b) => b.id)).toContain(bill.id);
    // The platform's key and the demo merchant's are files only their owner reads.
    expect(statSync(join(dataDir, 'bill-platform', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'demo-merchant', 'identity.json')).mode & 0o777).toBe(0o600);
  });

  it('D2, D4, D5, D8: a signed order over the host listener, paid by the designated number for the buyer; the merchant gets the platform-signed notification from the host outbox, the buyer two texts', async () => {
    const buyer = '+8613900139001';
    const payer = '+8613800138002';
    const orderId = `E2E-${randomUUID().slice(0, 8)}`;
    const placed = await merchant.placeOrder({ orderId, amountMinor: 8_800, currency: 'CNY', goods: 'Tea, 250 g', designatedMobile: payer, buyerMobile: buyer, expiresInMinutes: 5 });
    expect(placed.status).toBe(201);
    const billId = (placed.body.bill as { id: string }).id;
    const replay = await merchant.placeOrder({ orderId: `${orderId}-x`, amountMinor: 1, currency: 'CNY', goods: 'x', designatedMobile: payer, buyerMobile: buyer }, { created: new Date(Date.now() - 10 * 60_000) });
    expect(replay).toMatchObject({ status: 401, body: { error: { code: 'MERCHANT_REQUEST_STALE' } } });
    const paid = await host.bills.bills.pay({ billId, payerMobile: payer, pan: TEST_CARDS.masterCard.pan, expiry: TEST_CARDS.masterCard.expiry, pinBlock: host.mobile.network.pinBlock(TEST_CARDS.masterCard.pan), idempotencyKey: `e2e-${randomUUID()}` });
    expect(paid).toMatchObject({ outcome: 'paid', bill: { state: 'paid', paidWithMaskedPan: '545454******0003' } });
    const notification = await eventually(async () => merchant.received.find((n) => n.billId === billId), 'the merchant got the notification');
    expect(notification).toMatchObject({ event: 'bill.paid', sequence: 1, paidForAnother: true, payerMobile: payer, buyerMobile: buyer, orderId });
    const texts = await eventually(async () => {
      const sent = host.mobile.sms.sent(buyer).map((s) => s.text);
      return sent.length >= 2 ? sent : undefined;
    }, 'the buyer got both texts');
    expect(texts).toEqual(expect.arrayContaining([expect.stringContaining('138****8002 paid CNY 88.00 to Lakeside Tea House'), expect.stringContaining('on your behalf')]));
    const pulled = await merchant.pullNotifications(0);
    expect((pulled.body.notifications as { notification: { billId: string } }[]).map((n) => n.notification.billId)).toContain(billId);
  });

  it('D5: the platform key made on the first start is kept: after a restart on the same data directory notifications are signed under the same certificate', async () => {
    const before = host.bills.identity.certificatePem;
    await merchant.close();
    await host.close({ graceMs: 0 });
    host = await startHost(config(), { logger: log.logger });
    expect(host.bills.identity.certificatePem).toBe(before);
    expect(host.bills.demoMerchant()?.identity.merchantId).toBeDefined();
    const identity = merchant.identity;
    merchant = await MerchantSimulator.start({ identity, platformUrl: host.url, platformCertificatePem: host.bills.identity.certificatePem, caCertificatePem: host.ca.caCertificatePem, sms: host.mobile.sms });
    await host.bills.merchants.setNotifyUrl(identity.merchantId, merchant.notifyUrl);
    const placed = await merchant.placeOrder({ orderId: `E2E-${randomUUID().slice(0, 8)}`, amountMinor: 100, currency: 'CNY', goods: 'Tea', designatedMobile: '+8613800138003', buyerMobile: '+8613800138003' });
    expect(placed.status).toBe(201);
    const billId = (placed.body.bill as { id: string }).id;
    await host.bills.bills.refuse(billId, '+8613800138003');
    expect(await eventually(async () => merchant.received.find((n) => n.billId === billId), 'the refusal reached the merchant')).toMatchObject({ event: 'bill.refused', reason: 'payer' });
  }, 120_000);
});
