/**
 * System E's phone path in a real browser (docs/online-payments.md "Paying from the phone client";
 * SPEC E3, E6-E9, X1): the real host on loopback, a merchant creating signed orders at the gateway,
 * and the phone web app in chromium. The payer enrols, binds two cards, types an order's
 * transaction code (a mistyped one first, refused by its check digit), confirms the order and pays
 * it with the PIN keyed on the page: debit at the bank, the merchant's signed notification, the
 * text. An order the shop placed for the payer's account is listed without a code and paid; one
 * paid with too little money fails with its message and nothing taken. At the end nothing of the
 * cards or the phone's keys in clear in the host's rows or log, or the browser's console.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../host/payments/ledger/ledger';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { asciiToBytes } from '../../shared/bytes';
import { findKeys, type ScanSource } from '../e2e/support/keyLeakScan';
import { databaseRows } from '../e2e/support/runArtifacts';
import { type BrowserHost, startBrowserHost } from './support/browserHost';
import { type GatewayMerchant, startGatewayMerchant } from './support/checkoutKit';
import { HAVE_CHROMIUM, type Phone, launchChromium, newPhone } from './support/phoneBrowser';
import { bindCard, confirmPin, enrol, keyPin, screen, screenshot } from './support/phoneScreens';

const PAYER = '13912345601';
const E164 = `+86${PAYER}`;
const RICH = TEST_CARDS.unionPay;
const POOR = TEST_CARDS.insufficientFunds;
const mmyy = (yymm: string) => `${yymm.slice(2)}/${yymm.slice(0, 2)}`;

describe.skipIf(!HAVE_CHROMIUM)('paying a gateway order in the phone web app (real browser, real host)', () => {
  let server: BrowserHost;
  let browser: Browser;
  let phone: Phone;
  let page: Page;
  let merchant: GatewayMerchant;

  const balance = (pan: string) => server.host.mobile.network.provider.balanceOf(pan)?.balance as number;
  const orderState = async (orderNumber: string) => (await server.host.gateway.orders.findByNumber(orderNumber)).state;
  const textedCode = async () => /verification code is (\d{6})/.exec(server.host.mobile.sms.sent(E164).at(-1)?.text ?? '')?.[1] ?? '';

  /** From the order screen: Pay, the card ending `last4`, the PIN on the page's pad. */
  async function payOrderWith(last4: string, pin = TEST_PIN): Promise<void> {
    await page.click('[data-screen=order] button.primary');
    await screen(page, 'pick-card');
    await page.check(`xpath=//label[contains(., '${last4}')]/input`);
    await page.click('[data-screen=pick-card] button[type=submit]');
    await screen(page, 'pin');
    await keyPin(page, pin);
    await confirmPin(page);
    await screen(page, 'result');
  }

  async function findByCode(code: string): Promise<void> {
    await page.click('[data-screen=bills] [data-action=pay-by-code]');
    await screen(page, 'order-code');
    await page.fill('#code', code);
    await page.click('[data-screen=order-code] button[type=submit]');
  }

  beforeAll(async () => {
    [server, browser] = await Promise.all([startBrowserHost(), launchChromium()]);
    phone = await newPhone(browser, server.url);
    page = phone.page;
    merchant = await startGatewayMerchant(server.host, 'Tea House Ltd');
  });

  afterAll(async () => {
    await merchant?.close();
    await browser?.close();
    await server?.stop();
  });

  it('E3: enrols and binds two cards; the bills screen offers paying an order by code', async () => {
    await enrol(page, PAYER, textedCode);
    for (const card of [POOR, RICH]) {
      if (card === RICH) await page.click('[data-screen=bills] button.secondary:not([data-action])');
      await bindCard(page, { pan: card.pan, expiry: mmyy(card.expiry), holder: card.holderName });
      await screen(page, 'bills');
    }
    expect(await page.$$eval('[data-screen=bills] .cards li', (items) => items.map((i) => i.textContent))).toEqual(['622202*********0025', '622202*********0017']);
    expect(await page.textContent('[data-screen=bills] [data-action=pay-by-code]')).toBe('Pay an order by code');
  });

  it('E3, E6, E8, E9: a mistyped code is refused by its check digit; the right one shows the order, paid with the PIN keyed on the page', async () => {
    const order = await merchant.createOrder({ amount: 12_800, description: 'Two tea cups' });
    const c = order.transactionCode;
    await findByCode(`${c.slice(0, 11)}${(Number(c[11]) + 1) % 10}`);
    await screen(page, 'order-code');
    await expect.poll(() => page.getAttribute('[data-screen=order-code] [role=alert]', 'data-code')).toBe('TRANSACTION_CODE_INVALID');
    expect(await page.textContent('[data-screen=order-code] [role=alert]')).toContain('a digit is wrong or two are swapped');
    await page.fill('#code', order.transactionCodeDisplay);
    await screenshot(page, 'order-code');
    await page.click('[data-screen=order-code] button[type=submit]');
    await screen(page, 'order');
    const shown = await page.textContent('[data-screen=order]');
    expect(shown).toContain('CN¥128.00');
    expect(shown).toContain('Tea House Ltd');
    expect(shown).toContain('Two tea cups');
    expect(await page.textContent('[data-screen=order] [data-field=code]')).toBe(order.transactionCodeDisplay);
    await screenshot(page, 'order');

    const before = balance(RICH.pan);
    await payOrderWith('0017');
    expect(await page.getAttribute('[data-screen=result]', 'data-result')).toBe('paid');
    expect(await page.textContent('[data-screen=result] .success')).toBe('Paid CN¥128.00 to Tea House Ltd with 622202*********0017.');
    await screenshot(page, 'order-paid');
    expect(balance(RICH.pan)).toBe(before - 12_800);
    expect(await orderState(order.orderNumber)).toBe('paid');
    await expect.poll(() => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.status === 'paid'), { timeout: 15_000 }).toMatchObject({ amount: 12_800 });
    expect(merchant.refused).toBe(0);
    await expect.poll(() => server.host.mobile.sms.sent(E164).some((m) => m.text.includes(`order ${order.merchantOrderId}`)), { timeout: 15_000 }).toBe(true);
    expect((await createLedger(server.host.database).verify()).problems).toEqual([]);

    // The same code again: the order is shown paid, with no Pay button.
    await page.click('[data-screen=result] button.primary');
    await screen(page, 'bills');
    await findByCode(order.transactionCode);
    await screen(page, 'order');
    expect(await page.getAttribute('[data-screen=order]', 'data-state')).toBe('paid');
    expect(await page.$('[data-screen=order] button.primary')).toBeNull();
    await page.click('[data-screen=order] button.secondary');
    await screen(page, 'bills');
  });

  it("E3: an order placed for the payer's account is listed without a code; paid with too little money it fails, nothing taken", async () => {
    const order = await merchant.createOrder({ amount: 9_900, description: 'A tea chest', account: PAYER });
    await page.reload();
    await page.waitForSelector(`[data-screen=bills] button[data-order=${order.orderNumber}]`);
    await screenshot(page, 'orders');
    await page.click(`[data-screen=bills] button[data-order=${order.orderNumber}]`);
    await screen(page, 'order');
    expect(await page.textContent('[data-screen=order]')).toContain('placed this order for your paypad account');
    const before = balance(POOR.pan);
    await payOrderWith('0025');
    expect(await page.getAttribute('[data-screen=result]', 'data-result')).toBe('failed');
    expect(await page.getAttribute('[data-screen=result] [role=alert]', 'data-code')).toBe('PAYMENT_INSUFFICIENT_FUNDS');
    expect(await page.textContent('[data-screen=result] [role=alert]')).toContain('Nothing was taken');
    expect(balance(POOR.pan)).toBe(before);
    expect(await orderState(order.orderNumber)).toBe('failed');
    await page.click('[data-screen=result] button.primary');
    await screen(page, 'bills');
    expect(await page.$(`[data-screen=bills] button[data-order=${order.orderNumber}]`)).toBeNull();
  });

  it('X1: no card number in clear in any row, the host log or the browser console; no page errors', async () => {
    const sources: ScanSource[] = [
      ...(await databaseRows(server.host.database)),
      { name: 'host log', kind: 'log', bytes: new Uint8Array(Buffer.from(server.log(), 'utf8')) },
      { name: 'browser console', kind: 'log', bytes: new Uint8Array(Buffer.from(phone.console.join('\n'), 'utf8')) },
    ];
    expect(findKeys([RICH, POOR].map((c) => ({ label: `PAN ${c.pan.slice(-4)}`, key: asciiToBytes(c.pan) })), sources)).toEqual([]);
    expect(phone.pageErrors).toEqual([]);
  });
});
