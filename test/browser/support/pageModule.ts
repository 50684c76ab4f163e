/**
 * One of the web app's own modules, bundled by esbuild for a test to load into a page as a script
 * (window[globalName] = its exports): a browser module tested in the browser it is written for.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';

/** test/browser/page/storageProbe.ts: reads everything the browser keeps for the origin. */
export const PROBE = fileURLToPath(new URL('../page/storageProbe.ts', import.meta.url));

const cache = new Map<string, Promise<string>>();

export async function loadPageModule(page: Page, entry: string, globalName: string): Promise<void> {
  let source = cache.get(entry);
  if (!source) {
    source = build({ entryPoints: [entry], bundle: true, format: 'iife', globalName, target: 'es2022', platform: 'browser', write: false, logLevel: 'silent' }).then((r) => r.outputFiles[0].text);
    cache.set(entry, source);
  }
  await page.addScriptTag({ content: await source });
}
