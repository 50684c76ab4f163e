/**
 * What the XS terminal tests share: a PKI, a fake KMS over HTTPS, and terminals manufactured for
 * it in temporary state directories, closed and removed after the file's tests.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../../shared/bytes';
import type { EmulatedTerminal, EmulatedTerminalOptions, TerminalEngine } from './emulatedTerminal';
import { FakeKms } from '../../support/fakeKms';
import { makeTestPki, type TestPki } from './testPki';

export const SERIAL = 'PP-0003-0001';

export interface TerminalLab {
  readonly pki: TestPki;
  readonly kms: FakeKms;
  /** A fresh state directory (removed by close). */
  stateDir(): string;
  /** Manufactures a terminal for `kms` (or `kmsUrl`) with `engine` and starts it. */
  terminal(engine: TerminalEngine, options?: { serial?: string; kmsUrl?: string; stateDir?: string; start?: Partial<EmulatedTerminalOptions> }): Promise<{ terminal: EmulatedTerminal; stateDir: string }>;
  close(): Promise<void>;
}

export async function openTerminalLab(seed = 'xs terminal lab'): Promise<TerminalLab> {
  const pki = await makeTestPki();
  const kms = await FakeKms.start(pki.kms, seed);
  const roots: string[] = [];
  const running: EmulatedTerminal[] = [];
  const stateDir = () => {
    const root = mkdtempSync(join(tmpdir(), 'paypad-xs-terminal-'));
    roots.push(root);
    return join(root, 'terminal');
  };
  return {
    pki,
    kms,
    stateDir,
    async terminal(engine, options = {}) {
      const dir = options.stateDir ?? stateDir();
      await engine.manufacture(dir, { serial: options.serial ?? SERIAL, mtmsPublicKey: kms.mtms.publicKey, kmsUrl: options.kmsUrl ?? kms.url, trustAnchor: pki.caDer });
      const terminal = await engine.start({ stateDir: dir, ...options.start });
      running.push(terminal);
      return { terminal, stateDir: dir };
    },
    async close() {
      await Promise.all(running.map((t) => t.close()));
      await kms.close();
      for (const root of roots) rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Every file under `dir`, path relative to it -> bytes: the terminal's whole "flash". */
export function readTree(dir: string, prefix = ''): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const name of readdirSync(join(dir, prefix))) {
    const path = join(prefix, name);
    if (statSync(join(dir, path)).isDirectory()) for (const [p, bytes] of readTree(dir, path)) out.set(p, bytes);
    else out.set(path, new Uint8Array(readFileSync(join(dir, path))));
  }
  return out;
}

/** X1: where in `files` any of `keys` appears in clear, as raw bytes or as hex in either case. */
export function clearKeyFindings(files: Map<string, Uint8Array>, keys: readonly Uint8Array[]): string[] {
  const findings: string[] = [];
  for (const [path, bytes] of files) {
    const raw = Buffer.from(bytes);
    const text = raw.toString('latin1').toUpperCase();
    keys.forEach((key, i) => {
      if (raw.indexOf(Buffer.from(key)) >= 0 || text.includes(toHex(key))) findings.push(`key ${i} in ${path}`);
    });
  }
  return findings;
}
