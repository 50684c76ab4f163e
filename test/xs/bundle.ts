/**
 * Bundles a TypeScript entry into ONE iife script for xsnap-worker with esbuild.
 *
 * target es2020 is required: bundled for es2022, @noble/curves' p256 fails in XS 13.3 with
 * "ReferenceError: Point: get ?: not initialized yet" (class static initialisation; MODDABLE.md).
 * platform "neutral" means a Node built-in import fails the build instead of failing in XS.
 *
 * `npm run bundle:xs` writes the default entry to test/xs/.bundle/ to read or run by hand.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_XS_ENTRY = join(HERE, 'entry.ts');
const OUT_DIR = join(HERE, '.bundle');

const cache = new Map<string, Promise<string>>();

/** The bundle's source, built once per process per entry and also written to test/xs/.bundle/. */
export function bundleForXs(entry: string = DEFAULT_XS_ENTRY): Promise<string> {
  let source = cache.get(entry);
  if (!source) {
    source = buildBundle(entry);
    cache.set(entry, source);
  }
  return source;
}

async function buildBundle(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    write: false,
    logLevel: 'silent',
  });
  const source = result.outputFiles[0].text;
  // For reading and running by hand only (tests use the returned source). Test files build in
  // parallel, so write aside and rename: a reader never sees half a file.
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, basename(entry).replace(/\.ts$/, '.js'));
  const aside = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(aside, source);
  renameSync(aside, file);
  return source;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const entry = process.argv[2] ?? DEFAULT_XS_ENTRY;
  const source = await bundleForXs(entry);
  console.log(`${join(OUT_DIR, basename(entry).replace(/\.ts$/, '.js'))}: ${source.length} bytes`);
}
