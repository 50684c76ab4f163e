/**
 * The phone web app as a browser installs it (D3: the payment client on the phone): served by the
 * host at /bills/app/ with a phone viewport, a web app manifest and a Content-Security-Policy that
 * allows this origin only; a service worker that controls the page, keeps the app shell and
 * nothing else in Cache Storage, and opens the app with the network gone.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserHost, startBrowserHost } from './support/browserHost';
import { HAVE_CHROMIUM, type Phone, launchChromium, newPhone } from './support/phoneBrowser';

const SHELL = ['/bills/app/', '/bills/app/app.css', '/bills/app/app.js', '/bills/app/icon.svg', '/bills/app/manifest.webmanifest'];

describe.skipIf(!HAVE_CHROMIUM)('the phone web app shell', () => {
  let server: BrowserHost;
  let browser: Browser;
  let phone: Phone;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startBrowserHost(), launchChromium()]);
    phone = await newPhone(browser, server.url);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('D3: served at /bills/app/ with a mobile viewport, a manifest and a same-origin-only CSP; /bills/app redirects there', async () => {
    const bare = await phone.context.request.get('/bills/app', { maxRedirects: 0 });
    expect(bare.status()).toBe(301);
    expect(bare.headers().location).toBe('/bills/app/');

    const page = await phone.context.newPage();
    const response = await page.goto('/bills/app/');
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(await page.getAttribute('meta[name=viewport]', 'content')).toContain('width=device-width');
    await page.waitForSelector('[data-screen=enrol-number]');
    expect(await page.evaluate(() => (globalThis as any).innerWidth)).toBe(390);

    const manifest = await (await phone.context.request.get('/bills/app/manifest.webmanifest')).json();
    expect(manifest).toMatchObject({ start_url: '/bills/app/', scope: '/bills/app/', display: 'standalone' });
    expect(manifest.icons.length).toBeGreaterThan(0);
    expect(phone.pageErrors).toEqual([]);
  });

  it('D3: the service worker takes control, caches the app shell only, and the app opens offline', async () => {
    const page = await phone.context.newPage();
    await page.goto('/bills/app/');
    await page.evaluate(() => (globalThis as any).navigator.serviceWorker.ready);
    await page.reload();
    expect(await page.evaluate(() => Boolean((globalThis as any).navigator.serviceWorker.controller))).toBe(true);

    const cached = await page.evaluate(async () => {
      const caches = (globalThis as any).caches;
      const urls: string[] = [];
      for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) urls.push(new URL(req.url).pathname);
      return urls.sort();
    });
    expect(cached).toEqual(SHELL);

    await phone.context.setOffline(true);
    try {
      await page.reload();
      await page.waitForSelector('[data-screen=enrol-number]');
    } finally {
      await phone.context.setOffline(false);
    }
  });
});
