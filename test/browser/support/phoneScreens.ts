/**
 * A person using the phone web app, screen by screen, as the tests drive it: typing into the
 * fields, tapping the buttons and the PIN pad's keys, and waiting for the next screen (each screen's
 * root names itself in data-screen). Screenshots go to docs/images/phone-<name>.png when
 * PAYPAD_SCREENSHOTS=1 (so an ordinary run leaves the committed pictures alone).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

const IMAGES = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
const SCREEN_WAIT_MS = 15_000;

/** Waits for screen `name`; when it does not come, the error says what the phone shows instead. */
export async function screen(page: Page, name: string): Promise<void> {
  try {
    await page.waitForSelector(`[data-screen=${name}]`, { timeout: SCREEN_WAIT_MS });
  } catch (e) {
    const shown = await page.textContent('#screen').catch(() => '(page gone)');
    throw new Error(`the phone did not show the ${name} screen; it shows: ${shown?.replace(/\s+/g, ' ').slice(0, 400)}`, { cause: e });
  }
}

export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.PAYPAD_SCREENSHOTS === '1') await page.screenshot({ path: join(IMAGES, `phone-${name}.png`) });
}

/** Enrolment: the number, then the code the simulated phone received (read by `textedCode`). */
export async function enrol(page: Page, mobile: string, textedCode: () => Promise<string>): Promise<void> {
  await page.goto('/bills/app/');
  await screen(page, 'enrol-number');
  await page.fill('#mobile', mobile);
  await screenshot(page, 'enrol');
  await page.click('[data-screen=enrol-number] button[type=submit]');
  await screen(page, 'enrol-code');
  await page.fill('#code', await textedCode());
  await page.click('[data-screen=enrol-code] button[type=submit]');
}

/** Binds a card from the bind screen (shown after enrolment, or from "Bind a card"); expiry as MM/YY. */
export async function bindCard(page: Page, card: { pan: string; expiry: string; holder: string }, shot?: string): Promise<void> {
  await screen(page, 'bind-card');
  await page.fill('#pan', card.pan);
  await page.fill('#expiry', card.expiry);
  await page.fill('#holder', card.holder);
  if (shot) await screenshot(page, shot);
  await page.click('[data-screen=bind-card] button[type=submit]');
}

/** Taps the bill in the list (waiting for it to arrive) and waits for the bill screen. */
export async function openBill(page: Page, billId: string): Promise<void> {
  await page.click(`[data-screen=bills] button[data-bill=${billId}]`, { timeout: SCREEN_WAIT_MS });
  await screen(page, 'bill');
}

/** From the bill screen: Pay, pick the card whose masked number ends in `last4`, continue to the PIN. */
export async function payWith(page: Page, last4: string): Promise<void> {
  if (await page.$('[data-screen=bill]')) await page.click('[data-screen=bill] button.primary');
  await screen(page, 'pick-card');
  await page.check(`xpath=//label[contains(., '${last4}')]/input`);
  await page.click('[data-screen=pick-card] button[type=submit]');
  await screen(page, 'pin');
}

/** Keys `pin` on the page's PIN pad (no text field holds it). */
export async function keyPin(page: Page, pin: string): Promise<void> {
  for (const digit of pin) await page.click(`[data-screen=pin] [data-key="${digit}"]`);
}

export async function confirmPin(page: Page): Promise<void> {
  await page.click('[data-screen=pin] button.primary');
}
