/**
 * D2-D8 on every dialect: the bill platform with the merchant simulator over loopback, the real
 * acquirer link to the simulated card network, and the test's clock.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bill, BillPayment } from '../../host/bills/billPlatform';
import { BILLS_CHANNEL, cardDebitAccountCodes } from '../../host/payments/cardDebitLedger';
import { createBillService } from '../../host/bills/billService';
import type { BillTables } from '../../host/bills/tables';
import { type CryptoKeyPair, EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, RSA_SIGNING_ALGORITHM, subtle, x509 } from '../../host/ca/x509';
import type { AuthorisationOutcome, CardAuthoriser } from '../../host/posp/cardAuthoriser';
import { NOTIFICATION_RETRY_SCHEDULE_MS } from '../../host/bills/merchantNotifications';
import { createLedger } from '../../host/payments/ledger/ledger';
import { createOutboxStore, type OutboxTables } from '../../host/outbox/outboxStore';
import { createRsaKeyAndCsr, privateKeyOf } from '../../host/merchants/rsaIdentity';
import { signRequest } from '../../host/merchants/signedRequest';
import { MERCHANT_API, MerchantSimulator } from '../../host/simulators/merchantSimulator';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { type BillsKit, startBillsKit } from './billsTestKit';

let numbers = 0;
const freshMobile = () => `+86139${String(10_000_000 + ++numbers * 7919).slice(-8)}`;
const freshOrderId = () => `O-${randomUUID().slice(0, 12)}`;

describe.each(DIALECTS)('D2-D8 the bill platform on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let kit: BillsKit;
  beforeAll(async () => {
    kit = await startBillsKit(database());
  });
  afterAll(async () => {
    await kit?.close();
  });

  const order = (extra: Record<string, unknown> = {}) => {
    const mobile = freshMobile();
    return { orderId: freshOrderId(), amountMinor: 12_345, currency: 'CNY', goods: 'Two books', designatedMobile: mobile, buyerMobile: mobile, ...extra };
  };
  const placeBill = async (extra: Record<string, unknown> = {}): Promise<Bill> => {
    const answer = await kit.merchant.placeOrder(order(extra));
    expect(answer.status).toBe(201);
    return kit.platform.bills.bill((answer.body.bill as { id: string }).id);
  };
  const payment = (bill: Bill, card: { pan: string; expiry: string } = TEST_CARDS.unionPay, key = `k-${randomUUID()}`): BillPayment => ({
    billId: bill.id,
    payerMobile: bill.designatedMobile,
    pan: card.pan,
    expiry: card.expiry,
    pinBlock: kit.network.pinBlock(card.pan),
    idempotencyKey: key,
  });
  const payable = async (merchantId: string) => (await createLedger(database()).account(cardDebitAccountCodes(BILLS_CHANNEL, merchantId, 'CNY').payable))?.creditsPosted ?? 0n;
  const deliverAll = async () => {
    while ((await kit.platform.notifier.runOnce()) > 0);
    while ((await kit.platform.buyerTexts.runOnce()) > 0);
  };
  // One delivery round sends its batch concurrently, so a bill's notifications may arrive in any
  // order; the merchant orders them by their sequence, as these tests do.
  const received = (billId: string) => kit.merchant.received.filter((n) => n.billId === billId).sort((a, b) => a.sequence - b.sequence);

  it('D2, D3: a signed order becomes a bill with the merchant name from its certificate, a 15-minute default expiry, and reaches onBill; the same order again returns the same bill, with other fields it is refused', async () => {
    const heard: Bill[] = [];
    const stop = kit.platform.bills.onBill((b) => heard.push(b));
    const sent = order();
    const first = await kit.merchant.placeOrder(sent);
    stop();
    expect(first.status).toBe(201);
    const bill = first.body.bill as Record<string, unknown>;
    expect(bill).toMatchObject({ merchantId: kit.merchant.identity.merchantId, merchantName: kit.merchant.identity.legalName, merchantCertificateSubject: `CN=${kit.merchant.identity.legalName}, OU=merchant`, state: 'open', amountMinor: 12_345, receivingAccount: '6222020000000000001' });
    expect(Date.parse(String(bill.expiresAt)) - Date.parse(String(bill.createdAt))).toBe(15 * 60_000);
    expect(heard.map((b) => b.id)).toEqual([bill.id]);
    const again = await kit.merchant.placeOrder(sent);
    expect(again.status).toBe(200);
    expect((again.body.bill as Record<string, unknown>).id).toBe(bill.id);
    const other = await kit.merchant.placeOrder({ ...sent, amountMinor: 1 });
    expect(other).toMatchObject({ status: 409, body: { error: { code: 'BILL_ORDER_EXISTS_DIFFERENT' } } });
    for (const minutes of [0, 61, 1.5]) expect((await kit.merchant.placeOrder(order({ expiresInMinutes: minutes }))).body).toMatchObject({ error: { code: 'BILL_ORDER_INVALID' } });
    const hour = await kit.merchant.placeOrder(order({ expiresInMinutes: 60 }));
    expect(Date.parse(String((hour.body.bill as Record<string, unknown>).expiresAt)) - kit.now().getTime()).toBe(60 * 60_000);
  });

  it('D2: a tampered body, a signature by another key, a replayed request and a stale one are refused with typed errors, and no bill is stored', async () => {
    const refused = async (answer: Promise<{ status: number; body: Record<string, unknown> }>, status: number, code: string, orderId: string) => {
      expect(await answer).toMatchObject({ status, body: { error: { code } } });
      await expect(kit.platform.bills.billByOrder(kit.merchant.identity.merchantId, orderId)).rejects.toMatchObject({ code: 'BILL_NOT_FOUND' });
    };
    const tampered = order();
    await refused(kit.merchant.placeOrder(tampered, { tamper: (body) => new TextEncoder().encode(new TextDecoder().decode(body).replace('12345', '1')) }), 400, 'MERCHANT_DIGEST_MISMATCH', tampered.orderId);
    // Another key signs as our merchant: digest and form fine, signature not by the certified key.
    const impostor = privateKeyOf((await createRsaKeyAndCsr({ role: 'merchant', name: 'Impostor' })).privateKeyPem);
    const forged = order();
    await refused(
      kit.merchant.placeOrder(forged, {
        headers: () => signRequest({ method: 'POST', path: MERCHANT_API.orders, body: new TextEncoder().encode(JSON.stringify(forged)), keyId: kit.merchant.identity.merchantId, nonce: randomUUID(), created: kit.now(), privateKey: impostor }),
      }),
      401,
      'MERCHANT_SIGNATURE_INVALID',
      forged.orderId,
    );
    const stale = order();
    await refused(kit.merchant.placeOrder(stale, { created: new Date(kit.now().getTime() - 5 * 60_000 - 1_000) }), 401, 'MERCHANT_REQUEST_STALE', stale.orderId);
    await refused(kit.merchant.placeOrder(stale, { created: new Date(kit.now().getTime() + 5 * 60_000 + 1_000) }), 401, 'MERCHANT_REQUEST_STALE', stale.orderId);
    // The same request id: the first is taken, the replay (even of another order) refused.
    const nonce = randomUUID();
    const first = order();
    expect((await kit.merchant.placeOrder(first, { nonce })).status).toBe(201);
    const replayed = order();
    await refused(kit.merchant.placeOrder(replayed, { nonce }), 409, 'MERCHANT_REQUEST_REPLAYED', replayed.orderId);
    const unsigned = await fetch(`${kit.url}${MERCHANT_API.orders}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(order()) });
    expect(unsigned.status).toBe(400);
  });

  it('D2: enrolment takes only an RSA key of 2048 bits or more from a CSR, a legal name once; a revoked merchant certificate stops the merchant at once', async () => {
    const csr = (await createRsaKeyAndCsr({ role: 'merchant', name: 'Second Shop' })).csrPem;
    const enrol = (o: Record<string, string>) => kit.platform.merchants.register({ legalName: 'Second Shop', csrPem: csr, receivingAccount: '6222020000000000002', notifyUrl: 'https://shop.example/notify', ...o });
    await expect(enrol({ legalName: '<script>' })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(enrol({ notifyUrl: 'ftp://shop.example/' })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(enrol({ receivingAccount: '12' })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(enrol({ csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' })).rejects.toMatchObject({ code: 'CSR_INVALID' });
    const csrOf = async (algorithm: object, signing: object) => {
      const keys = (await subtle.generateKey(algorithm as Parameters<typeof subtle.generateKey>[0], true, ['sign', 'verify'])) as CryptoKeyPair;
      return (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=Second Shop', keys, signingAlgorithm: signing as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['signingAlgorithm'] })).toString('pem');
    };
    await expect(enrol({ csrPem: await csrOf(EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM) })).rejects.toMatchObject({ code: 'CSR_INVALID' });
    await expect(enrol({ csrPem: await csrOf({ ...RSA_SIGNING_ALGORITHM, modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]) }, RSA_SIGNING_ALGORITHM) })).rejects.toMatchObject({ code: 'CSR_INVALID' });
    expect(await enrol({})).toMatchObject({ legalName: 'Second Shop', certificateSubject: 'CN=Second Shop, OU=merchant' });
    await expect(enrol({})).rejects.toMatchObject({ code: 'MERCHANT_EXISTS' });
    await expect(kit.ca.issue({ subject: { role: 'merchant', name: 'No CSR' } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });

    const other = await MerchantSimulator.enrol(kit.platform.merchants, { legalName: `Revoked ${randomUUID().slice(0, 8)}`, receivingAccount: '6222020000000000003' });
    const revoked = await MerchantSimulator.start({ identity: other, platformUrl: kit.url, platformCertificatePem: kit.platform.identity.certificatePem, caCertificatePem: kit.platform.identity.caCertificatePem, sms: kit.sms, clock: kit.now });
    try {
      expect((await revoked.placeOrder(order())).status).toBe(201);
      await kit.ca.revoke((await kit.platform.merchants.merchant(other.merchantId))!.certificateSerial, 'keyCompromise');
      const refused = order();
      expect(await revoked.placeOrder(refused)).toMatchObject({ status: 401, body: { error: { code: 'MERCHANT_UNKNOWN' } } });
      await expect(kit.platform.bills.billByOrder(other.merchantId, refused.orderId)).rejects.toMatchObject({ code: 'BILL_NOT_FOUND' });
    } finally {
      await revoked.close();
    }
  });

  it('D4, D5: the designated number pays with a bound card: bill paid, money in the books, the merchant told once with sequence 1, signed by the platform', async () => {
    const bill = await placeBill();
    const before = await payable(bill.merchantId);
    const paid = await kit.platform.bills.pay(payment(bill));
    expect(paid).toMatchObject({ outcome: 'paid', bill: { state: 'paid', paidWithMaskedPan: '622202*********0017' } });
    expect(await payable(bill.merchantId)).toBe(before + 12_345n);
    expect((await createLedger(database()).verify()).problems).toEqual([]);
    await deliverAll();
    expect(received(bill.id)).toMatchObject([{ event: 'bill.paid', sequence: 1, state: 'paid', paidForAnother: false, reference: (paid as { reference: string }).reference, maskedPan: '622202*********0017' }]);
    expect(kit.sms.sent(bill.buyerMobile).map((s) => s.text)).toEqual([expect.stringContaining('was paid. Thank you')]);
    expect(await kit.platform.bills.openBills(bill.designatedMobile)).toEqual([]);
  });

  it('D4: typed refusals change nothing: another number, an unknown bill, an expired bill, a bill paid already', async () => {
    const bill = await placeBill({ expiresInMinutes: 1 });
    const before = await payable(bill.merchantId);
    await expect(kit.platform.bills.pay({ ...payment(bill), payerMobile: freshMobile() })).rejects.toMatchObject({ code: 'BILL_NOT_FOR_THIS_NUMBER' });
    await expect(kit.platform.bills.pay({ ...payment(bill), billId: 'BAAAAAAAAAAAAAAAAAAAA' })).rejects.toMatchObject({ code: 'BILL_NOT_FOUND' });
    expect(await kit.platform.bills.openBills(bill.designatedMobile)).toHaveLength(1);
    kit.advance(60_000);
    await expect(kit.platform.bills.pay(payment(bill))).rejects.toMatchObject({ code: 'BILL_EXPIRED' });
    await expect(kit.platform.bills.refuse(bill.id, bill.designatedMobile)).rejects.toMatchObject({ code: 'BILL_EXPIRED' });
    expect(await kit.platform.bills.openBills(bill.designatedMobile)).toEqual([]);
    expect((await kit.platform.bills.bill(bill.id)).state).toBe('expired');
    expect(await payable(bill.merchantId)).toBe(before);
    await deliverAll();
    expect(received(bill.id)).toEqual([]);
  });

  it('D4: two tabs pay the same bill at once: exactly one pays, the other gets BillAlreadyPaid and nothing more moves', async () => {
    const bill = await placeBill();
    const before = await payable(bill.merchantId);
    const results = await Promise.allSettled([kit.platform.bills.pay(payment(bill)), kit.platform.bills.pay(payment(bill, TEST_CARDS.visa))]);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ outcome: string }>).value.outcome)).toEqual(['paid']);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['BILL_ALREADY_PAID']);
    expect(await payable(bill.merchantId)).toBe(before + 12_345n);
    await expect(kit.platform.bills.pay(payment(bill))).rejects.toMatchObject({ code: 'BILL_ALREADY_PAID' });
  });

  it('D4: a bill held by a payment whose host stopped is refused to others while the hold lasts, and payable once it ran out', async () => {
    const bill = await placeBill();
    const held = (until: Date) =>
      database().db.withTables<BillTables>().updateTable('bills').set({ state: 'paying', paying_until: until.toISOString() }).where('id', '=', bill.id).execute();
    await held(new Date(kit.now().getTime() + 60_000));
    await expect(kit.platform.bills.pay(payment(bill))).rejects.toMatchObject({ code: 'BILL_ALREADY_PAID' });
    await expect(kit.platform.bills.refuse(bill.id, bill.designatedMobile)).rejects.toMatchObject({ code: 'BILL_ALREADY_PAID' });
    expect((await kit.platform.bills.bill(bill.id)).state).toBe('open');
    kit.advance(61_000);
    expect(await kit.platform.bills.pay(payment(bill))).toMatchObject({ outcome: 'paid' });
  });

  it('D6: insufficient funds leaves the bill open; the same key and card answer the stored outcome without a new debit; the same key with another card pays', async () => {
    const bill = await placeBill();
    const before = await payable(bill.merchantId);
    const key = `k-${randomUUID()}`;
    const poor = await kit.platform.bills.pay(payment(bill, TEST_CARDS.insufficientFunds, key));
    expect(poor).toMatchObject({ outcome: 'insufficient_funds', bill: { state: 'open' } });
    const again = await kit.platform.bills.pay(payment(bill, TEST_CARDS.insufficientFunds, key));
    expect(again).toMatchObject({ outcome: 'insufficient_funds' });
    const paid = await kit.platform.bills.pay(payment(bill, TEST_CARDS.visa, key));
    expect(paid).toMatchObject({ outcome: 'paid', bill: { state: 'paid', paidWithMaskedPan: '411111******0003' } });
    expect(await kit.platform.bills.pay(payment(bill, TEST_CARDS.visa, key))).toEqual(paid);
    expect(await payable(bill.merchantId)).toBe(before + 12_345n);
    await deliverAll();
    expect(received(bill.id).map((n) => [n.sequence, n.event, n.responseCode])).toEqual([
      [1, 'bill.payment_declined', '51'],
      [2, 'bill.paid', undefined],
    ]);
  });

  it('D7: the user refuses: the bill is refused, the merchant is told (and tells its buyer), the platform texts the buyer; paying it afterwards is BillRefused', async () => {
    const bill = await placeBill();
    const refused = await kit.platform.bills.refuse(bill.id, bill.designatedMobile);
    expect(refused.state).toBe('refused');
    expect(await kit.platform.bills.refuse(bill.id, bill.designatedMobile)).toMatchObject({ state: 'refused' });
    await expect(kit.platform.bills.pay(payment(bill))).rejects.toMatchObject({ code: 'BILL_REFUSED' });
    await deliverAll();
    expect(received(bill.id)).toMatchObject([{ event: 'bill.refused', reason: 'payer', sequence: 1, state: 'refused' }]);
    const texts = kit.sms.sent(bill.buyerMobile).map((s) => s.text);
    expect(texts).toEqual(expect.arrayContaining([expect.stringContaining('was refused; the order is cancelled'), expect.stringContaining('you refused it. Nothing was charged')]));
  });

  /** The platform on the same store with a card network that answers `outcome` (after the hold, as the real link does). */
  const answering = (outcome: AuthorisationOutcome) => {
    const authoriser: CardAuthoriser = {
      async debit(_debit, beforeSend) {
        await beforeSend({ stan: 1, transmissionDateTime: '1206100000' });
        return outcome;
      },
      reverse: async () => true,
    };
    return createBillService({ database: database(), merchants: kit.platform.merchants, authoriser, ledger: createLedger(database()), cardFingerprintKey: new Uint8Array(32).fill(7), clock: kit.now });
  };

  it('D7: a decline that rules the payment out (59, suspected fraud) refuses the bill: merchant and buyer told, nothing in the books; an unknown outcome (reversed) leaves it open with 91 and keeps nothing for the key', async () => {
    const bill = await placeBill();
    const before = await payable(bill.merchantId);
    const unknown = await answering({ kind: 'reversed', reversalAcknowledged: true }).pay(payment(bill, TEST_CARDS.unionPay, 'same-key-1'));
    expect(unknown).toMatchObject({ outcome: 'declined', responseCode: '91', bill: { state: 'open' } });
    const fraud = await answering({ kind: 'answered', approved: false, responseCode: '59', retrievalReference: '000000000059' }).pay(payment(bill, TEST_CARDS.unionPay, 'same-key-1'));
    expect(fraud).toMatchObject({ outcome: 'declined', responseCode: '59', bill: { state: 'refused' } });
    await expect(kit.platform.bills.pay(payment(bill, TEST_CARDS.visa))).rejects.toMatchObject({ code: 'BILL_REFUSED' });
    expect(await payable(bill.merchantId)).toBe(before);
    expect((await createLedger(database()).verify()).problems).toEqual([]);
    await deliverAll();
    expect(received(bill.id)).toMatchObject([{ event: 'bill.refused', reason: 'declined', responseCode: '59', sequence: 1 }]);
    expect(kit.sms.sent(bill.buyerMobile).map((s) => s.text)).toEqual(expect.arrayContaining([expect.stringContaining("the paying card's bank declined it"), expect.stringContaining('the order is cancelled')]));
  });

  it('D8: paying for another: the bill and the merchant notification say who paid for whom, the buyer is texted that the other number paid', async () => {
    const buyer = freshMobile();
    const payer = freshMobile();
    const bill = await placeBill({ designatedMobile: payer, buyerMobile: buyer });
    expect(bill).toMatchObject({ designatedMobile: payer, buyerMobile: buyer });
    expect((await kit.platform.bills.openBills(payer)).map((b) => b.id)).toEqual([bill.id]);
    expect(await kit.platform.bills.openBills(buyer)).toEqual([]);
    await expect(kit.platform.bills.pay({ ...payment(bill), payerMobile: buyer })).rejects.toMatchObject({ code: 'BILL_NOT_FOR_THIS_NUMBER' });
    await kit.platform.bills.pay(payment(bill));
    await deliverAll();
    expect(received(bill.id)).toMatchObject([{ event: 'bill.paid', paidForAnother: true, payerMobile: payer, buyerMobile: buyer, designatedMobile: payer }]);
    const masked = `${payer.slice(3, 6)}****${payer.slice(-4)}`;
    expect(kit.sms.sent(buyer).map((s) => s.text)).toEqual(expect.arrayContaining([expect.stringContaining(`${masked} paid CNY 123.45`), expect.stringContaining('on your behalf')]));
    expect(kit.sms.sent(payer)).toEqual([]);
  });

  it('D5: a notification sent again (a worker took it over after its lease) reaches the merchant twice and is applied once, by (bill, sequence)', async () => {
    const bill = await placeBill();
    await kit.platform.bills.pay(payment(bill));
    await deliverAll();
    const deliveries = kit.merchant.deliveries;
    await database().db.withTables<OutboxTables>().updateTable('outbox').set({ state: 'pending', finished_at: null }).where('idempotency_key', '=', `bn-${bill.id}-1`).execute();
    expect(await kit.platform.notifier.runOnce()).toBe(1);
    expect(kit.merchant.deliveries).toBe(deliveries + 1);
    expect(received(bill.id)).toHaveLength(1);
  });

  it('D5: with the merchant down, a notification is retried on the published schedule and reaches the merchant exactly once when it is back; the pull API returns what was missed', async () => {
    const cursor = Number((await kit.merchant.pullNotifications(0)).body.next);
    kit.merchant.down();
    const bill = await placeBill();
    await kit.platform.bills.pay(payment(bill));
    const outbox = createOutboxStore(database().db, database().dialect);
    const row = async () => (await outbox.byKey(`bn-${bill.id}-1`))!;
    expect(await kit.platform.notifier.runOnce()).toBe(1);
    expect(kit.merchant.refusedWhileDown).toBeGreaterThan(0);
    // Each retry comes when the schedule says, not before.
    for (let attempt = 2; attempt <= 4; attempt++) {
      const due = NOTIFICATION_RETRY_SCHEDULE_MS[attempt - 1] - NOTIFICATION_RETRY_SCHEDULE_MS[attempt - 2];
      kit.advance(due - 1_000);
      expect(await kit.platform.notifier.runOnce()).toBe(0);
      kit.advance(1_000);
      expect(await kit.platform.notifier.runOnce()).toBe(1);
      expect((await row()).attempts).toBe(attempt);
    }
    expect(received(bill.id)).toEqual([]);
    // Missed while down: the pull API has it, signed request and all.
    const pulled = await kit.merchant.pullNotifications(cursor);
    expect(pulled.status).toBe(200);
    expect((pulled.body.notifications as { notification: { billId: string; sequence: number } }[]).map((n) => [n.notification.billId, n.notification.sequence])).toEqual([[bill.id, 1]]);
    kit.merchant.up();
    kit.advance(NOTIFICATION_RETRY_SCHEDULE_MS[4] - NOTIFICATION_RETRY_SCHEDULE_MS[3]);
    const deliveries = kit.merchant.deliveries;
    expect(await kit.platform.notifier.runOnce()).toBe(1);
    expect((await row()).state).toBe('delivered');
    kit.advance(24 * 60 * 60_000);
    expect(await kit.platform.notifier.runOnce()).toBe(0);
    expect(kit.merchant.deliveries - deliveries).toBe(1);
    expect(received(bill.id)).toMatchObject([{ event: 'bill.paid', sequence: 1 }]);
    const schedule = await fetch(`${kit.url}${MERCHANT_API.schedule}`).then((r) => r.json());
    expect(schedule).toEqual({ attempts: 15, secondsAfterChange: NOTIFICATION_RETRY_SCHEDULE_MS.map((ms) => ms / 1000) });
  });
});
