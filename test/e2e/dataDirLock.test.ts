/**
 * One host per data directory, with the real `bin/paypad serve` processes: a second host on a
 * data directory in use exits at once (code 1) with a message naming the lock file and the PID of
 * the running host, before it opens the database; once the first host is killed (SIGKILL: no
 * clean-up) the next start takes the stale lock over and runs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PAYPAD_BIN } from '../../bin/demo/paypadProcess';
import { type HostProcess, startHostProcess } from './support/hostProcess';

describe('one host per data directory (X4)', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-lock-'));
  const dataDir = join(root, 'data');
  // SQLite on purpose: the lock is about the data directory, whatever the database.
  const env = { PAYPAD_DATA_DIR: dataDir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '0' };
  const hosts: HostProcess[] = [];

  afterAll(async () => {
    await Promise.allSettled(hosts.map((h) => h.stop('SIGKILL')));
    rmSync(root, { recursive: true, force: true });
  });

  it('a second host exits at once naming the lock and the running PID; after a crash the next start takes the lock over', async () => {
    const first = startHostProcess(env);
    hosts.push(first);
    await first.waitForLog((l) => l.msg === 'paypad host ready', 'ready');

    const second = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(PAYPAD_BIN, ['serve'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`DATA_DIR_LOCKED: ${join(dataDir, 'paypad.lock')} is held by the paypad host running as PID ${first.pid}`);
    // It stopped before touching the database: nothing migrated, nothing listening.
    expect(second.stdout).not.toMatch(/database (migrated|schema up to date)|listening/);

    expect((await first.stop('SIGKILL')).signal).toBe('SIGKILL');
    const third = startHostProcess(env);
    hosts.push(third);
    expect(await third.waitForLog((l) => l.msg.startsWith('took over the lock'), 'stale lock taken over')).toMatchObject({ pid: first.pid });
    await third.waitForLog((l) => l.msg === 'paypad host ready', 'ready');
    expect((await third.stop('SIGTERM')).code).toBe(0);
  });
});
