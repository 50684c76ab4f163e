/**
 * System D end to end in a real browser (docs/bill-payments.md "The phone web app"; SPEC D1-D8,
 * X1): the real host on loopback, the merchant simulator sending signed orders, and the phone web
 * app in chromium as the payer's phone. The payer enrols by SMS code and binds two cards, one
 * with too little money; a bill ordered by someone else for the payer's number arrives in the app
 * without a reload; the first card is refused for funds, the second pays with the PIN keyed on the
 * page; the merchant receives the signed result and the buyer a text; the books balance. Then: one
 * bill paid from two tabs at once, an expired bill, a refused bill; and at the end nothing of the
 * cards, the PIN or the keys in clear in the browser's storage, its console or the host's log.
 */
import type { Browser, Page } from 'playwright-core';
import type { Bill } from '../../host/bills/billPlatform';
import type { MerchantSimulator } from '../../host/simulators/merchantSimulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../host/payments/ledger/ledger';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { type BrowserHost, startBrowserHost } from './support/browserHost';
import { PROBE, loadPageModule } from './support/pageModule';
import { startMerchant } from './support/merchant';
import { HAVE_CHROMIUM, type Phone, launchChromium, newPhone } from './support/phoneBrowser';
import { bindCard, confirmPin, enrol, keyPin, openBill, payWith, screen, screenshot } from './support/phoneScreens';

const PAYER = '13912345678';
const BUYER = '15012345678';
const E164 = (n: string) => `+86${n}`;
const RICH = TEST_CARDS.unionPay;
const POOR = TEST_CARDS.insufficientFunds;
const mmyy = (yymm: string) => `${yymm.slice(2)}/${yymm.slice(0, 2)}`;
const MERCHANT_NAME = 'Galaxy Mall Ltd';
/** The shortest expiry a merchant may give is one minute; the bill is ordered first, so less is left by its test. */
const EXPIRY_WAIT_MS = 65_000;

describe.skipIf(!HAVE_CHROMIUM)('bill payment in the phone web app (real browser, real host)', () => {
  let server: BrowserHost;
  let browser: Browser;
  let phone: Phone;
  let page: Page;
  let merchant: MerchantSimulator;
  let expiring: Bill;
  let first: Bill;

  /** D2, D8: the merchant's signed order, ordered by BUYER for PAYER to pay; the bill it made. */
  async function order(fields: { orderId: string; amountMinor: number; goods: string; expiresInMinutes?: number }): Promise<Bill> {
    const answer = await merchant.placeOrder({ ...fields, currency: 'CNY', designatedMobile: E164(PAYER), buyerMobile: E164(BUYER) });
    if (answer.status !== 201) throw new Error(`order ${fields.orderId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return (answer.body as { bill: Bill }).bill;
  }

  const texts = (mobile: string) => server.host.mobile.sms.sent(E164(mobile)).map((m) => m.text);
  const codeTexts = () => texts(PAYER).filter((t) => /verification code is \d{6}/.test(t));
  const textedCode = async () => {
    const code = /verification code is (\d{6})/.exec(codeTexts().at(-1) ?? '')?.[1];
    if (!code) throw new Error(`no code texted to ${PAYER}`);
    return code;
  };
  const balance = (pan: string) => server.host.mobile.network.provider.balanceOf(pan)?.balance;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startBrowserHost(), launchChromium()]);
    phone = await newPhone(browser, server.url);
    page = phone.page;
    merchant = await startMerchant(server.host, MERCHANT_NAME, '6222020000000000001');
    // A bill of one minute (the shortest a merchant may give), for the expiry test at the end: it
    // runs out while the others run. Ordered before the phone exists, it waits for it (D3).
    expiring = await order({ orderId: 'ORD-EXPIRES', amountMinor: 990, goods: 'Umbrella', expiresInMinutes: 1 });
  });

  afterAll(async () => {
    await merchant?.close();
    await browser?.close();
    await server?.stop();
  });

  it('D1, D3: enrols by the texted code and binds two cards, each verified by its bank; the bill that was waiting for the number is there', async () => {
    await enrol(page, PAYER, textedCode);
    await bindCard(page, { pan: POOR.pan, expiry: mmyy(POOR.expiry), holder: POOR.holderName }, 'bind-card');
    await screen(page, 'bills');
    await page.click('[data-screen=bills] button.secondary');
    await bindCard(page, { pan: RICH.pan, expiry: mmyy(RICH.expiry), holder: RICH.holderName });
    await screen(page, 'bills');
    const cards = await page.$$eval('[data-screen=bills] .cards li', (items) => items.map((i) => i.textContent));
    expect(cards).toEqual(['622202*********0025', '622202*********0017']);
    expect(codeTexts()).toHaveLength(1);
    await page.waitForSelector(`[data-screen=bills] button[data-bill=${expiring.id}]`);
  });

  it('D2, D3, D8: a signed order for the payer\'s number, placed by someone else, arrives in the open app without a reload', async () => {
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    first = await order({ orderId: 'ORD-0001', amountMinor: 12_800, goods: 'Wireless earphones ×1' });
    await page.waitForSelector(`[data-screen=bills] button[data-bill=${first.id}]`);
    expect(navigations).toEqual([]);
    await screenshot(page, 'bills');
    await openBill(page, first.id);
    const shown = await page.$eval('[data-screen=bill]', (el) => el.textContent ?? '');
    expect(shown).toContain('CN¥128.00');
    expect(shown).toContain(MERCHANT_NAME);
    expect(shown).toContain(`CN=${MERCHANT_NAME}`);
    expect(shown).toContain('Wireless earphones ×1');
    expect(shown).toContain('ORD-0001');
    expect(shown).toContain('Paying for +86 150 1234 5678');
    expect(shown).toMatch(/1[45]:\d\d left/);
    await screenshot(page, 'bill');
  });

  it('D4, D5, D6: too little money on the first card is told and marked; the second card pays with the PIN keyed on the page; merchant and buyer are told; the books balance', async () => {
    const before = { rich: balance(RICH.pan), poor: balance(POOR.pan) };
    await payWith(page, '0025');
    await screenshot(page, 'pick-card');
    await keyPin(page, TEST_PIN);
    await screenshot(page, 'pin');
    await confirmPin(page);
    await screen(page, 'pick-card');
    expect(await page.textContent('[data-screen=pick-card] [role=alert]')).toBe('Insufficient funds on 622202*********0025: pick another card.');
    expect(await page.textContent('xpath=//label[contains(., "0025")]')).toContain('insufficient funds');
    await screenshot(page, 'insufficient-funds');
    await payWith(page, '0017');
    await keyPin(page, TEST_PIN);
    await confirmPin(page);
    await screen(page, 'result');
    expect(await page.getAttribute('[data-screen=result]', 'data-result')).toBe('paid');
    expect(await page.textContent('[data-screen=result] .success')).toBe(`Paid CN¥128.00 to ${MERCHANT_NAME} with 622202*********0017.`);
    await screenshot(page, 'paid');

    expect({ rich: balance(RICH.pan), poor: balance(POOR.pan) }).toEqual({ rich: before.rich! - 12_800, poor: before.poor });
    await expect.poll(() => merchant.received.filter((n) => n.billId === first.id).sort((a, b) => a.sequence - b.sequence).map((n) => n.event), { timeout: 15_000 }).toEqual(['bill.payment_declined', 'bill.paid']);
    await expect.poll(() => texts(BUYER).some((t) => t.includes('ORD-0001') && t.includes('on your behalf')), { timeout: 15_000 }).toBe(true);
    const books = await createLedger(server.host.database).verify();
    expect(books.problems).toEqual([]);
    expect(books.ok).toBe(true);
  });

  it('D5: one bill paid from two tabs at once: exactly one payment goes through, the other tab is told the bill is paid already', async () => {
    const bill = await order({ orderId: 'ORD-TWO-TABS', amountMinor: 2_500, goods: 'Phone case' });
    const before = balance(RICH.pan)!;
    const tabs = [page, await phone.context.newPage()];
    await tabs[1].goto('/bills/app/');
    await page.click('[data-screen=result] button.primary');
    for (const tab of tabs) {
      // A tab in the background gets no animation frames, which every tap waits for.
      await tab.bringToFront();
      await openBill(tab, bill.id);
      await payWith(tab, '0017');
      await keyPin(tab, TEST_PIN);
    }
    // Both taps at the same moment: DOM clicks, which wait for nothing.
    await Promise.all(tabs.map((tab) => tab.$eval('[data-screen=pin] button.primary', (button) => (button as unknown as { click(): void }).click())));
    for (const tab of tabs) await screen(tab, 'result');
    const results = await Promise.all(tabs.map((tab) => tab.getAttribute('[data-screen=result]', 'data-result')));
    expect([...results].sort()).toEqual(['failed', 'paid']);
    const loser = tabs[results.indexOf('failed')];
    expect(await loser.getAttribute('[data-screen=result] [data-code]', 'data-code')).toBe('BILL_ALREADY_PAID');
    await screenshot(loser, 'already-paid');
    expect(balance(RICH.pan)).toBe(before - 2_500);
    await tabs[1].close();
    await page.bringToFront();
  });

  it('D7: refusing a bill closes it; the merchant is told and tells the buyer', async () => {
    const bill = await order({ orderId: 'ORD-REFUSE', amountMinor: 4_200, goods: 'Gift card' });
    await page.click('[data-screen=result] button.primary');
    await openBill(page, bill.id);
    await page.click('[data-screen=bill] button.danger');
    await screen(page, 'result');
    expect(await page.getAttribute('[data-screen=result]', 'data-result')).toBe('refused');
    await screenshot(page, 'refused');
    await expect.poll(() => merchant.received.filter((n) => n.billId === bill.id).map((n) => n.event), { timeout: 15_000 }).toEqual(['bill.refused']);
    await expect.poll(() => texts(BUYER).some((t) => t.includes('ORD-REFUSE') && t.includes('refused')), { timeout: 15_000 }).toBe(true);
  });

  it('D5: an expired bill cannot be paid: the app turns Pay off at the end of the countdown, and a PIN confirmed after it is refused', async () => {
    const tab = await phone.context.newPage();
    await tab.goto('/bills/app/');
    await openBill(tab, expiring.id);
    await payWith(tab, '0017');
    await keyPin(tab, TEST_PIN);
    const viewer = await phone.context.newPage();
    await viewer.goto('/bills/app/');
    await openBill(viewer, expiring.id);
    const before = balance(RICH.pan);
    await viewer.waitForSelector('[data-screen=bill] .countdown.late', { timeout: EXPIRY_WAIT_MS });
    expect(await viewer.isDisabled('[data-screen=bill] button.primary')).toBe(true);
    await screenshot(viewer, 'expired');
    await viewer.click('[data-screen=bill] button.secondary');
    await screen(viewer, 'bills');
    expect(await viewer.$(`[data-screen=bills] button[data-bill=${expiring.id}]`)).toBeNull();
    await tab.bringToFront();
    await confirmPin(tab);
    await screen(tab, 'result');
    expect(await tab.getAttribute('[data-screen=result] [data-code]', 'data-code')).toBe('BILL_EXPIRED');
    expect(balance(RICH.pan)).toBe(before);
  }, EXPIRY_WAIT_MS + 30_000);

  it('X1: nothing of the cards, the PIN or the keys in clear in the browser\'s storage (IndexedDB, Web Storage, Cache Storage), its console, or the host\'s log', async () => {
    // The app's CSP (rightly) refuses the probe's inline script; /healthz is the same origin, so the same storage.
    const probe = await phone.context.newPage();
    await probe.goto('/healthz');
    await loadPageModule(probe, PROBE, 'probe');
    const stored: { where: string; text: string }[] = await probe.evaluate(() => (globalThis as any).probe.everythingStored());
    const where = stored.map((s) => s.where.replace(/^(Cache Storage \S+) .*\/bills\/app\/(.*)$/, '$1 $2'));
    // The element key (a non-extractable key object) and sealed records only; the shell in the cache.
    expect(where.filter((w) => w.startsWith('IndexedDB')).sort()).toEqual(['IndexedDB paypad-phone/element/element-key', 'IndexedDB paypad-phone/element/phone-state']);
    expect(stored.find((s) => s.where.endsWith('element-key'))?.text).toMatch(/^CryptoKey .*"extractable":false/);
    expect(where.filter((w) => /Storage /.test(w) && !w.startsWith('Cache Storage'))).toEqual([]);
    expect(where.filter((w) => w.startsWith('Cache Storage')).map((w) => w.split(' ').at(-1)).sort()).toEqual(['', 'app.css', 'app.js', 'icon.svg', 'manifest.webmanifest']);

    const secrets = [RICH.pan, POOR.pan, RICH.pan.slice(6, 15), `pin=${TEST_PIN}`, `"${TEST_PIN}"`];
    const records = stored.filter((s) => !s.where.startsWith('Cache Storage'));
    for (const secret of secrets) {
      expect(records.filter((s) => s.text.includes(secret)).map((s) => s.where), secret).toEqual([]);
      expect(phone.console.filter((line) => line.includes(secret)), secret).toEqual([]);
    }
    for (const pan of [RICH.pan, POOR.pan]) expect(server.log().includes(pan), 'PAN in the host log').toBe(false);
    expect(phone.pageErrors).toEqual([]);
  });
});
