/**
 * One host per data directory (host/dataDir.ts), and a data directory nobody else on the machine
 * can read: 0700, with the database, the CA, the LMK files and every other file 0600.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../host/config';
import { LOCK_FILE_NAME, lockDataDir } from '../../../host/dataDir';
import { startHost } from '../../../host/server';
import { captureLogger } from './helpers/captureLogger';

const mode = (path: string) => statSync(path).mode & 0o777;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The PID of a process that has exited (and was reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('the data directory lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'paypad-datadir-')), 'data');
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  it('X4: a second host on the same data directory fails at once with DATA_DIR_LOCKED naming the lock and the PID; after close the next one starts', async () => {
    const config = loadConfig({ PAYPAD_DATA_DIR: dir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '0' });
    const first = await startHost(config, { logger: captureLogger('silent').logger });
    try {
      const lock = JSON.parse(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(process.pid);
      expect(mode(join(dir, LOCK_FILE_NAME))).toBe(0o600);
      const second = startHost(config, { logger: captureLogger('silent').logger });
      await expect(second).rejects.toMatchObject({ code: 'DATA_DIR_LOCKED', message: expect.stringContaining(`${join(dir, LOCK_FILE_NAME)} is held by the paypad host running as PID ${process.pid}`) });
    } finally {
      await first.close({ graceMs: 0 });
    }
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
    const third = await startHost(config, { logger: captureLogger('silent').logger });
    await third.close({ graceMs: 0 });
  });

  it('a lock left by a host that died is taken over, and says so in the log', async () => {
    mkdirSync(dir, { recursive: true });
    const pid = deadPid();
    writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify({ pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z', token: 'old' }));
    const log = captureLogger('info');
    const lock = await lockDataDir(dir, log.logger);
    expect(JSON.parse(readFileSync(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    expect(log.entries().find((e) => String(e.msg).includes('took over the lock'))).toMatchObject({ pid });
    await lock.release();
    await lock.release();
    expect(existsSync(lock.path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('hosts starting at once on one data directory with a stale lock: exactly one takes it', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify({ pid: deadPid(), hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z', token: 'old' }));
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => lockDataDir(dir)));
    const taken = results.filter((r) => r.status === 'fulfilled');
    expect(taken.length).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'DATA_DIR_LOCKED' });
    await (taken[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockDataDir>>>).value.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a lock from another machine or one that is not a paypad lock is never taken over', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify({ pid: deadPid(), hostname: 'elsewhere.example', startedAt: '2026-01-01T00:00:00.000Z', token: 'x' }));
    await expect(lockDataDir(dir)).rejects.toMatchObject({ code: 'DATA_DIR_LOCKED', message: expect.stringMatching(/on machine elsewhere\.example .* remove the lock/) });
    writeFileSync(join(dir, LOCK_FILE_NAME), 'garbage');
    await expect(lockDataDir(dir)).rejects.toMatchObject({ code: 'DATA_DIR_LOCKED', message: expect.stringMatching(/is not a paypad lock/) });
  });
});

describe('what a host writes in its data directory', () => {
  it('X1: the data directory is 0700 (an existing 0755 one is narrowed) and every file in it is 0600: database, journals, CA, LMKs, certificates', async () => {
    const root = mkdtempSync(join(tmpdir(), 'paypad-modes-'));
    const dir = join(root, 'data');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    try {
      const config = loadConfig({ PAYPAD_DATA_DIR: dir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' });
      const host = await startHost(config, { logger: captureLogger('silent').logger });
      try {
        expect(mode(dir)).toBe(0o700);
        const files = filesUnder(dir);
        for (const name of ['paypad.sqlite', 'paypad.sqlite-wal', 'paypad.sqlite-shm', 'ca/ca-key.pem', 'ca/ca.pem', 'mtms/lmk.key', 'kms/C001/lmk.key', 'kms/C002/tls/cert.pem', 'operator/key.pem']) {
          expect(files).toContain(join(dir, name));
        }
        expect(files.filter((f) => mode(f) !== 0o600)).toEqual([]);
      } finally {
        await host.close({ graceMs: 0 });
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
