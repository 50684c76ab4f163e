/**
 * xs-budget, the XS host of the device-budget tests (xsBudget*.c), built on demand with make and
 * the C compiler from the XS sources @agoric/xsnap ships on npm, into
 * node_modules/.cache/paypad-xs-budget/<hash of the inputs>/ (outside git; nothing built is
 * committed). The first test file that needs it builds it (about 15-30 s on two cores); others
 * wait for that build and later runs reuse it.
 *
 * `budgetEngine(creation)` is the XsWorker engine (test/xs/xsWorker.ts) that runs a script in that
 * creation, fixed, as a plain ESP32 gives it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { XsEngine } from '../xsWorker';
import { type Creation, ESP32_CREATION, MANIFEST_PRELOAD, preloadedBy } from './deviceBudget';
import type { DeviceModules } from './deviceModules';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const XSNAP_PACKAGE = join(ROOT, 'node_modules', '@agoric', 'xsnap');
const CACHE = join(ROOT, 'node_modules', '.cache', 'paypad-xs-budget');
const BUILD_TIMEOUT_MS = 5 * 60_000;
/** A lock older than this was left by a build that died. */
const STALE_LOCK_MS = 10 * 60_000;

const run = promisify(execFile);

/** Where the binary for the current sources lives (whether or not it is built yet). */
function binaryPath(): string {
  const hash = createHash('sha256');
  const sources = readdirSync(HERE).filter((f) => /^xsBudget\w*\.[ch]$/.test(f) || f === 'Makefile').sort();
  for (const file of [...sources.map((f) => join(HERE, f)), join(XSNAP_PACKAGE, 'package.json')]) hash.update(readFileSync(file));
  return join(CACHE, hash.digest('hex').slice(0, 16), 'xs-budget');
}

let building: Promise<string> | undefined;

/** The path of a built xs-budget, building it first if needed. */
export function buildXsBudget(): Promise<string> {
  building ??= ensureBuilt();
  return building;
}

async function ensureBuilt(): Promise<string> {
  const binary = binaryPath();
  const dir = join(binary, '..');
  if (existsSync(binary)) return binary;
  mkdirSync(CACHE, { recursive: true });
  const lock = `${dir}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another test file is building it: wait for the binary, or take over a dead build's lock.
      if (existsSync(binary)) return binary;
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    if (existsSync(binary)) return binary;
    const work = `${dir}.tmp-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    try {
      await run('make', ['-j2', '-f', join(HERE, 'Makefile'), `XSNAP=${XSNAP_PACKAGE}`, `OUT=${work}`], { timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
    } catch (e) {
      const { stderr, message } = e as { stderr?: string; message: string };
      throw new Error(`building xs-budget failed (it needs make and a C compiler, and @agoric/xsnap installed): ${message}\n${stderr ?? ''}`);
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
    // Builds of earlier sources are of no further use.
    for (const old of readdirSync(CACHE)) if (/^[0-9a-f]{16}$/.test(old) && join(CACHE, old) !== dir) rmSync(join(CACHE, old), { recursive: true, force: true });
    return binary;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface BudgetEngineOptions {
  /** Default: the manifest's ESP32 creation. */
  readonly creation?: Creation;
  /** The firmware as separate modules (deviceModules.ts), loaded as the device loads them. */
  readonly modules?: DeviceModules;
  /**
   * With `modules`, which are preloaded (Moddable `preload`: run at build time, kept in flash):
   * true for every module, false for none, or module names; default the manifest's `preload`.
   */
  readonly preload?: boolean | readonly string[];
}

/** The engine that runs scripts in the creation, fixed, as a plain ESP32 gives it. */
export async function budgetEngine({ creation = ESP32_CREATION, modules, preload }: BudgetEngineOptions = {}): Promise<XsEngine> {
  const memory = [
    '--chunk', String(creation.chunk),
    '--heap', String(creation.heap),
    '--stack', String(creation.stack),
    '--keys', String(creation.keys),
    '--name-modulo', String(creation.nameModulo),
    '--symbol-modulo', String(creation.symbolModulo),
  ];
  if (!modules) return { path: await buildXsBudget(), args: memory };
  const preloaded = preload === true ? modules.names : preload === false ? [] : Array.isArray(preload) ? preload : preloadedBy(MANIFEST_PRELOAD, modules.names.map((name) => ({ name, typescript: modules.typescript.has(name) })));
  return {
    path: await buildXsBudget(),
    args: [...memory, '--modules', modules.dir, ...preloaded.flatMap((name) => ['--preload-module', name])],
  };
}
