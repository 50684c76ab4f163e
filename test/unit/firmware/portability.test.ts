/**
 * The guards that keep shared/ and firmware/ runnable in XS on an ESP32 (X3): the type-check
 * configurations reject Node APIs, and the import scan rejects anything Moddable cannot load.
 * Each guard is also run on code written to break it, so a guard that stops working fails here.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { importsOf, portableImportProblems, ROOT } from './moddableModules';

const scratch = mkdtempSync(join(tmpdir(), 'paypad-portability-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(path: string, text: string): string {
  const file = join(scratch, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** Type-checks `file` alone with the compiler options of the repository's `config`. */
function typeErrors(config: string, file: string): string[] {
  const configPath = join(ROOT, config);
  const read = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(configPath), undefined, configPath);
  const program = ts.createProgram({ rootNames: [file], options: { ...parsed.options, noEmit: true } });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

describe('type-check guard: no Node API in portable or device code (X3)', () => {
  const nodeUser = write(
    'guard/usesNode.ts',
    "import { readFileSync } from 'node:fs';\n" +
      'export function load(path: string): Uint8Array {\n' +
      '  return Buffer.from(readFileSync(path + String(process.pid)));\n' +
      '}\n',
  );
  const portable = write('guard/portable.ts', 'export function zeros(n: number): Uint8Array {\n  return new Uint8Array(n);\n}\n');

  it('X3 control: the Node configuration accepts the same file, so @types/node is there to be found', () => {
    expect(typeErrors('tsconfig.json', nodeUser)).toEqual([]);
  });

  for (const config of ['tsconfig.portable.json', 'firmware/tsconfig.json']) {
    it(`X3: ${config} rejects node:fs, Buffer and process`, () => {
      const errors = typeErrors(config, nodeUser).join('\n');
      expect(errors).toMatch(/'node:fs'/);
      expect(errors).toMatch(/'Buffer'/);
      expect(errors).toMatch(/'process'/);
    });

    it(`X3 control: ${config} accepts Uint8Array code, so the rejection is about Node`, () => {
      expect(typeErrors(config, portable)).toEqual([]);
    });
  }
});

describe('import scan: what Moddable can load (X3)', () => {
  it('X3: shared/ and firmware/core import only their own modules, in ways that resolve on the device', () => {
    const files = [...tsFiles(join(ROOT, 'shared')), ...tsFiles(join(ROOT, 'firmware/core'))];
    expect(files.length).toBeGreaterThan(0);
    expect(files.flatMap((file) => portableImportProblems(file))).toEqual([]);
  });

  it('X3: firmware/hal interfaces have no runtime imports, so every runtime can load them', () => {
    const hal = readdirSync(join(ROOT, 'firmware/hal'))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => join(ROOT, 'firmware/hal', name));
    const runtime = hal.flatMap((file) => importsOf(file).filter((ref) => !ref.typeOnly).map((ref) => `${file}: ${ref.specifier}`));
    expect(runtime).toEqual([]);
  });

  it('X3: the scan catches each way portable code breaks on the device', () => {
    const tree = join(scratch, 'tree');
    const add = (path: string, text: string): string => {
      const file = join(tree, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    };
    add('shared/bytes.ts', 'export const b = 1;\n');
    add('shared/crypto/aes.ts', "export { b } from '../bytes';\nexport type { T } from '../types';\n");
    add('shared/types.ts', 'export type T = number;\n');
    const core = add(
      'firmware/core/vault.ts',
      [
        "import { b } from '../../shared/bytes';", // resolves in Node, not on the device
        "import type { T } from '../../shared/types';", // erased by tsc: fine
        "import { b as b2 } from 'shared/bytes';", // the device module name: fine
        "import { readFileSync } from 'node:fs';",
        "import Preference from 'preference';",
        "import { x } from './helper.ts';",
        "import { cbc } from '@noble/ciphers/aes.js';",
        "const later = import('./helper');",
        '',
      ].join('\n'),
    );
    add('firmware/core/helper.ts', 'export const x = 1;\n');

    expect(portableImportProblems(join(tree, 'shared/crypto/aes.ts'), tree)).toEqual([]);
    const problems = portableImportProblems(core, tree);
    expect(problems).toHaveLength(6);
    expect(problems[0]).toMatch(/'\.\.\/\.\.\/shared\/bytes'.*XS looks up "firmware\/\.\.\/shared\/bytes"/);
    expect(problems[1]).toMatch(/'node:fs'.*only relative modules/);
    expect(problems[2]).toMatch(/'preference'.*only relative modules/);
    expect(problems[3]).toMatch(/'\.\/helper\.ts'.*without an extension/);
    expect(problems[4]).toMatch(/'@noble\/ciphers\/aes\.js'.*no npm/);
    expect(problems[5]).toMatch(/dynamic import/);
  });
});
