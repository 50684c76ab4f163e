/**
 * manifest.json checked without the Moddable SDK: every module the device build compiles finds
 * its imports the way XS will look them up, and finds the same files TypeScript and Node use;
 * the FFI, memory and configuration blocks agree with the code that relies on them.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { type FirmwareConfig, parseFirmwareConfig } from '../../../firmware/hal/moddable/config';
import { importsOf, moduleFiles, platformBlock, readManifest, ROOT, sourceFileOf, xsModuleName } from './moddableModules';

const manifest = readManifest();

/** Modules the SDK provides, and the include (or manifest block) that brings each in. */
const SDK_MODULES: Record<string, string> = {
  'mc/config': 'config',
  'mc/ffi': 'ffi',
  timer: '$(MODDABLE)/examples/manifest_base.json',
  time: '$(MODDABLE)/examples/manifest_base.json',
  net: '$(MODDABLE)/examples/manifest_net.json',
  preference: '$(MODDABLE)/modules/files/preference/manifest.json',
  'embedded:network/http/client': '$(MODDABLE)/examples/io/tcp/httpclient/manifest_httpclient.json',
  'embedded:network/dns/resolver/udp': '$(MODDABLE)/examples/io/tcp/httpclient/manifest_httpclient.json',
  'embedded:io/socket/tcp': '$(MODDABLE)/modules/io/manifest.json',
  'embedded:io/socket/udp': '$(MODDABLE)/modules/io/manifest.json',
  'embedded:io/digital': '$(MODDABLE)/modules/io/manifest.json',
  'embedded:io/serial': '$(MODDABLE)/modules/io/manifest.json',
  'embedded:io/socket/tcp/tls': '$(MODDABLE)/examples/io/tcp/tlssocket/manifest.json',
  'embedded:io/socket/listener': '$(MODDABLE)/modules/io/manifest.json',
  'commodetto/Poco': '$(MODDABLE)/examples/manifest_commodetto.json',
  'commodetto/parseBMF': '$(MODDABLE)/examples/manifest_commodetto.json',
  Resource: '$(MODDABLE)/examples/manifest_base.json',
  // native crypto, preloaded by the TLS socket's manifest (modules/crypt/tls_common.json)
  crypt: '$(MODDABLE)/examples/io/tcp/tlssocket/manifest.json',
  curve: '$(MODDABLE)/examples/io/tcp/tlssocket/manifest.json',
};
const ESP32_ONLY: Record<string, string> = { ota: '$(MODDABLE)/build/devices/esp32/modules/ota/manifest.json' };
/** The simulator keeps its program slots as files; a board has no file system partition for them. */
const HOST_ONLY: Record<string, string> = { file: '$(MODDABLE)/modules/files/file/manifest.json' };

/**
 * Modules the device build deliberately takes from another file than Node and TypeScript do:
 * the crypto-primitive seam is Moddable's native crypto there (tsc holds the two to one shape).
 */
const DEVICE_SUBSTITUTES: Record<string, string> = {
  'shared/crypto/primitives': join(ROOT, 'firmware/hal/moddable/nativePrimitives.ts'),
};

const BUILDS = [
  { platform: 'esp32', platformDir: 'firmware/hal/moddable/esp32', sdk: { ...SDK_MODULES, ...ESP32_ONLY } },
  { platform: 'lin', platformDir: 'firmware/hal/moddable/host', sdk: { ...SDK_MODULES, ...HOST_ONLY } }, // the simulator on Linux
];

function includesFor(platform: string): string[] {
  return [...(manifest.include ?? []), ...(platformBlock(manifest, platform).include ?? [])];
}

describe('manifest.json: the device module graph (X3)', () => {
  for (const build of BUILDS) {
    it(`X3 ${build.platform}: every import of every compiled module resolves under XS's lookup, to the file TypeScript uses`, () => {
      const modules = moduleFiles(manifest, build.platform);
      const includes = includesFor(build.platform);
      const problems: string[] = [];
      for (const [name, file] of modules) {
        for (const ref of importsOf(file)) {
          if (ref.typeOnly) continue; // erased by tsc: never looked up on the device
          const at = `${relative(ROOT, file)}:${ref.line} '${ref.specifier}'`;
          const lookedUp = xsModuleName(ref.specifier, name);
          if (lookedUp === undefined) {
            problems.push(`${at}: XS cannot resolve it from module "${name}"`);
          } else if (modules.has(lookedUp)) {
            const expected = DEVICE_SUBSTITUTES[lookedUp] ?? sourceFileOf(ref.specifier, file, build.platformDir);
            if (modules.get(lookedUp) !== expected) {
              problems.push(`${at}: XS loads ${relative(ROOT, modules.get(lookedUp)!)}, TypeScript ${expected ? relative(ROOT, expected) : 'nothing'}`);
            }
          } else if (lookedUp in build.sdk) {
            const source = build.sdk[lookedUp];
            const present = source === 'ffi' ? manifest.ffi !== undefined : source === 'config' ? manifest.config !== undefined : includes.includes(source);
            if (!present) problems.push(`${at}: SDK module needs ${source}`);
          } else {
            problems.push(`${at}: XS looks up "${lookedUp}", which no manifest entry provides`);
          }
        }
      }
      expect(problems).toEqual([]);
    });
  }

  it('X3: the entry module is firmware/main.ts, named by creation.main', () => {
    expect(manifest.creation.main).toBe('firmware/main');
    expect(moduleFiles(manifest, 'esp32').get('firmware/main')).toBe(join(ROOT, 'firmware/main.ts'));
  });

  it('X3: "platform/*" is the OTA updater on esp32 and the refusing one in the simulator', () => {
    expect(moduleFiles(manifest, 'esp32').get('platform/updater')).toBe(join(ROOT, 'firmware/hal/moddable/esp32/updater.ts'));
    for (const simulator of ['lin', 'mac']) {
      expect(moduleFiles(manifest, simulator).get('platform/updater')).toBe(join(ROOT, 'firmware/hal/moddable/host/updater.ts'));
    }
  });

  it('X3: the ota manifest is included for esp32 only (it is an error on any other platform)', () => {
    expect(manifest.include).not.toContain(ESP32_ONLY.ota);
    expect(includesFor('esp32')).toContain(ESP32_ONLY.ota);
    expect(includesFor('lin')).not.toContain(ESP32_ONLY.ota);
    expect(includesFor('esp32')).not.toContain(HOST_ONLY.file);
    expect(includesFor('lin')).toContain(HOST_ONLY.file);
  });

  for (const platform of ['esp32', 'lin']) {
    it(`X3 ${platform}: the crypto primitives are Moddable's native ones; the compact JavaScript ones and @noble are not built`, () => {
      const modules = moduleFiles(manifest, platform);
      expect(modules.get('shared/crypto/primitives')).toBe(DEVICE_SUBSTITUTES['shared/crypto/primitives']);
      const files = [...modules.values()].map((file) => relative(ROOT, file));
      expect(files.filter((file) => file.startsWith('shared/crypto/compact/') || file === 'shared/crypto/primitives.ts')).toEqual([]);
      expect([...modules.keys()].filter((name) => name.startsWith('@noble/'))).toEqual([]);
      // one module per source file: the native primitives are not also built under their own name
      expect(files.filter((file) => file.endsWith('nativePrimitives.ts'))).toHaveLength(1);
    });
  }
});

/**
 * Modules of ours that are not preloaded, and why: the simulator's preference module reads its
 * file when its module body runs, so preloading anything that imports it (storage, then hal, then
 * main) would run that at build time and leave the simulator with an empty store at every start.
 */
const NOT_PRELOADED: Record<string, string> = {
  'firmware/hal/moddable/storage': 'imports preference',
  'firmware/hal/moddable/hal': 'imports firmware/hal/moddable/storage',
  'firmware/main': 'imports firmware/hal/moddable/hal',
};

describe('manifest.json: preload (X3, the device budget)', () => {
  const preload = (manifest as unknown as { preload: string[] }).preload;
  for (const platform of ['esp32', 'lin']) {
    it(`X3 ${platform}: every module of ours is preloaded by its full name (mcconfig matches * against JavaScript only), but those that reach preference`, () => {
      const names = [...moduleFiles(manifest, platform).keys()];
      expect(names.filter((name) => !preload.includes(name) && !(name in NOT_PRELOADED))).toEqual([]);
      expect(names.filter((name) => preload.includes(name) && name in NOT_PRELOADED)).toEqual([]);
      expect(preload.filter((name) => name.includes('*'))).toEqual([]);
    });
  }

  it('X3: no module is named twice and every name is one some build has', () => {
    const all = new Set(['esp32', 'lin'].flatMap((platform) => [...moduleFiles(manifest, platform).keys()]));
    expect(preload.filter((name) => !all.has(name))).toEqual([]);
    expect(new Set(preload).size).toBe(preload.length);
  });
});

describe('manifest.json: creation, config, typescript', () => {
  it('creation gives JS a fixed ~150 KB on a plain ESP32: chunk heap + slot heap (16-byte slots), 8 KB stack', () => {
    const { chunk, heap, stack } = manifest.creation as unknown as {
      chunk: { initial: number; incremental: number };
      heap: { initial: number; incremental: number };
      stack: number;
    };
    expect(chunk.incremental).toBe(0);
    expect(heap.incremental).toBe(0);
    const heaps = chunk.initial + heap.initial * 16;
    expect(heaps).toBeGreaterThanOrEqual(140 * 1024);
    expect(heaps).toBeLessThanOrEqual(160 * 1024);
    expect(stack * 16).toBe(8 * 1024);
  });

  it('config passes the firmware\'s own startup check, and its version is the package version', () => {
    const parsed = parseFirmwareConfig(manifest.config);
    expect(typeof parsed, String(parsed)).toBe('object');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(manifest.config.version).toBe(pkg.version);
  });

  it('A2: the esp32 board config (the local link UART) passes the startup check merged over the common config', () => {
    const esp32 = parseFirmwareConfig({ ...manifest.config, ...platformBlock(manifest, 'esp32').config });
    expect(typeof esp32, String(esp32)).toBe('object');
    expect((esp32 as FirmwareConfig).localLink).toEqual({ port: 2, receive: 16, transmit: 17, baud: 115200 });
    // The simulator has no UART wiring: no UART link there.
    const simulator = parseFirmwareConfig({ ...manifest.config, ...platformBlock(manifest, 'lin').config }) as FirmwareConfig;
    expect(simulator.localLink).toBeNull();
    // Its link is a TCP port instead (host/localLink.ts), loopback by default; the board has none.
    expect(simulator.tcpLink).toEqual({ port: 9000, address: '127.0.0.1' });
    expect((esp32 as FirmwareConfig).tcpLink).toBeNull();
  });

  it('A11: SNTP sets the clock before main (Moddable setup/network reads config.sntp), so key loading can check certificates at boot', () => {
    expect(manifest.config.sntp).toMatch(/^[a-z0-9.-]+\.[a-z]{2,}$/);
  });

  it('typescript block: tsc, and none of the options mcconfig sets itself (outDir, paths, baseUrl, types)', () => {
    expect(manifest.typescript.compiler).toBe('tsc');
    const options = manifest.typescript.tsconfig.compilerOptions;
    for (const owned of ['outDir', 'paths', 'baseUrl', 'types', 'rootDir']) expect(options).not.toHaveProperty(owned);
    expect(options.module).toBe('preserve');
  });
});

describe('manifest.json: the RNG through XS FFI (A1)', () => {
  // tools/ffi.js (Moddable SDK): the TypeScript type mcconfig declares for each C type.
  const TS_TYPE: Record<string, string> = { 'void*': 'ArrayBuffer', uint32_t: 'number', int32_t: 'number', void: 'void' };

  it('A1: firmware/types/ffi.d.ts declares exactly what mcconfig generates from the "ffi" block', () => {
    const expected = Object.entries(manifest.ffi.functions).map(
      ([name, sig]) => `${name}(${sig.arguments.map((t, i) => `arg${i}: ${TS_TYPE[t]}`).join(', ')}): ${TS_TYPE[sig.returns]};`,
    );
    const file = join(ROOT, 'firmware/types/ffi.d.ts');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const declared: string[] = [];
    const visit = (node: ts.Node): void => {
      if (ts.isMethodDeclaration(node)) declared.push(node.getText(source).replace(/\s+/g, ' '));
      ts.forEachChild(node, visit);
    };
    visit(source);
    expect(declared.sort()).toEqual(expected.sort());
  });

  it('A1: both platform C files define every FFI function with the declared return type', () => {
    for (const dir of ['esp32', 'host']) {
      const c = readFileSync(join(ROOT, 'firmware/hal/moddable', dir, 'paypad_platform.c'), 'utf8');
      for (const [name, sig] of Object.entries(manifest.ffi.functions)) {
        expect(c, `${dir}/paypad_platform.c: ${name}`).toMatch(new RegExp(`^${sig.returns.replace('*', '\\*')}\\s+${name}\\(`, 'm'));
      }
    }
  });

  it('A1: the ESP32 random source is esp_fill_random, never the rng module or Math.random', () => {
    const c = readFileSync(join(ROOT, 'firmware/hal/moddable/esp32/paypad_platform.c'), 'utf8');
    expect(c).toMatch(/esp_fill_random\(buffer, \(size_t\)length\)/);
    const adapter = readFileSync(join(ROOT, 'firmware/hal/moddable/rng.ts'), 'utf8');
    expect(importsOf(join(ROOT, 'firmware/hal/moddable/rng.ts')).map((i) => i.specifier)).not.toContain('rng');
    expect(adapter.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')).not.toMatch(/Math\.random/);
  });
});
