/**
 * The firmware as separate modules for xs-budget's --modules, as the device loads them: each
 * source file an entry reaches becomes one JavaScript module named by its repository path without
 * extension (`shared/bytes`, `firmware/core/terminal`: the manifest's module names), its imports
 * rewritten to those names. esbuild finds the files (a bundle build's metafile) and compiles each
 * alone: ES2022 as mcconfig's tsc targets, class static blocks lowered for XS 13.3.
 *
 * The files go to a temporary directory per entry and process, removed when the process exits.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface DeviceModules {
  /** The directory to pass as --modules. */
  readonly dir: string;
  /** The entry's module name. */
  readonly main: string;
  /** Every module's name, in the order esbuild met them. */
  readonly names: readonly string[];
  /** The modules each module imports, by name. */
  readonly imports: Readonly<Record<string, readonly string[]>>;
  /** The modules whose source is TypeScript. */
  readonly typescript: ReadonlySet<string>;
}

/** The names in the order a loader evaluates them: every module after the modules it imports. */
export function evaluationOrder({ main, imports }: Pick<DeviceModules, 'main' | 'imports'>): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dependency of imports[name] ?? []) visit(dependency);
    order.push(name);
  };
  visit(main);
  return order;
}

/** `shared/bytes.ts` -> `shared/bytes`; paths are relative to the repository. */
function moduleName(path: string): string {
  return path.replace(/\.[cm]?[jt]s$/, '');
}

const cache = new Map<string, Promise<DeviceModules>>();
const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export function deviceModules(entry: string): Promise<DeviceModules> {
  let modules = cache.get(entry);
  if (!modules) {
    modules = writeModules(entry);
    cache.set(entry, modules);
  }
  return modules;
}

async function writeModules(entry: string): Promise<DeviceModules> {
  const { metafile } = await build({
    entryPoints: [entry],
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  });
  const dir = mkdtempSync(join(tmpdir(), 'paypad-xs-modules-'));
  made.push(dir);
  const names: string[] = [];
  const imports: Record<string, string[]> = {};
  const typescript = new Set<string>();
  for (const [path, input] of Object.entries(metafile.inputs)) {
    const name = moduleName(path);
    names.push(name);
    if (path.endsWith('.ts')) typescript.add(name);
    const specifiers = new Map(input.imports.filter((i) => !i.external).map((i) => [i.original ?? i.path, moduleName(i.path)]));
    imports[name] = [...new Set(specifiers.values())];
    const { code } = await transform(readFileSync(join(ROOT, path), 'utf8'), {
      loader: path.endsWith('.ts') ? 'ts' : 'js',
      format: 'esm',
      target: 'es2022',
      supported: { 'class-static-blocks': false },
      sourcefile: path,
    });
    const rewritten = code.replace(/(\bfrom\s*|\bimport\s*\(?\s*)"([^"]+)"/g, (whole, keyword: string, specifier: string) => {
      const target = specifiers.get(specifier);
      if (!target) throw new Error(`${path}: import "${specifier}" is not in esbuild's graph`);
      return `${keyword}"${target}"`;
    });
    const file = join(dir, `${name}.js`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, rewritten);
  }
  return { dir, main: moduleName(relative(ROOT, entry)), names, imports, typescript };
}

/**
 * The script that loads `main` (XsWorker.start's): its value is an object whose `result` the
 * import fills in, empty when the modules loaded, the error's text when one failed (xs-budget
 * reads `result` after the promise jobs, as xsnap does).
 */
export function importScript(main: string): string {
  return [
    '(() => {',
    '  const box = {};',
    `  import(${JSON.stringify(main)}).then(`,
    '    () => { box.result = new ArrayBuffer(0); },',
    '    (e) => { const text = String(e); const bytes = new Uint8Array(text.length); for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0x7f; box.result = bytes.buffer; },',
    '  );',
    '  return box;',
    '})()',
  ].join('\n');
}
