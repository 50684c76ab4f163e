/**
 * Bundles a TypeScript entry into ONE iife script for xsnap-worker with esbuild.
 *
 * target es2020 is required: bundled for es2022, @noble/curves' p256 fails in XS 13.3 with
 * "ReferenceError: Point: get ?: not initialized yet" (class static initialisation; MODDABLE.md).
 * platform "neutral" means a Node built-in import fails the build instead of failing in XS.
 *
 * `npm run bundle:xs` writes the default entry to test/xs/.bundle/ to read or run by hand.
 *
 * The 'device' flavour (for xs-budget, test/xs/budget) targets ES2022 as mcconfig's tsc does and
 * lowers only what XS 13.3 lacks (class static blocks): lowered to ES2020, private fields and
 * methods become WeakMaps and helper calls, which cost heap and stack the device's code does not.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_XS_ENTRY = join(HERE, 'entry.ts');
const OUT_DIR = join(HERE, '.bundle');

const cache = new Map<string, Promise<string>>();

export type BundleFlavour = 'xsnap' | 'device';

/** The bundle's source, built once per process per entry and flavour, also written to test/xs/.bundle/. */
export function bundleForXs(entry: string = DEFAULT_XS_ENTRY, flavour: BundleFlavour = 'xsnap'): Promise<string> {
  const key = `${flavour}:${entry}`;
  let source = cache.get(key);
  if (!source) {
    source = buildBundle(entry, flavour);
    cache.set(key, source);
  }
  return source;
}

async function buildBundle(entry: string, flavour: BundleFlavour): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    ...(flavour === 'device' ? { target: 'es2022', supported: { 'class-static-blocks': false } } : { target: 'es2020' }),
    platform: 'neutral',
    mainFields: ['module', 'main'],
    write: false,
    logLevel: 'silent',
  });
  const source = result.outputFiles[0].text;
  // For reading and running by hand only (tests use the returned source). Test files build in
  // parallel, so write aside and rename: a reader never sees half a file.
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, basename(entry).replace(/\.ts$/, flavour === 'device' ? '.device.js' : '.js'));
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
