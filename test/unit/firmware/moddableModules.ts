/**
 * A model of how a Moddable build finds modules, for tests that check manifest.json without the
 * Moddable SDK:
 *
 * - mcconfig's "modules" rule: `"a/b/*": "./dir/*"` makes every .ts/.js file in dir a module
 *   named a/b/<file name>; `"a/b": "./dir/file"` makes one (tools/mcmanifest.js, ModulesRule);
 *   a "platforms" entry adds modules for that platform, "..." for platforms not listed. The files
 *   under "~" are excluded, and a source file becomes one module only, under the first name that
 *   claims it (ModulesRule.process handles "~" first; appendFile skips a source already taken).
 * - XS's module lookup on microcontrollers (xs/platforms/mc/xsHosts.c, fxFindModule): a ".js"
 *   or ".mjs" suffix is dropped; a specifier starting with "./" or "../" is joined to the
 *   importing module's NAME (not its file), handling that one leading segment only; anything
 *   else is looked up as written. "../../x" therefore becomes "<dir>/../x", which no module is
 *   named: deeper relative paths do not resolve on the device.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** What a "platforms" entry may add: includes, modules, config (merged over the common one), build variables. */
export interface PlatformBlock {
  include?: string[];
  modules?: ModuleEntries;
  config?: Record<string, unknown>;
  build?: Record<string, string>;
  error?: string;
}

/** Module name -> source, plus "~": sources to exclude. */
export type ModuleEntries = Record<string, string | string[]>;

export interface Manifest {
  include?: string[];
  modules?: ModuleEntries;
  platforms?: Record<string, PlatformBlock>;
  creation: { main: string; chunk: { initial: number }; heap: { initial: number }; stack: number };
  config: Record<string, unknown>;
  ffi: { sources: string[]; functions: Record<string, { arguments: string[]; returns: string }> };
  typescript: { compiler: string; tsconfig: { compilerOptions: Record<string, unknown> } };
}

export function readManifest(path = join(ROOT, 'manifest.json')): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** The platform block that applies: the named one, else "...". */
export function platformBlock(manifest: Manifest, platform: string): PlatformBlock {
  return manifest.platforms?.[platform] ?? manifest.platforms?.['...'] ?? {};
}

/** Module name -> source file, for the repository's own entries ($(...) SDK paths are skipped). */
export function moduleFiles(manifest: Manifest, platform: string): Map<string, string> {
  const out = new Map<string, string>();
  const entries = { ...manifest.modules, ...platformBlock(manifest, platform).modules };
  const taken = new Set<string>();
  const excluded = ([] as string[]).concat(entries['~'] ?? []);
  for (const source of excluded) for (const [, file] of sourceFiles(source, '~')) taken.add(file);
  for (const [name, source] of Object.entries(entries)) {
    if (name === '~') continue;
    if (typeof source !== 'string') throw new Error(`manifest module ${name}: one source expected`);
    if (source.startsWith('$(')) continue;
    if (name.endsWith('/*') !== source.endsWith('/*')) throw new Error(`manifest module ${name}: wildcard on one side only`);
    for (const [suffix, file] of sourceFiles(source, name)) {
      if (taken.has(file)) continue;
      taken.add(file);
      out.set(name.endsWith('/*') ? name.slice(0, -1) + suffix : name, file);
    }
  }
  return out;
}

/** [file name without extension, path] for a manifest source: a "dir/*" wildcard or one file. */
function sourceFiles(source: string, name: string): [string, string][] {
  if (source.endsWith('/*')) {
    const dir = join(ROOT, source.slice(0, -2));
    if (!existsSync(dir)) throw new Error(`manifest module ${name}: directory ${source} not found`);
    return readdirSync(dir, { withFileTypes: true })
      .filter((file) => file.isFile() && !file.name.endsWith('.d.ts'))
      .map((file) => /^(.+)\.(ts|js)$/.exec(file.name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], join(dir, m[0])]);
  }
  const base = join(ROOT, source);
  const file = ['.ts', '.js'].map((ext) => base + ext).find((f) => existsSync(f));
  if (!file) throw new Error(`manifest module ${name}: ${source}.ts/.js not found`);
  return [['', file]];
}

/** What fxFindModule looks up for `specifier` imported by module `from`, or undefined. */
export function xsModuleName(specifier: string, from: string): string | undefined {
  let name = specifier;
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  const dot = lastSegment.lastIndexOf('.');
  if (dot >= 0 && ['.js', '.mjs'].includes(lastSegment.slice(dot))) name = name.slice(0, name.length - lastSegment.length + dot);
  const up = name.startsWith('./') ? 1 : name.startsWith('../') ? 2 : 0;
  if (up === 0) return name;
  let buffer = '/' + from;
  let slash = buffer.lastIndexOf('/');
  if (up === 2) {
    buffer = buffer.slice(0, slash);
    slash = buffer.lastIndexOf('/');
    if (slash < 0) return undefined;
  }
  return (buffer.slice(0, slash) + name.slice(up)).slice(1);
}

export interface ImportRef {
  specifier: string;
  /** Erased by TypeScript (`import type`, `export type`, all-type named bindings). */
  typeOnly: boolean;
  /** import(...) */
  dynamic: boolean;
  line: number;
}

/** Static imports and re-exports of a .ts or .js file; dynamic import() is reported as runtime. */
export function importsOf(file: string): ImportRef[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const out: ImportRef[] = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, typeOnly: boolean, dynamic = false): void => {
    if (specifier && ts.isStringLiteral(specifier)) {
      out.push({ specifier: specifier.text, typeOnly, dynamic, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    } else if (dynamic) {
      out.push({ specifier: '<computed>', typeOnly, dynamic, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allTypeNamed = !!bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
      add(node, node.moduleSpecifier, !!clause && (clause.isTypeOnly || (!clause.name && allTypeNamed)));
    } else if (ts.isExportDeclaration(node)) {
      const clause = node.exportClause;
      const allTypeNamed = !!clause && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
      add(node, node.moduleSpecifier, node.isTypeOnly || allTypeNamed);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/**
 * The file TypeScript loads for `specifier` from `file`: relative paths, the firmware's
 * "shared/*", "firmware/*" and "platform/*" aliases (firmware/tsconfig.json "paths"; `platformDir` is the
 * directory manifest.json maps "platform/*" to for the build in question), and @noble/*
 * (whose package exports map "./x.js" to "./x.js").
 */
export function sourceFileOf(specifier: string, file: string, platformDir = 'firmware/hal/moddable/esp32', root = ROOT): string | undefined {
  let base: string;
  if (specifier.startsWith('.')) base = resolve(dirname(file), specifier);
  else if (specifier.startsWith('shared/') || specifier.startsWith('firmware/')) base = join(root, specifier);
  else if (specifier.startsWith('platform/')) base = join(root, platformDir, specifier.slice('platform/'.length));
  else if (specifier.startsWith('@noble/')) base = join(ROOT, 'node_modules', specifier);
  else return undefined;
  const candidates = base.endsWith('.js') ? [base] : [base + '.ts', base + '.js'];
  return candidates.find((f) => existsSync(f));
}

/**
 * Why the imports of a portable file (shared/, firmware/core) would break a runtime, or [] when
 * none would. Portable code imports relative paths only, extensionless (no npm package: @noble's
 * tables alone are bigger than a plain ESP32's heap); a runtime
 * (not type-only) relative import must resolve under XS's lookup to the module of the same
 * file. firmware/ code may also name shared modules by their device module name, "shared/x"
 * (firmware/tsconfig.json "paths"), since "../../shared/x" does not resolve on the device.
 * `root` is the repository (a test tree in the scanner's own tests).
 */
export function portableImportProblems(file: string, root = ROOT): string[] {
  const name = moduleNameOf(file, root);
  const problems: string[] = [];
  for (const ref of importsOf(file)) {
    const at = `${relative(root, file)}:${ref.line} '${ref.specifier}'`;
    const spec = ref.specifier;
    if (ref.dynamic) {
      problems.push(`${at}: dynamic import; portable code imports statically`);
    } else if (spec.startsWith('.') || (spec.startsWith('shared/') && name.startsWith('firmware/'))) {
      if (/\.(ts|js|mjs|cjs)$/.test(spec)) {
        problems.push(`${at}: write it without an extension (Moddable resolves module names)`);
        continue;
      }
      const target = sourceFileOf(spec, file, undefined, root);
      if (!target) {
        problems.push(`${at}: no such module`);
      } else if (!ref.typeOnly && xsModuleName(spec, name) !== moduleNameOf(target, root)) {
        problems.push(`${at}: on the device XS looks up "${xsModuleName(spec, name) ?? '(nothing)'}", not "${moduleNameOf(target, root)}"; import shared modules from firmware/ as 'shared/...'`);
      }
    } else {
      problems.push(`${at}: portable code imports only relative modules (no npm, Node or Moddable modules)`);
    }
  }
  return problems;
}

/** The device module name of a repository file: its path without the extension. */
export function moduleNameOf(file: string, root = ROOT): string {
  return relative(root, file).split('\\').join('/').replace(/\.(ts|js)$/, '');
}
