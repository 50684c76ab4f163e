/**
 * The browser's secure element (host/bills/web/app/indexedDbElement.ts) in chromium, on the host's
 * origin (D1, X1): its key is a non-extractable WebCrypto key that no script can read out; what it
 * keeps is sealed under that key and bound to its record's name; it outlives the page; another
 * phone (another browser profile) cannot open it.
 */
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserHost, startBrowserHost } from './support/browserHost';
import { HAVE_CHROMIUM, type Phone, launchChromium, newPhone } from './support/phoneBrowser';
import { PROBE, loadPageModule } from './support/pageModule';

const ELEMENT = fileURLToPath(new URL('../../host/bills/web/app/indexedDbElement.ts', import.meta.url));
const SECRET = 'pan=6222021000000000017';

/** In the page: the element module as window.el, the storage probe as window.probe (page.evaluate sends the function's text only). */

describe.skipIf(!HAVE_CHROMIUM)('the browser secure element (IndexedDB + WebCrypto)', () => {
  let server: BrowserHost;
  let browser: Browser;
  let phone: Phone;

  async function elementPage(who: Phone) {
    const page = await who.context.newPage();
    await page.goto('/healthz');
    await loadPageModule(page, ELEMENT, 'el');
    await loadPageModule(page, PROBE, 'probe');
    return page;
  }

  beforeAll(async () => {
    [server, browser] = await Promise.all([startBrowserHost(), launchChromium()]);
    phone = await newPhone(browser, server.url);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('D1: the element key is a non-extractable AES-256-GCM key kept in IndexedDB; no script can export it', async () => {
    const page = await elementPage(phone);
    const key = await page.evaluate(async () => {
      await (globalThis as any).el.IndexedDbElement.open();
      const stored = await (globalThis as any).probe.readRecord('paypad-phone', 'element', 'element-key');
      const exported = await (globalThis as any).crypto.subtle.exportKey('raw', stored).then(
        () => 'exported',
        (e: Error) => e.name,
      );
      return { type: stored.constructor.name, extractable: stored.extractable, algorithm: stored.algorithm, usages: stored.usages, exported };
    });
    expect(key).toEqual({ type: 'CryptoKey', extractable: false, algorithm: { name: 'AES-GCM', length: 256 }, usages: ['encrypt', 'decrypt'], exported: 'InvalidAccessError' });
  });

  it('D1, X1: a record is stored sealed (no clear bytes in IndexedDB), opens under its own name only, and outlives the page', async () => {
    const page = await elementPage(phone);
    const stored = await page.evaluate(async (secret) => {
      const element = await (globalThis as any).el.IndexedDbElement.open();
      await element.put('card:1', new TextEncoder().encode(secret));
      const raw: Uint8Array = await (globalThis as any).probe.readRecord('paypad-phone', 'element', 'card:1');
      // The same sealed bytes under another name: the name is bound in, so they must not open.
      await (globalThis as any).probe.writeRecord('paypad-phone', 'element', 'card:2', raw);
      const moved = await element.get('card:2').then(
        () => 'opened',
        (e: { code: string }) => e.code,
      );
      return { everything: await (globalThis as any).probe.everythingStored(), rawLength: raw.length, moved };
    }, SECRET);
    expect(stored.everything.filter((item: { text: string }) => item.text.includes('6222021000000000017'))).toEqual([]);
    expect(stored.rawLength).toBe(12 + SECRET.length + 16);
    expect(stored.moved).toBe('PHONE_ELEMENT_INVALID');

    await page.close();
    const again = await elementPage(phone);
    const reopened = await again.evaluate(async () => {
      const element = await (globalThis as any).el.IndexedDbElement.open();
      return { value: new TextDecoder().decode(await element.get('card:1')), names: await element.names() };
    });
    expect(reopened.value).toBe(SECRET);
    expect(reopened.names.sort()).toEqual(['card:1', 'card:2']);
  });

  it('D1: what the client seals for one purpose does not open for another, nor once altered', async () => {
    const page = await elementPage(phone);
    const outcome = await page.evaluate(async (secret) => {
      const element = await (globalThis as any).el.IndexedDbElement.open();
      const sealed: Uint8Array = await element.seal('card', new TextEncoder().encode(secret));
      const altered = sealed.slice();
      altered[20] ^= 1;
      const attempt = (p: Promise<Uint8Array>) => p.then((b) => new TextDecoder().decode(b), (e: { code: string }) => e.code);
      return {
        same: await attempt(element.open('card', sealed)),
        otherPurpose: await attempt(element.open('phone-keys', sealed)),
        altered: await attempt(element.open('card', altered)),
      };
    }, SECRET);
    expect(outcome).toEqual({ same: SECRET, otherPurpose: 'PHONE_ELEMENT_INVALID', altered: 'PHONE_ELEMENT_INVALID' });
  });

  it('D1: another phone given the sealed record cannot open it (its element key is its own)', async () => {
    const raw = await (await elementPage(phone)).evaluate(async () => Array.from(await (globalThis as any).probe.readRecord('paypad-phone', 'element', 'card:1') as Uint8Array));
    const other = await newPhone(browser, server.url);
    try {
      const result = await (await elementPage(other)).evaluate(async (bytes) => {
        const element = await (globalThis as any).el.IndexedDbElement.open();
        await (globalThis as any).probe.writeRecord('paypad-phone', 'element', 'card:1', new Uint8Array(bytes));
        return element.get('card:1').then(
          () => 'opened',
          (e: { code: string }) => e.code,
        );
      }, raw);
      expect(result).toBe('PHONE_ELEMENT_INVALID');
    } finally {
      await other.context.close();
    }
  });
});
