/**
 * The installable phone web app (docs/bill-payments.md "The phone web app"), served at /bills/app/: the
 * page, its script and style, the web app manifest, an icon and the service worker. The app talks
 * to the client gateway (/bills/client) on the same origin; this router serves files only and
 * keeps nothing about any phone.
 *
 * Every answer carries a Content-Security-Policy that allows only this origin's scripts, styles,
 * connections and workers, and no framing: the page asks for a PIN, so no other origin's code may
 * run in it or overlay it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Response, type Router } from 'express';
import type { RoleModule } from '../../roles';
import { APP_ENTRY, WORKER_ENTRY, appBundle } from './appBundle';

const STATIC = join(dirname(fileURLToPath(import.meta.url)), 'static');

export const PHONE_APP_PATH = '/bills/app';

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

function staticFile(name: string, type: string): StaticFile {
  return { body: readFileSync(join(STATIC, name)), type };
}

function send(res: Response, type: string, body: string | Buffer): void {
  // Always revalidated: a new host version serves a new app at once; the service worker keeps the
  // copy that opens the app offline.
  res
    .set({
      'Content-Type': type,
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    })
    .send(body);
}

export function createPhoneWebAppRouter(): Router {
  const files: Record<string, StaticFile> = {
    '/': staticFile('index.html', 'text/html; charset=utf-8'),
    '/app.css': staticFile('app.css', 'text/css; charset=utf-8'),
    '/manifest.webmanifest': staticFile('manifest.webmanifest', 'application/manifest+json'),
    '/icon.svg': staticFile('icon.svg', 'image/svg+xml'),
  };
  const router = express.Router({ strict: true });
  router.get('/', (req, res) => {
    // Relative URLs in the page (app.js, the manifest, the worker's scope) need the trailing slash.
    if (!req.originalUrl.split('?')[0].endsWith('/')) return res.redirect(301, `${PHONE_APP_PATH}/`);
    send(res, files['/'].type, files['/'].body);
  });
  for (const [path, file] of Object.entries(files)) {
    if (path !== '/') router.get(path, (_req, res) => send(res, file.type, file.body));
  }
  router.get('/app.js', async (_req, res) => {
    send(res, 'text/javascript; charset=utf-8', (await appBundle(APP_ENTRY, 'esm')).js);
  });
  router.get('/sw.js', async (_req, res) => {
    // The worker names its cache after the app's version, so a new app replaces the cached shell.
    const [app, worker] = await Promise.all([appBundle(APP_ENTRY, 'esm'), appBundle(WORKER_ENTRY, 'iife')]);
    send(res, 'text/javascript; charset=utf-8', `var PAYPAD_APP_VERSION=${JSON.stringify(app.version)};\n${worker.js}`);
  });
  return router;
}

/** Mounted by the host beside the bill platform's own routes. */
export const phoneWebAppRole: RoleModule = {
  name: 'phone-app',
  mountPath: PHONE_APP_PATH,
  createRouter: () => createPhoneWebAppRouter(),
};
