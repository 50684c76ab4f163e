/**
 * System E's phone path end to end on loopback (docs/online-payments.md "Paying from the phone
 * client"; SPEC E3, E6-E9, X1, X2): the real host (`startHost`), a merchant creating signed orders
 * at the gateway (bin/demo/onlinePaymentActors), and the real `bin/paypad phone` CLI as the buyer's
 * phone, enrolled by the texted code with two bound cards. The phone finds an order by its
 * transaction code and pays it (ISO 8583 debit at the simulated bank, the merchant's signed
 * notification, the text, the books balanced), and an order placed for its account without the
 * code. Each refusal (a mistyped code, an expired order, insufficient funds, the order claimed by
 * the checkout page at the same moment, a tampered or replayed message) is its typed error and
 * moves nothing. Then X1: no card number, PIN block or key in clear in rows, log, files, traffic or
 * output. SQLite, or PostgreSQL when DATABASE_URL is set.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileStateStore, openFileElement } from '../../bin/commands/phoneElement';
import { fetchTransport } from '../../bin/commands/phoneTransport';
import { cardDebitAccountCodes, GATEWAY_CHANNEL } from '../../host/payments/cardDebitLedger';
import { createLedger } from '../../host/payments/ledger/ledger';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { createPhoneClient, type PhoneClient, type PhoneHttpRequest } from '../../shared/client/phoneClient';
import { asciiToBytes, fromHex } from '../../shared/bytes';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { decipherFieldWith, type PhoneOrder } from '../../shared/protocol/phoneClient';
import { type BrowserHost, startBrowserHost } from '../browser/support/browserHost';
import { type GatewayMerchant, startGatewayMerchant, track2Of } from '../browser/support/checkoutKit';
import { phoneCliRunner } from './support/phoneCliRun';
import { captureHttpServers, type HttpCapture } from './support/httpCapture';
import { findKeys, type ScanSource, type SecretKey } from './support/keyLeakScan';
import { databaseRows, filesUnder } from './support/runArtifacts';

const RUN_TIMEOUT_MS = 180_000;
const MOBILE = '13912340007';
const E164 = `+86${MOBILE}`;
const CHECKOUT_PAYER = '13600136007';
const RICH = TEST_CARDS.unionPay;
const POOR = TEST_CARDS.insufficientFunds;
const SWIPED = TEST_CARDS.visa;

let server: BrowserHost;
let http: HttpCapture;
let merchant: GatewayMerchant;
let home: string;
const printed: string[] = [];

/** `paypad phone <args> --home H --url U` with `input` on standard input; the output kept for the X1 scan. */
const phone = phoneCliRunner(() => home, () => server.url, printed);

const payOrder = (selector: readonly string[], card: { pan: string }) => phone(['pay-order', ...selector, '--card', card.pan.slice(-4), '--pin-stdin', '--yes'], `${TEST_PIN}\n`);
const balance = (pan: string) => server.host.mobile.network.provider.balanceOf(pan)?.balance as number;
const orderOf = (orderNumber: string) => server.host.gateway.orders.findByNumber(orderNumber);
const payable = async () => (await createLedger(server.host.database).account(cardDebitAccountCodes(GATEWAY_CHANNEL, merchant.merchantNo, 'CNY').payable))?.creditsPosted ?? 0n;

/** The client library on the CLI's directory, its requests sent through `transport`. */
async function library(transport = fetchTransport(server.url)): Promise<PhoneClient> {
  return createPhoneClient({ element: await openFileElement(home, false), store: fileStateStore(home), transport });
}

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  for (const end = Date.now() + ms; ; ) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    if (isPaypadError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a refusal');
}

/** What a phone shows for an order it was given by its code (as the merchant answered it). */
function shownOrder(o: { orderNumber: string; transactionCode: string; amount: number; merchantOrderId: string }): PhoneOrder {
  return { orderNumber: o.orderNumber, transactionCode: o.transactionCode, amountMinor: o.amount, currency: 'CNY', merchantOrderId: o.merchantOrderId, merchantName: 'Tea House Ltd', description: 'x', state: 'created', expiresAt: new Date().toISOString(), forThisAccount: false };
}

beforeAll(async () => {
  // Everything the host's listeners send and receive: scanned for X1, replayed for X2.
  http = captureHttpServers();
  server = await startBrowserHost();
  home = join(server.host.config.dataDir, '..', 'phone');
  merchant = await startGatewayMerchant(server.host, 'Tea House Ltd');
}, RUN_TIMEOUT_MS);

afterAll(async () => {
  await merchant?.close();
  await server?.stop();
  http?.stop();
});

describe('paying gateway orders from paypad phone against the real host', () => {
  it('E3: the phone enrols by the texted code and binds two cards', async () => {
    expect((await phone(['enrol', '--mobile', MOBILE])).code).toBe(0);
    const code = /verification code is (\d{6})/.exec(server.host.mobile.sms.sent(E164).at(-1)?.text ?? '')?.[1];
    expect((await phone(['confirm', '--code', code ?? ''])).code).toBe(0);
    for (const card of [RICH, POOR]) expect((await phone(['bind-card', '--expiry', card.expiry, '--holder', card.holderName], `${card.pan}\n`)).code).toBe(0);
  }, RUN_TIMEOUT_MS);

  it('E3, E6, E8, E9: found by its transaction code and paid: ISO 8583 debit at the bank, merchant notified (signed), text, books balanced', async () => {
    const order = await merchant.createOrder({ amount: 12_800, description: 'Two tea cups' });
    const before = { rich: balance(RICH.pan), payable: await payable() };

    const found = await phone(['order', '--code', order.transactionCodeDisplay]);
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toMatchObject({ orderNumber: order.orderNumber, merchantName: 'Tea House Ltd', description: 'Two tea cups', amountMinor: 12_800, currency: 'CNY', state: 'created', forThisAccount: false });
    expect(found.stderr).toContain(`code ${order.transactionCodeDisplay}`);

    const paid = await payOrder(['--code', order.transactionCode], RICH);
    expect(paid.code, paid.stderr).toBe(0);
    const answer = JSON.parse(paid.stdout) as { outcome: string; reference: string; maskedPan: string; order: PhoneOrder };
    expect(answer).toMatchObject({ outcome: 'paid', maskedPan: '622202*********0017', order: { orderNumber: order.orderNumber, state: 'paid' } });
    expect(paid.stderr).toContain('paid CNY 128.00 to Tea House Ltd');

    // E6: the debit went to the bank over the acquirer link: the card paid, the approval's reference in its settlement file.
    expect(balance(RICH.pan)).toBe(before.rich - 12_800);
    const stored = await orderOf(order.orderNumber);
    expect(stored).toMatchObject({ state: 'paid', paymentReference: answer.reference });
    const settlement = await server.host.mobile.network.provider.settlementFile(new Date().toISOString().slice(0, 10), 'CNY');
    expect(settlement).toContain(answer.reference);
    // E8: the merchant's backend, its platform signature verified; the PIN block's deletion told too.
    const notified = await until('the paid notification', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.status === 'paid'));
    expect(notified).toMatchObject({ merchantOrderId: order.merchantOrderId, amount: 12_800, currency: 'CNY', paymentReference: answer.reference });
    expect(await until('the deletion event', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.type === 'sensitive-data-deleted'))).toMatchObject({ deleted: ['pin-block'], reason: 'paid' });
    expect(merchant.refused).toBe(0);
    // E9: the text to the phone's number.
    const text = await until('the text', () => server.host.mobile.sms.sent(E164).find((m) => m.text.includes(order.merchantOrderId)));
    expect(text.text).toBe(`paypad: CNY 128.00 paid to Tea House Ltd with card 622202*********0017, order ${order.merchantOrderId}, reference ${answer.reference}.`);
    // The books: the merchant's payable credited once, every invariant holds.
    expect(await payable()).toBe(before.payable + 12_800n);
    expect((await createLedger(server.host.database).verify()).problems).toEqual([]);

    // Paid once: the code now shows a paid order, and the phone refuses to pay it again.
    const again = await payOrder(['--code', order.transactionCode], RICH);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining('GATEWAY_ORDER_NOT_PAYABLE') });
    expect(balance(RICH.pan)).toBe(before.rich - 12_800);
  }, RUN_TIMEOUT_MS);

  it("E3: an order placed for the phone's account (its number) is listed and paid without the code; another account's is not found", async () => {
    const mine = await merchant.createOrder({ amount: 2_500, description: 'A teapot', account: MOBILE });
    const theirs = await merchant.createOrder({ amount: 900, description: 'Saucers', account: '13600136000' });
    const listed = (await phone(['orders'])).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as PhoneOrder);
    expect(listed.map((o) => o.orderNumber)).toEqual([mine.orderNumber]);
    expect(listed[0]).toMatchObject({ forThisAccount: true, amountMinor: 2_500 });

    const before = balance(RICH.pan);
    const paid = await payOrder(['--order', mine.orderNumber], RICH);
    expect(paid.code, paid.stderr).toBe(0);
    expect((await orderOf(mine.orderNumber)).state).toBe('paid');
    expect(balance(RICH.pan)).toBe(before - 2_500);
    expect((await phone(['orders'])).stdout).toBe('');

    // By its number alone, an order of another account is not this phone's to pay: not found, nothing moved.
    expect(await failure((await library()).payOrder(shownOrder(theirs), RICH.pan.slice(-4), TEST_PIN))).toBe('GATEWAY_ORDER_NOT_FOUND');
    expect((await orderOf(theirs.orderNumber)).state).toBe('created');
    expect(balance(RICH.pan)).toBe(before - 2_500);
  }, RUN_TIMEOUT_MS);

  it('E3: a mistyped code (a wrong digit, two digits swapped) is refused by its check digit; nothing moves', async () => {
    const order = await merchant.createOrder({ amount: 700, description: 'Tea towel' });
    const c = order.transactionCode;
    const wrongDigit = `${c.slice(0, 11)}${(Number(c[11]) + 1) % 10}`;
    const swapped = `${c.slice(0, 3)}${c[4]}${c[3]}${c.slice(5)}`;
    const before = balance(RICH.pan);
    for (const typed of [wrongDigit, ...(swapped === c ? [] : [swapped])]) {
      expect(await phone(['order', '--code', typed])).toMatchObject({ code: 1, stderr: expect.stringContaining('TRANSACTION_CODE_INVALID') });
      expect(await payOrder(['--code', typed], RICH)).toMatchObject({ code: 1, stderr: expect.stringContaining('TRANSACTION_CODE_INVALID') });
      // The check is the platform's too: the client library sends the typed code and the platform refuses it.
      expect(await failure((await library()).payOrder(shownOrder(order), RICH.pan.slice(-4), TEST_PIN, typed))).toBe('TRANSACTION_CODE_INVALID');
    }
    expect((await orderOf(order.orderNumber)).state).toBe('created');
    expect(balance(RICH.pan)).toBe(before);
  }, RUN_TIMEOUT_MS);

  it('E3: an expired order is refused when found and when paid; nothing moves', async () => {
    const order = await merchant.createOrder({ amount: 800, description: 'Lid' });
    await server.host.database.db.withTables<{ gateway_orders: { order_number: string; expires_at: string } }>()
      .updateTable('gateway_orders').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('order_number', '=', order.orderNumber).execute();
    const before = balance(RICH.pan);
    expect(await phone(['order', '--code', order.transactionCode])).toMatchObject({ code: 1, stderr: expect.stringContaining('GATEWAY_ORDER_EXPIRED') });
    expect(await failure((await library()).payOrder(shownOrder(order), RICH.pan.slice(-4), TEST_PIN, order.transactionCode))).toBe('GATEWAY_ORDER_EXPIRED');
    expect(balance(RICH.pan)).toBe(before);
    expect((await orderOf(order.orderNumber)).state).not.toBe('paid');
  }, RUN_TIMEOUT_MS);

  it('E3, E8: insufficient funds: refused, nothing taken, the order failed and the merchant told', async () => {
    const order = await merchant.createOrder({ amount: 9_900, description: 'Tea chest' });
    const before = { poor: balance(POOR.pan), payable: await payable() };
    const run = await payOrder(['--code', order.transactionCode], POOR);
    expect(run).toMatchObject({ code: 1, stderr: expect.stringContaining('PAYMENT_INSUFFICIENT_FUNDS') });
    expect(balance(POOR.pan)).toBe(before.poor);
    expect(await payable()).toBe(before.payable);
    expect((await orderOf(order.orderNumber)).state).toBe('failed');
    expect(await until('the failed notification', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.status === 'failed'))).toMatchObject({ failureReason: 'PAYMENT_INSUFFICIENT_FUNDS' });
    expect((await createLedger(server.host.database).verify()).problems).toEqual([]);
  }, RUN_TIMEOUT_MS);

  it('E3, E6: a wrong PIN reaches the issuer translated from K_pin and is declined (55): nothing taken', async () => {
    const order = await merchant.createOrder({ amount: 300, description: 'Strainer' });
    const before = balance(RICH.pan);
    const run = await phone(['pay-order', '--code', order.transactionCode, '--card', RICH.pan.slice(-4), '--pin-stdin', '--yes'], '9876\n');
    expect(run).toMatchObject({ code: 1, stderr: expect.stringContaining('PAYMENT_DECLINED') });
    expect(run.stderr).toContain('wrong PIN (55)');
    expect(balance(RICH.pan)).toBe(before);
    expect((await orderOf(order.orderNumber)).state).toBe('failed');
  }, RUN_TIMEOUT_MS);

  it('E3: the checkout page and the phone pay one code at the same moment: exactly one claims it, the other is refused; one debit', async () => {
    const order = await merchant.createOrder({ amount: 1_600, description: 'Two spoons' });
    const opened = await fetch(`${server.url}/gateway/checkout/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: order.transactionCode }) });
    expect(opened.status).toBe(201);
    const { checkoutId } = (await opened.json()) as { checkoutId: string };
    server.host.mobile.voice.phone(`+86${CHECKOUT_PAYER}`, { answer: { afterSeconds: 0 }, steps: [`${TEST_PIN}#`] });
    const client = await library();
    const shown = await client.findOrder(order.transactionCode);
    const before = { rich: balance(RICH.pan), swiped: balance(SWIPED.pan) };

    const [page, phoneAnswer] = await Promise.all([
      fetch(`${server.url}/gateway/checkout/sessions/${checkoutId}/pay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ requestId: 'race-page-1', mobile: CHECKOUT_PAYER, card: { kind: 'swipe', track2: track2Of(SWIPED) } }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { status?: string; error?: { code: string } } })),
      client.payOrder(shown, RICH.pan.slice(-4), TEST_PIN, order.transactionCode).then((a) => a.outcome, (e: unknown) => (isPaypadError(e) ? e.code : String(e))),
    ]);
    const outcomes = [page.body.status ?? page.body.error?.code, phoneAnswer].sort();
    expect(outcomes).toEqual(['GATEWAY_ORDER_NOT_PAYABLE', 'paid']);
    const debited = before.rich - balance(RICH.pan) + (before.swiped - balance(SWIPED.pan));
    expect(debited).toBe(1_600);
    expect((await orderOf(order.orderNumber)).state).toBe('paid');
    await until('the paid notification', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.status === 'paid'));
    expect(merchant.received.filter((n) => n.orderNumber === order.orderNumber && n.status !== undefined)).toHaveLength(1);
  }, RUN_TIMEOUT_MS);

  it('X2: a tampered pay message is refused by its MAC and a replayed one by its sequence; neither moves anything', async () => {
    const order = await merchant.createOrder({ amount: 1_200, description: 'Cup' });
    const client = await library();
    const shown = await client.findOrder(order.transactionCode);
    let held: PhoneHttpRequest | undefined;
    const holding = await library(async (request) => {
      held = request;
      throw new PaypadError('LINK_UNAVAILABLE', 'held by the test');
    });
    expect(await failure(holding.payOrder(shown, RICH.pan.slice(-4), TEST_PIN, order.transactionCode))).toBe('LINK_UNAVAILABLE');
    const request = held as PhoneHttpRequest;
    const send = (body: Uint8Array) => fetch(server.url + request.path, { method: 'POST', headers: request.headers, body }).then(async (r) => ({ status: r.status, mac: r.headers.get('paypad-mac'), body: (await r.json()) as { error?: { code: string } } }));
    const before = balance(RICH.pan);

    // The amount lowered in transit: the MAC over the body no longer verifies.
    const tampered = asciiToBytes(new TextDecoder().decode(request.body).replace('"amountMinor":1200', '"amountMinor":1'));
    expect(tampered).not.toEqual(request.body);
    expect(await send(tampered)).toMatchObject({ status: 401, mac: null, body: { error: { code: 'MAC_MISMATCH' } } });
    expect((await orderOf(order.orderNumber)).state).toBe('created');
    expect(balance(RICH.pan)).toBe(before);

    // The message as the phone sent it pays; the same bytes again are a replay.
    expect((await send(request.body)).status).toBe(200);
    expect(balance(RICH.pan)).toBe(before - 1_200);
    expect(await send(request.body)).toMatchObject({ status: 409, body: { error: { code: 'PROTOCOL_REPLAY' } } });
    expect(balance(RICH.pan)).toBe(before - 1_200);
    expect((await orderOf(order.orderNumber)).state).toBe('paid');
  }, RUN_TIMEOUT_MS);

  it("X1: no card number, phone PIN block, session key or element key in clear in rows, the host's log, its files, HTTP traffic or the CLI's output", async () => {
    await until('the vault emptied', () => server.host.checkout.vault.orders().length === 0 || undefined);
    const element = await openFileElement(home, false);
    const state = JSON.parse(readFileSync(join(home, 'phone.json'), 'utf8')) as { keys: string };
    const sessionKeys = await element.open('phone-keys', fromHex(state.keys));
    const kEnc = sessionKeys.slice(16, 32);
    // Every PIN block the phone sent (format 4 under K_pin), out of the K_enc field of each pay message.
    const payMessages = http.requests.filter((r) => r.url === '/bills/client/orders/pay').map((r) => JSON.parse(Buffer.concat(r.body).toString('utf8')) as { pinBlock: string });
    expect(payMessages.length).toBeGreaterThan(3);
    const pinBlocks = payMessages.map((m) => fromHex(decipherFieldWith(kEnc, 'pinBlock', m.pinBlock)));
    const secrets: SecretKey[] = [
      ...[RICH, POOR, SWIPED].flatMap((c) => [
        { label: `PAN ${c.pan.slice(-4)}`, key: asciiToBytes(c.pan) },
        { label: `track 2 ${c.pan.slice(-4)}`, key: asciiToBytes(track2Of(c)) },
      ]),
      { label: 'K_mac', key: sessionKeys.slice(0, 16) },
      { label: 'K_enc', key: kEnc },
      { label: 'K_pin', key: sessionKeys.slice(32, 48) },
      { label: 'element key', key: fromHex(readFileSync(join(home, 'element.key'), 'utf8').trim()) },
      ...pinBlocks.map((b, i) => ({ label: `phone PIN block ${i}`, key: b })),
    ];
    const text = (name: string, kind: string, content: string): ScanSource => ({ name, kind, bytes: new Uint8Array(Buffer.from(content, 'utf8')) });
    const sources: ScanSource[] = [
      ...(await databaseRows(server.host.database)),
      text('host log', 'log', server.log()),
      text('CLI output', 'cli', printed.join('\n')),
      ...filesUnder(server.host.config.dataDir, 'data', (p) => /(\.key|key\.pem|identity\.json)$/.test(p)).sources,
      ...http.ports().map((port) => ({ name: `HTTP answers of :${port}`, kind: 'http', bytes: http.sentBy(port) })),
    ];
    expect(sources.some((s) => s.kind === 'database' && s.bytes.length > 0)).toBe(true);
    // Requests carry the track the checkout page posted (the keyboard-wedge mode, by design): scanned for everything else.
    const requests = http.ports().map((port) => ({ name: `HTTP requests to :${port}`, kind: 'http', bytes: http.receivedBy(port) }));
    expect(findKeys(secrets, sources)).toEqual([]);
    expect(findKeys(secrets.filter((s) => !s.label.startsWith(`PAN ${SWIPED.pan.slice(-4)}`) && !s.label.startsWith('track 2')), requests)).toEqual([]);
  }, RUN_TIMEOUT_MS);
});
