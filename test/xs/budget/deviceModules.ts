/**
 * The firmware as separate modules for xs-budget's --modules, as the device loads them: each
 * source file an entry reaches becomes one JavaScript module named by its repository path without
 * extension (`shared/bytes`, `firmware/core/terminal`: the manifest's module names), its imports
 * rewritten to those names. esbuild finds the files (a bundle build's metafile) and compiles each
 * alone: ES2022 as mcconfig's tsc targets, class static blocks lowered for XS 13.3.
 *
 * As the device build does (manifest.json `modules`), the crypto-primitive seam is Moddable's
 * native crypto: nativePrimitives.ts under the name shared/crypto/primitives, over `crypt` and
 * `curve`, which xs-budget provides in C (xsBudgetCrypt.c) with the SDK modules' shapes (native/).
 *
 * The files go to a temporary directory per entry and process, removed when the process exits.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plugin, build, transform } from 'esbuild';

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

/**
 * What the device build puts where (manifest.json `modules`): the crypto-primitive seam is
 * Moddable's native crypto there, so here it is nativePrimitives.ts too, over the SDK modules it
 * imports, which xs-budget provides in C (xsBudgetCrypt.c, native/*.ts).
 */
const DEVICE_SOURCES: Readonly<Record<string, string>> = {
  'shared/crypto/primitives.ts': 'firmware/hal/moddable/nativePrimitives.ts',
};
const SDK_MODULES: Readonly<Record<string, string>> = {
  crypt: 'test/xs/budget/native/crypt.ts',
  curve: 'test/xs/budget/native/curve.ts',
};
const SDK_MODULE_NAMES = new Map(Object.entries(SDK_MODULES).map(([name, path]) => [path, name]));

/** `shared/bytes.ts` -> `shared/bytes`; paths are relative to the repository. */
function moduleName(path: string): string {
  return SDK_MODULE_NAMES.get(path) ?? path.replace(/\.[cm]?[jt]s$/, '');
}

const sourceOf = (path: string) => DEVICE_SOURCES[path] ?? path;

/** esbuild's view of the device build: the manifest's substitutions, the SDK's modules. */
const deviceBuild: Plugin = {
  name: 'device-build',
  setup(build) {
    build.onResolve({ filter: /^(crypt|curve)$/ }, ({ path }) => ({ path: join(ROOT, SDK_MODULES[path]) }));
    build.onLoad({ filter: /\.ts$/ }, ({ path }) => {
      const source = DEVICE_SOURCES[relative(ROOT, path)];
      if (source === undefined) return undefined;
      return { contents: readFileSync(join(ROOT, source), 'utf8'), loader: 'ts', resolveDir: dirname(join(ROOT, source)) };
    });
  },
};

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
    plugins: [deviceBuild],
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
    const { code } = await transform(readFileSync(join(ROOT, sourceOf(path)), 'utf8'), {
      loader: path.endsWith('.ts') ? 'ts' : 'js',
      format: 'esm',
      target: 'es2022',
      supported: { 'class-static-blocks': false },
      sourcefile: sourceOf(path),
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
