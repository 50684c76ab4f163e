/**
 * The phone web app's service worker: it makes the app installable and lets it open without a
 * network. It keeps the app shell only (the page, its script, style, manifest and icon) in a cache
 * named after the app's version; bills, cards and everything else the page asks the gateway for
 * pass by untouched and are never cached, so Cache Storage holds nothing about the phone's user.
 *
 * Shell files are fetched from the network first (a new host version shows at once) and come from
 * the cache only when the network fails.
 */
/** Set by the host in front of this script (host/bills/web/phoneWebApp.ts). */
declare const PAYPAD_APP_VERSION: string;
const sw = self as unknown as ServiceWorkerGlobalScope;

const CACHE = `paypad-phone-shell-${PAYPAD_APP_VERSION}`;
const SHELL = ['./', 'app.js', 'app.css', 'manifest.webmanifest', 'icon.svg'];
const shellUrls = () => new Set(SHELL.map((path) => new URL(path, sw.registration.scope).href));

sw.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((path) => new URL(path, sw.registration.scope).href)))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith('paypad-phone-shell-') && name !== CACHE).map((name) => caches.delete(name))))
      .then(() => sw.clients.claim()),
  );
});

sw.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  url.search = '';
  if (event.request.method !== 'GET' || !shellUrls().has(url.href)) return;
  event.respondWith(
    fetch(event.request).then(
      (response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(url.href, copy)));
        }
        return response;
      },
      () => caches.match(url.href).then((cached) => cached ?? Response.error()),
    ),
  );
});

export {};
