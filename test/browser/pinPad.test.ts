/**
 * The PIN pad on the page (host/bills/web/app/pinPad.ts) in chromium (D4, X1): the digits keyed,
 * by tap or by keyboard, show only as dots; no element, attribute or field of the page holds them;
 * take() hands them over once and the pad is empty after, whatever the taker does.
 */
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchChromium } from './support/phoneBrowser';
import { loadPageModule } from './support/pageModule';

const PIN_PAD = fileURLToPath(new URL('../../host/bills/web/app/pinPad.ts', import.meta.url));

describe.skipIf(!HAVE_CHROMIUM)('the PIN pad', () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setContent('<!doctype html><main id="screen"></main>');
    await loadPageModule(page, PIN_PAD, 'pinPad');
    await page.evaluate(() => {
      const g = globalThis as any;
      g.lengths = [];
      g.pad = new g.pinPad.PinPad((n: number) => g.lengths.push(n));
      g.document.getElementById('screen').append(g.pad.element);
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('D4, X1: keyed digits show as dots only; the page holds them nowhere; take() hands them over once', async () => {
    for (const digit of '2580') await page.click(`[data-key="${digit}"]`);
    await page.keyboard.type('13');
    await page.keyboard.press('Backspace');
    const shown = await page.evaluate(() => {
      const g = globalThis as any;
      const html: string = g.document.documentElement.outerHTML;
      const fields = Array.from(g.document.querySelectorAll('input, textarea') as ArrayLike<{ value: string }>).map((f) => f.value);
      return { on: g.document.querySelectorAll('.pin-dots span.on').length, pinInHtml: html.includes('25801'), fields, length: g.pad.length };
    });
    expect(shown).toEqual({ on: 5, pinInHtml: false, fields: [], length: 5 });

    const taken = await page.evaluate(() => {
      const g = globalThis as any;
      const first = g.pad.take((pin: string) => pin);
      let threw = '';
      try {
        g.pad.take(() => {
          throw new Error('encipher failed');
        });
      } catch (e) {
        threw = (e as Error).message;
      }
      return { first, after: g.pad.length, second: g.pad.take((pin: string) => pin), threw, dots: g.document.querySelectorAll('.pin-dots span.on').length };
    });
    expect(taken).toEqual({ first: '25801', after: 0, second: '', threw: 'encipher failed', dots: 0 });
  });

  it('D4: at most 12 digits; Clear empties the pad', async () => {
    for (let i = 0; i < 14; i++) await page.click('[data-key="7"]');
    expect(await page.evaluate(() => (globalThis as any).pad.length)).toBe(12);
    await page.click('[data-key="clear"]');
    expect(await page.evaluate(() => (globalThis as any).pad.length)).toBe(0);
  });
});
