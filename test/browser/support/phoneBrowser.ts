/**
 * Debian's chromium, driven headless by playwright-core, as a phone: a 390 x 844 CSS-pixel
 * portrait screen at 2x, touch, a mobile user agent's viewport rules. Each phone is a browser
 * context of its own (its own IndexedDB, Cache Storage and service workers), as two phones are.
 *
 * The browser suites skip, saying why, where /usr/bin/chromium is not installed (.ci/run installs
 * it on CI).
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const NO_CHROMIUM = `skipped: ${CHROMIUM} is not installed (apt-get install chromium)`;

if (!HAVE_CHROMIUM) console.warn(`test/browser: ${NO_CHROMIUM}`);

export const PHONE_VIEWPORT = Object.freeze({ width: 390, height: 844 });

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

/** A fresh phone: nothing stored, on the host's origin, everything the page logs kept in `console`. */
export async function newPhone(browser: Browser, baseUrl: string): Promise<Phone> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: PHONE_VIEWPORT,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'en-GB',
    timezoneId: 'Asia/Shanghai',
  });
  const console: string[] = [];
  const pageErrors: string[] = [];
  context.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
  context.on('weberror', (e) => pageErrors.push(String(e.error())));
  const page = await context.newPage();
  return { context, page, console, pageErrors };
}

export interface Phone {
  readonly context: BrowserContext;
  /** The first tab. */
  readonly page: Page;
  /** What every tab wrote to its console. */
  readonly console: string[];
  /** Uncaught errors in any tab. */
  readonly pageErrors: string[];
}
