/**
 * System E in a real browser (docs/online-payments.md "The checkout page"; E1-E9, X1): the real
 * host on loopback, a merchant creating signed orders at the gateway, the checkout page in chromium
 * at a PC's and an iPad's size, emulated PIN pads as secure card readers (DUKPT) dialling the
 * gateway, the voice provider simulator's phones keying PINs. Each failure ends with its message on
 * the page, the order not paid and nothing taken from the card; at the end no card data, PIN, PIN
 * block or key is in clear in any row, log line, file or answer.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex } from '../../shared/bytes';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { findKeys, type ScanSource, type SecretKey } from '../e2e/support/keyLeakScan';
import { databaseRows, filesUnder } from '../e2e/support/runArtifacts';
import { type BrowserHost, startBrowserHost } from './support/browserHost';
import { connectEmulatedReader, type EmulatedReader, type GatewayMerchant, loadReaderBdk, startGatewayMerchant, track2Of } from './support/checkoutKit';
import { HAVE_CHROMIUM, launchChromium } from './support/phoneBrowser';

const PC = Object.freeze({ width: 1280, height: 800 });
const IPAD = Object.freeze({ width: 768, height: 1024 });
const PAYER = '13912345678';
const E164 = (n: string) => `+86${n}`;
const RICH = TEST_CARDS.unionPay;
const POOR = TEST_CARDS.insufficientFunds;
const WRONG_PIN = '9876';
const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));

/** PAYPAD_SCREENSHOTS=1 refreshes the pictures in docs/online-payments.md. */
async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.PAYPAD_SCREENSHOTS === '1') await page.screenshot({ path: join(IMAGES, `checkout-${name}.png`), fullPage: true });
}

describe.skipIf(!HAVE_CHROMIUM)('the checkout page (real browser, real host)', () => {
  let server: BrowserHost;
  let browser: Browser;
  let merchant: GatewayMerchant;
  let bdk: Uint8Array;
  const readers: EmulatedReader[] = [];
  const contexts: BrowserContext[] = [];
  /** Every answer of the gateway the pages received, for the X1 scan. */
  const answers: string[] = [];

  const balance = (pan: string) => server.host.mobile.network.provider.balanceOf(pan)?.balance;
  const texts = (mobile: string) => server.host.mobile.sms.sent(E164(mobile)).map((m) => m.text);
  const orderState = async (orderNumber: string) => (await server.host.gateway.orders.findByNumber(orderNumber)).state;
  const until = async <T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> => {
    for (const end = Date.now() + ms; ; ) {
      const value = await check();
      if (value) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  async function openPage(viewport: { width: number; height: number }, query: string): Promise<Page> {
    const context = await browser.newContext({ baseURL: server.url, viewport, locale: 'en-GB', ...(viewport === IPAD ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
    contexts.push(context);
    context.on('response', (r) => {
      if (r.url().includes('/gateway/') && !r.url().endsWith('/events') && !r.url().endsWith('.js')) void r.text().then((t) => answers.push(t), () => undefined);
    });
    const page = await context.newPage();
    await page.goto(`/gateway/checkout/?${query}`);
    return page;
  }

  async function reader(readerId: string, card: string | undefined, pin = TEST_PIN): Promise<EmulatedReader> {
    const r = await connectEmulatedReader(server.host, bdk, readerId, card, pin);
    readers.push(r);
    return r;
  }

  async function pay(page: Page, options: { mode?: 'reader' | 'swipe'; pin?: 'pad' | 'voice'; mobile?: string }): Promise<void> {
    await page.locator(`input[name="mode"][value="${options.mode ?? 'reader'}"]`).check();
    if ((options.mode ?? 'reader') === 'reader') await page.locator(`input[name="pin"][value="${options.pin ?? 'voice'}"]`).check();
    await page.locator('#mobile').fill(options.mobile ?? PAYER);
    await page.locator('#pay').click();
  }

  async function failedWith(page: Page, code: string): Promise<void> {
    await expect.poll(() => page.locator('#result').getAttribute('data-code'), { timeout: 15_000 }).toBe(code);
    expect(await page.locator('#result').getAttribute('data-state')).toBe('failed');
  }

  beforeAll(async () => {
    [server, browser] = await Promise.all([startBrowserHost(), launchChromium()]);
    merchant = await startGatewayMerchant(server.host, 'Tea House Ltd');
    bdk = await loadReaderBdk(server.host);
  });

  afterAll(async () => {
    for (const r of readers) r.link.close();
    await Promise.allSettled(contexts.map((c) => c.close()));
    await merchant?.close();
    await browser?.close();
    await server?.stop();
  });

  it('E1-E9 X1: an order paid on the PC page: code and reader shown, card read by the PIN pad, PIN by voice call, debit, merchant notified, SMS, card data deleted', async () => {
    const till = await reader('till-1', track2Of(RICH));
    const order = await merchant.createOrder({ amount: 12800, description: 'Two tea cups' });
    const before = balance(RICH.pan);
    const page = await openPage(PC, `code=${order.transactionCode}&reader=till-1`);

    // E3, E4: merchant, amount, the code, and the reader connected.
    await expect.poll(() => page.locator('#code').textContent()).toBe(order.transactionCodeDisplay);
    expect(await page.locator('#merchant').textContent()).toBe('Tea House Ltd');
    expect(await page.locator('#amount').textContent()).toBe('128.00 CNY');
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('connected');
    // PC layout: the order and the payment side by side.
    const [summary, form] = await Promise.all([page.locator('#order').boundingBox(), page.locator('#pay-form').boundingBox()]);
    expect(form!.x).toBeGreaterThan(summary!.x + summary!.width - 1);
    await screenshot(page, 'pc');

    // E5: the phone answers and keys the PIN.
    server.host.mobile.voice.phone(E164(PAYER), { answer: { afterSeconds: 0 }, steps: [`${TEST_PIN}#`] });
    await pay(page, { pin: 'voice' });
    await expect.poll(() => page.locator('#result').getAttribute('data-state'), { timeout: 20_000 }).toBe('paid');
    expect(await page.locator('#result-text').textContent()).toContain('128.00 CNY paid to Tea House Ltd');
    await screenshot(page, 'paid');

    // E6: debited once, over ISO 8583 with the track read by the reader and the voice PIN block.
    expect(balance(RICH.pan)).toBe((before as number) - 12800);
    const cardRead = JSON.parse(till.frames.find((f) => f.includes('"card-read"')) as string) as { pinBlock?: string; track2: string };
    expect(cardRead.pinBlock).toBeUndefined(); // the PIN did not travel with the track (E5)
    expect(await orderState(order.orderNumber)).toBe('paid');
    // E8: the merchant told asynchronously, signed; E7: the deletion event in the same stream.
    const paid = await until('the paid notification', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.status === 'paid'));
    expect(paid).toMatchObject({ amount: 12800, merchantOrderId: order.merchantOrderId });
    const deleted = await until('the deletion event', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.type === 'sensitive-data-deleted'));
    expect(deleted).toMatchObject({ reason: 'paid', deleted: ['track2', 'pin-block'] });
    expect(merchant.refused).toBe(0);
    expect(server.host.checkout.vault.orders()).not.toContain(order.orderNumber);
    // E9: the text.
    await until('the text', () => texts(PAYER).find((t) => t.includes('128.00') && t.includes('Tea House Ltd')));
  });

  it('E4: the page follows the reader live: unplugged shows disconnected, back shows connected', async () => {
    const order = await merchant.createOrder({ amount: 100, description: 'Sugar' });
    const first = await reader('till-live', undefined);
    const page = await openPage(PC, `code=${order.transactionCode}&reader=till-live`);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('connected');
    first.link.unplug();
    await expect.poll(() => page.locator('#reader').getAttribute('data-status'), { timeout: 5_000 }).toBe('disconnected');
    await reader('till-live', undefined);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status'), { timeout: 5_000 }).toBe('connected');
    // The shop's next order on the same reader: the new page takes the reader over from the one left open.
    const next = await merchant.createOrder({ amount: 100, description: 'Salt' });
    const nextPage = await openPage(PC, `code=${next.transactionCode}&reader=till-live`);
    await expect.poll(() => nextPage.locator('#reader').getAttribute('data-status')).toBe('connected');
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('disconnected');
  });

  it('E3 E4: on an iPad, one column; the PIN keyed on the PIN pad with the swipe pays', async () => {
    await reader('ipad-1', track2Of(TEST_CARDS.masterCard));
    const order = await merchant.createOrder({ amount: 2500, description: 'Green tea' });
    const page = await openPage(IPAD, `order=${order.orderNumber}&reader=ipad-1`);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('connected');
    const [summary, form] = await Promise.all([page.locator('#order').boundingBox(), page.locator('#pay-form').boundingBox()]);
    expect(form!.y).toBeGreaterThan(summary!.y + summary!.height - 1);
    expect(summary!.width).toBeGreaterThan(IPAD.width * 0.8);
    await screenshot(page, 'ipad');
    const before = balance(TEST_CARDS.masterCard.pan);
    await pay(page, { pin: 'pad', mobile: '15012345678' });
    await expect.poll(() => page.locator('#result').getAttribute('data-state'), { timeout: 20_000 }).toBe('paid');
    expect(balance(TEST_CARDS.masterCard.pan)).toBe((before as number) - 2500);
  });

  it('E4 E7: a keyboard-wedge swipe typed into the page pays, PIN by voice', async () => {
    const order = await merchant.createOrder({ amount: 300, description: 'Honey' });
    const page = await openPage(PC, `code=${order.transactionCode}`);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('none');
    const mobile = '13600136000';
    server.host.mobile.voice.phone(E164(mobile), { answer: { afterSeconds: 0 }, steps: [`${TEST_PIN}#`] });
    const before = balance(TEST_CARDS.visa.pan);
    await pay(page, { mode: 'swipe', mobile });
    await expect.poll(() => page.locator('#swipe-hint').isVisible()).toBe(true);
    const card = TEST_CARDS.visa;
    await page.keyboard.type(`%B${card.pan}^LI/LEI^${card.expiry}1011234000000?;${track2Of(card)}?`);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#result').getAttribute('data-state'), { timeout: 20_000 }).toBe('paid');
    expect(balance(card.pan)).toBe((before as number) - 300);
  });

  it('E5 E6: insufficient funds (51): the page says so, the order is not paid, nothing moved', async () => {
    await reader('till-poor', track2Of(POOR));
    const order = await merchant.createOrder({ amount: 9900, description: 'Tea pot' });
    const page = await openPage(PC, `code=${order.transactionCode}&reader=till-poor`);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('connected');
    const before = balance(POOR.pan);
    await pay(page, { pin: 'pad' });
    await failedWith(page, 'PAYMENT_INSUFFICIENT_FUNDS');
    expect(await page.locator('#result-text').textContent()).toContain('does not have enough money');
    await screenshot(page, 'insufficient-funds');
    expect(balance(POOR.pan)).toBe(before);
    expect(await orderState(order.orderNumber)).toBe('failed');
    await until('the failed notification', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.status === 'failed'));
    await until('the deletion event after the sweep', () => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.type === 'sensitive-data-deleted' && n.reason === 'failed'));
  });

  it('E5: a wrong PIN by voice is asked again, up to the limit; then refused, nothing moved', async () => {
    // A card no later test pays with: the issuer locks its PIN after three wrong ones.
    const card = TEST_CARDS.masterCard;
    await reader('till-wrong', track2Of(card));
    const mobile = '13700137000';
    server.host.mobile.voice.phone(E164(mobile), { answer: { afterSeconds: 0 }, steps: [`${WRONG_PIN}#`] });
    const order = await merchant.createOrder({ amount: 700, description: 'Cups' });
    const page = await openPage(PC, `code=${order.transactionCode}&reader=till-wrong`);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('connected');
    const before = balance(card.pan);
    await pay(page, { pin: 'voice', mobile });
    await expect.poll(() => page.locator('#result').getAttribute('data-state'), { timeout: 20_000 }).toBe('failed');
    // 55, called again; 55, called again; the issuer locks the PIN at the third (75).
    expect(await page.locator('#result').getAttribute('data-code')).toBe('PAYMENT_DECLINED');
    expect((await server.host.gateway.orders.findByNumber(order.orderNumber)).failureReason).toBe('declined:75');
    const calls = server.host.mobile.voice.outboundCalls().filter((c) => c.to === E164(mobile));
    expect(calls.length).toBe(3);
    expect(balance(card.pan)).toBe(before);
    expect(await orderState(order.orderNumber)).toBe('failed');
  });

  it('E5: an unanswered PIN call ends the payment with its message, nothing moved', async () => {
    await reader('till-busy', track2Of(TEST_CARDS.visa));
    const mobile = '13500135000';
    server.host.mobile.voice.phone(E164(mobile), { answer: 'busy' });
    const order = await merchant.createOrder({ amount: 800, description: 'Kettle' });
    const page = await openPage(PC, `code=${order.transactionCode}&reader=till-busy`);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('connected');
    const before = balance(TEST_CARDS.visa.pan);
    await pay(page, { pin: 'voice', mobile });
    await failedWith(page, 'PAYMENT_PIN_NOT_CAPTURED');
    expect(await page.locator('#result-text').textContent()).toContain('PIN by phone');
    expect(balance(TEST_CARDS.visa.pan)).toBe(before);
  });

  it('E4: the reader unplugged while the page waits for the swipe: CARD_READER_DISCONNECTED, nothing moved', async () => {
    const till = await reader('till-unplug', undefined);
    const order = await merchant.createOrder({ amount: 900, description: 'Tray' });
    const page = await openPage(PC, `code=${order.transactionCode}&reader=till-unplug`);
    await expect.poll(() => page.locator('#reader').getAttribute('data-status')).toBe('connected');
    await pay(page, { pin: 'pad' });
    await expect.poll(() => page.locator('#step').getAttribute('data-step')).toBe('reading-card');
    till.link.unplug();
    await failedWith(page, 'CARD_READER_DISCONNECTED');
    expect(await orderState(order.orderNumber)).toBe('failed');
  });

  it('E3: two browsers on one code: one pays, the other is refused; a replayed pay request is refused', async () => {
    const till = await reader('till-race', undefined);
    const order = await merchant.createOrder({ amount: 400, description: 'Spoons' });
    const first = await openPage(PC, `code=${order.transactionCode}&reader=till-race`);
    let payRequest: { url: string; body: string } | undefined;
    first.on('request', (r) => {
      if (r.url().endsWith('/pay')) payRequest = { url: r.url(), body: r.postData() ?? '' };
    });
    const second = await openPage(IPAD, `code=${order.transactionCode}`);
    await expect.poll(() => first.locator('#reader').getAttribute('data-status')).toBe('connected');
    await expect.poll(() => second.locator('#code').textContent()).toBe(order.transactionCodeDisplay);
    const before = balance(RICH.pan);
    await pay(first, { pin: 'pad' });
    await expect.poll(() => first.locator('#step').getAttribute('data-step')).toBe('reading-card');
    // The second browser swipes on its keyboard reader while the first holds the order.
    await pay(second, { mode: 'swipe', mobile: '13600136000' });
    await second.keyboard.type(`;${track2Of(TEST_CARDS.visa)}?`);
    await second.keyboard.press('Enter');
    await failedWith(second, 'GATEWAY_ORDER_NOT_PAYABLE');
    till.card = track2Of(RICH);
    till.swipes.swipe({ status: 'read', track2: asciiToBytes(till.card) });
    await expect.poll(() => first.locator('#result').getAttribute('data-state'), { timeout: 20_000 }).toBe('paid');
    expect(balance(RICH.pan)).toBe((before as number) - 400);
    // The same pay request again (a replay): refused, nothing runs.
    const replay = await first.evaluate(async (sent) => {
      const answer = await fetch(sent.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sent.body });
      return { status: answer.status, body: (await answer.json()) as { error: { code: string } } };
    }, payRequest as { url: string; body: string });
    expect(replay).toMatchObject({ status: 409, body: { error: { code: 'PAYMENT_REQUEST_REPLAYED' } } });
    expect(balance(RICH.pan)).toBe((before as number) - 400);
  });

  it('E3: an expired order is refused on the page', async () => {
    const order = await merchant.createOrder({ amount: 500, description: 'Lid' });
    await server.host.database.db.withTables<{ gateway_orders: { order_number: string; expires_at: string; created_at: string } }>()
      .updateTable('gateway_orders')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('order_number', '=', order.orderNumber)
      .execute();
    const page = await openPage(IPAD, `code=${order.transactionCode}`);
    await failedWith(page, 'GATEWAY_ORDER_EXPIRED');
    expect(await page.locator('#result-text').textContent()).toContain('expired');
  });

  it('X1: no track data, PAN, PIN, PIN block or DUKPT key in clear in any row, log line, file or answer', async () => {
    await until('the vault emptied by its sweep', () => server.host.checkout.vault.orders().length === 0 || undefined);
    const sources: ScanSource[] = [
      ...(await databaseRows(server.host.database)),
      { name: 'host log', kind: 'log', bytes: new Uint8Array(Buffer.from(server.log(), 'utf8')) },
      { name: 'gateway answers', kind: 'response', bytes: new Uint8Array(Buffer.from(answers.join('\n'), 'utf8')) },
      ...filesUnder(server.host.config.dataDir, 'data', (p) => /(\.key|key\.pem|identity\.json)$/.test(p)).sources,
    ];
    const pinBlocks = readers.flatMap((r) => r.frames.map((f) => JSON.parse(f) as { pinBlock?: string }).filter((f) => f.pinBlock !== undefined).map((f) => fromHex(f.pinBlock as string)));
    expect(pinBlocks.length).toBeGreaterThan(0);
    const secrets: SecretKey[] = [
      ...[RICH, POOR, TEST_CARDS.visa, TEST_CARDS.masterCard].flatMap((c) => [
        { label: `PAN ${c.pan.slice(-4)}`, key: asciiToBytes(c.pan) },
        { label: `track 2 ${c.pan.slice(-4)}`, key: asciiToBytes(track2Of(c)) },
      ]),
      { label: 'the PIN keyed by phone', key: asciiToBytes(`${TEST_PIN}#`) },
      { label: 'the wrong PIN', key: asciiToBytes(WRONG_PIN) },
      ...pinBlocks.map((b, i) => ({ label: `reader PIN block ${i}`, key: b })),
      { label: 'the BDK', key: bdk },
      ...readers.map((r) => ({ label: `initial key of ${r.readerId}`, key: r.initialKey })),
    ];
    expect(sources.some((s) => s.kind === 'database' && s.bytes.length > 0)).toBe(true);
    expect(findKeys(secrets, sources)).toEqual([]);
  });
});
