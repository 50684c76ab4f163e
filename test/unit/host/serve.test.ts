import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runServe } from '../../../host/server';

const ROOT = join(import.meta.dirname, '../../..');
const ENTRY = join(import.meta.dirname, 'fixtures/serveMain.ts');

interface Run {
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  signal(name: NodeJS.Signals): void;
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

/** Runs runServe in its own process, as `paypad serve` does, with a clean environment. */
function serve(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: ROOT,
    // MTMS and the KMSs on free ports too: test files run at once, and a developer's host may hold the defaults.
    env: { PATH: process.env.PATH ?? '', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (d) => {
    out += d;
    waiters.forEach((w) => w());
  });
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    signal: (name) => void child.kill(name),
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) resolve(m);
        };
        waiters.push(check);
        check();
        void exited.then(() => reject(new Error(`exited before ${pattern}: ${err}`)));
      }),
  };
}

describe('paypad serve (runServe)', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'paypad-serve-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** runServe's paths that end before the host starts run in-process, with stdout/stderr captured. */
  async function runInProcess(args: string[], env: Record<string, string> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => Boolean(out.push(String(chunk))));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => Boolean(err.push(String(chunk))));
    vi.stubEnv('LOG_LEVEL', 'silent');
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    try {
      const code = await runServe(args);
      return { code, stdout: out.join(''), stderr: err.join('') };
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      vi.unstubAllEnvs();
    }
  }

  it('--help prints the usage and exits 0', async () => {
    const run = await runInProcess(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: paypad serve \[--host ADDR\] \[--port N\] \[--data-dir DIR\]/);
  });

  it('an unknown flag or a stray argument exits 2 with the usage on stderr', async () => {
    for (const args of [['--bogus'], ['extra'], ['--port']]) {
      const run = await runInProcess(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/paypad serve: .*\n\nUsage: paypad serve/s);
    }
  });

  it('a bad flag value or environment exits 2 with CONFIG_INVALID', async () => {
    const badPort = await runInProcess(['--port', '99999']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/CONFIG_INVALID: PAYPAD_PORT \(--port\)/);
    const badUrl = await runInProcess([], { DATABASE_URL: 'mysql://root:pw@db/x' });
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/CONFIG_INVALID: DATABASE_URL/);
  });

  it('a start failure exits 1 with the typed error on stderr and leaves no signal handler behind', async () => {
    const listeners = process.listenerCount('SIGTERM');
    const run = await runInProcess(['--port', '0'], { DATABASE_URL: 'postgres://paypad:hunter2@127.0.0.1:1/paypad' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/paypad serve: DB_UNAVAILABLE/);
    expect(run.stderr).not.toContain('hunter2');
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  it('flags override the environment; it serves until SIGTERM, then stops cleanly with exit 0', async () => {
    const dir = dataDir();
    const run = serve(['--port', '0', '--data-dir', dir], { PAYPAD_PORT: '1', PAYPAD_DATA_DIR: '/nonexistent' });
    const [, url] = await run.waitFor(/paypad host listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const res = await fetch(`${url}/healthz`);
    expect(await res.json()).toMatchObject({ status: 'ok', db: 'sqlite' });
    run.signal('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain('"signal":"SIGTERM"');
    expect(run.stdout()).toContain('paypad host stopped');
    expect(run.stdout()).toContain(`sqlite:${dir}/paypad.sqlite`);
  });

  it('SIGINT stops it too', async () => {
    const run = serve(['--port', '0', '--data-dir', dataDir()]);
    await run.waitFor(/paypad host listening on/);
    run.signal('SIGINT');
    expect(await run.exited).toBe(0);
  });
});
