/**
 * The phone web app's scripts, compiled from TypeScript by esbuild on first request and kept in
 * memory for the life of the process: the build output is never written to disk or committed.
 * Two bundles: the page's (app/main.ts, with the client core from shared/), an ES module, and the
 * service worker's (worker/serviceWorker.ts), a classic script as service workers load by default.
 *
 * esbuild is loaded only when the app is first asked for, so a host without it still starts and
 * answers the app's URLs with a typed error instead.
 */
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PaypadError } from '../../../shared/errors';

const HERE = dirname(fileURLToPath(import.meta.url));

export const APP_ENTRY = join(HERE, 'app', 'main.ts');
export const WORKER_ENTRY = join(HERE, 'worker', 'serviceWorker.ts');

/** The page's script is an ES module; a service worker is loaded as a classic script. */
export type BundleFormat = 'esm' | 'iife';

export interface AppBundle {
  readonly js: string;
  /** A short hash of the text: the app's version, which names the service worker's cache. */
  readonly version: string;
}

const cache = new Map<string, Promise<AppBundle>>();

/** `entry` bundled once per process; a failed build is not cached, so a fixed file is picked up. */
export function appBundle(entry: string, format: BundleFormat): Promise<AppBundle> {
  const key = `${format}:${entry}`;
  let bundle = cache.get(key);
  if (!bundle) {
    bundle = buildBundle(entry, format);
    cache.set(key, bundle);
    bundle.catch(() => cache.delete(key));
  }
  return bundle;
}

async function buildBundle(entry: string, format: BundleFormat): Promise<AppBundle> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new PaypadError('INTERNAL', 'the phone web app needs esbuild (npm install, with dev dependencies)');
  }
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format,
    target: 'es2022',
    platform: 'browser',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const js = result.outputFiles[0].text;
  return { js, version: createHash('sha256').update(js).digest('hex').slice(0, 12) };
}
