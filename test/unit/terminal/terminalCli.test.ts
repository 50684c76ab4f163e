/**
 * `paypad terminal` end to end on a state directory: init (manufacture), run (the local link, in
 * its own process, stopped and started again), load-keys against a KMS over HTTPS (A11, A12)
 * while run is up, and status. The MTMS and KMS steps between them are played by the test.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../../bin/args';
import { terminalCommand } from '../../../bin/commands/terminal';
import { FakeKms, TAMPERS } from '../../support/fakeKms';
import { LinkClient, SERIAL, type TestPki, makeMtmsKey, makePki, openTkEnvelope, tempDirs } from './support';
import { runCommand } from '../../support/runCommand';

const ROOT = join(import.meta.dirname, '../../..');
const ENTRY = join(import.meta.dirname, 'fixtures/terminalMain.ts');
const dirs = tempDirs();
const mtms = makeMtmsKey();
let pki: TestPki;
let kms: FakeKms;
let caFile: string;
beforeAll(async () => {
  pki = await makePki();
  kms = await FakeKms.start(pki.kms);
  caFile = join(dirs.make(), 'ca.pem');
  writeFileSync(caFile, pki.caPem);
});
afterAll(async () => {
  await kms.close();
  dirs.cleanup();
});

const terminal = (...argv: string[]) => runCommand(terminalCommand, argv);

/** `paypad terminal run ...` in its own process, until it prints its local link address. */
async function runTerminal(stateDir: string): Promise<{ port: number; stop(): Promise<number | null>; stderr(): string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--state-dir', stateDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /local link on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error(`terminal run exited: ${err}`)));
  });
  return {
    port,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
    stderr: () => err,
  };
}

describe('paypad terminal', () => {
  const stateDir = join(dirs.make(), 'pinpad');
  const init = (...extra: string[]) =>
    terminal('init', '--state-dir', stateDir, '--serial', SERIAL, '--kms-url', kms.url, '--ca-file', caFile, ...extra);

  it('init checks its flags: usage errors exit 2 and create nothing', async () => {
    expect((await terminal('init', '--state-dir', stateDir)).code).toBe(EXIT_USAGE);
    const both = await init('--mtms-key', toHex(mtms.publicKey), '--mtms-key-file', caFile);
    expect(both).toMatchObject({ code: EXIT_USAGE, err: expect.stringMatching(/exactly one of --mtms-key or --mtms-key-file/) });
    const leafFile = join(dirs.make(), 'kms.pem');
    writeFileSync(leafFile, pki.kms.certPem);
    const leaf = await terminal('init', '--state-dir', stateDir, '--serial', SERIAL, '--kms-url', kms.url, '--ca-file', leafFile, '--mtms-key', toHex(mtms.publicKey));
    expect(leaf).toMatchObject({ code: EXIT_USAGE, err: expect.stringMatching(/not a CA certificate/) });
    expect((await terminal('status', '--state-dir', stateDir)).err).toMatch(/ROOT_KEY_INVALID/);
  });

  it('init: a serial, KMS URL or MTMS key of the wrong form, or a missing file, is a usage error (exit 2)', async () => {
    const elsewhere = join(dirs.make(), 'pinpad');
    const key = toHex(mtms.publicKey);
    const cases: [string[], RegExp][] = [
      [['--serial', 'pp-lower', '--kms-url', kms.url, '--mtms-key', key], /serial/],
      [['--serial', SERIAL, '--kms-url', 'http://127.0.0.1:8790', '--mtms-key', key], /KMS URL/],
      [['--serial', SERIAL, '--kms-url', kms.url, '--mtms-key', 'XYZ'], /--mtms-key/],
      [['--serial', SERIAL, '--kms-url', kms.url, '--mtms-key-file', join(elsewhere, 'missing.hex')], /cannot read/],
    ];
    for (const [flags, message] of cases) {
      const run = await terminal('init', '--state-dir', elsewhere, '--ca-file', caFile, ...flags);
      expect(run, flags.join(' ')).toMatchObject({ code: EXIT_USAGE, err: expect.stringMatching(message) });
    }
  });

  it('init manufactures the terminal once (MTMS key from a file); a second init is refused', async () => {
    const keyFile = join(dirs.make(), 'mtms.hex');
    writeFileSync(keyFile, `${toHex(mtms.publicKey).toLowerCase()}\n`);
    const made = await init('--mtms-key-file', keyFile);
    expect(made.code).toBe(EXIT_OK);
    expect(JSON.parse(made.out)).toMatchObject({ serial: SERIAL, kmsUrl: kms.url, mtmsKeyCheck: expect.stringMatching(/^[0-9A-F]{10}$/) });
    const again = await init('--mtms-key', toHex(makeMtmsKey().publicKey));
    expect(again).toMatchObject({ code: EXIT_FAILED, err: expect.stringMatching(/TERMINAL_ALREADY_INITIALIZED/) });
    expect(JSON.parse((await terminal('status', '--state-dir', stateDir)).out)).toMatchObject({ serial: SERIAL, stage: 'no-tk', slots: [] });
  });

  it('A2/A10/A11/A12 run serves the link; load-keys loads the keys beside it; a restart keeps everything', async () => {
    const first = await runTerminal(stateDir);
    let tk: Uint8Array;
    try {
      const link = await LinkClient.connect(first.port);
      expect(await link.request({ v: 1, id: 1, op: 'serial' })).toMatchObject({ ok: true, serial: SERIAL });
      tk = openTkEnvelope(mtms, (await link.request({ v: 1, id: 2, op: 'tk' })).tkEnvelope as string);
      link.close();
      kms.receiveTk(SERIAL, tk);

      const loaded = await terminal('load-keys', '--state-dir', stateDir);
      expect(loaded.err).toBe('');
      expect(loaded.code).toBe(EXIT_OK);
      expect(JSON.parse(loaded.out)).toEqual({
        serial: SERIAL,
        kcv: (({ TK: _tk, ...loaded }) => loaded)(kms.issuedKcvs(SERIAL)),
      });
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await runTerminal(stateDir);
    try {
      const link = await LinkClient.connect(second.port);
      expect(openTkEnvelope(mtms, (await link.request({ v: 1, id: 1, op: 'tk' })).tkEnvelope as string)).toEqual(tk);
      link.close();
      const status = JSON.parse((await terminal('status', '--state-dir', stateDir)).out);
      expect(status).toMatchObject({ stage: 'signed-on', lastSequence: 2 });
      expect(status.slots.map((s: { slot: string }) => s.slot)).toEqual(['TK', 'TMK', 'PIK', 'MAK', 'TDK', 'DMK']);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });

  it('load-keys: a KMS that does not recognise the TK (401 MAC_MISMATCH) gets a message saying what to check', async () => {
    kms.tamper = TAMPERS['unknown-terminal'];
    try {
      const refused = await terminal('load-keys', '--state-dir', stateDir);
      expect(refused).toMatchObject({ code: EXIT_FAILED, out: '' });
      expect(refused.err).toMatch(/MAC_MISMATCH/);
      expect(refused.err).toMatch(/paypad mtms outbox/);
      expect(refused.err).toMatch(/kmsUrl/);
    } finally {
      kms.tamper = undefined;
    }
  });

  it('load-keys reports a refused exchange by its code and exits 1', async () => {
    kms.tamper = TAMPERS.unsigned;
    try {
      const refused = await terminal('load-keys', '--state-dir', stateDir);
      expect(refused).toMatchObject({ code: EXIT_FAILED, out: '', err: expect.stringMatching(/KMS_RESPONSE_UNSIGNED/) });
    } finally {
      kms.tamper = undefined;
    }
  });
});
