import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type HostConfig } from '../../../host/config';
import { MIGRATIONS } from '../../../host/db/migrations/index';
import type { RoleModule } from '../../../host/roles';
import { startHost, type RunningHost } from '../../../host/server';
import { captureLogger } from './helpers/captureLogger';

/** A role whose one route answers only when the test says so: a request "in flight". */
function slowRole() {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrived: () => void = () => {};
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const role: RoleModule = {
    name: 'slow',
    mountPath: '/slow',
    createRouter() {
      const router = express.Router();
      router.get('/', async (_req, res) => {
        arrived();
        await released;
        res.json({ done: true });
      });
      return router;
    },
  };
  return { role, arrival, release };
}

describe('startHost', () => {
  let dir: string;
  let config: HostConfig;
  const hosts: RunningHost[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'paypad-host-'));
    // Every listener on a free port, so test files running at once never collide.
    config = loadConfig({ PAYPAD_DATA_DIR: dir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '0' });
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close({ graceMs: 0 })));
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (options: Parameters<typeof startHost>[1] = {}) => {
    const host = await startHost(config, { logger: captureLogger('silent').logger, ...options });
    hosts.push(host);
    return host;
  };

  it('X4: opens SQLite under the data dir, migrates, listens on an ephemeral port and says where', async () => {
    const log = captureLogger('info');
    const host = await start({ logger: log.logger });
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(log.entries().map((e) => e.msg)).toContain(`paypad host listening on ${host.url}`);
    expect(log.entries().find((e) => e.msg === 'database migrated')).toMatchObject({ applied: MIGRATIONS.map((m) => m.name) });
    const res = await fetch(`${host.url}/healthz`);
    expect(await res.json()).toMatchObject({ status: 'ok', db: 'sqlite' });
  });

  it('a restart on the same data finds the schema up to date', async () => {
    await (await start()).close();
    const log = captureLogger('info');
    await start({ logger: log.logger });
    expect(log.entries().find((e) => e.msg === 'database schema up to date')).toMatchObject({ applied: [] });
  });

  it('close stops listening and closing again is harmless', async () => {
    const host = await start();
    await host.close();
    await host.close();
    await expect(fetch(`${host.url}/healthz`)).rejects.toThrow();
  });

  it('a taken port fails with LISTEN_FAILED', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      config = { ...config, port: (blocker.address() as AddressInfo).port };
      await expect(start()).rejects.toMatchObject({ code: 'LISTEN_FAILED' });
    } finally {
      blocker.close();
    }
  });

  it('a taken MTMS port fails with LISTEN_FAILED after the KMSs started and closes them; the next start on the data directory runs', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const base = config;
    try {
      config = { ...base, demoData: true, mtmsPort: (blocker.address() as AddressInfo).port };
      await expect(start()).rejects.toMatchObject({ code: 'LISTEN_FAILED', message: expect.stringMatching(/^MTMS cannot listen/) });
    } finally {
      blocker.close();
    }
    config = { ...base, demoData: true };
    const host = await start();
    expect(host.kms.running().map((k) => k.customerCode)).toEqual(['C001', 'C002']);
    expect(host.demoData).toBe('present');
    expect((await fetch(`${host.url}/healthz`)).status).toBe(200);
  });

  it('graceful close lets a request in flight finish, then refuses new ones', async () => {
    const slow = slowRole();
    const host = await start({ roles: [slow.role] });
    const inFlight = fetch(`${host.url}/slow`);
    await slow.arrival;
    const closed = host.close();
    slow.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
    await closed;
    await expect(fetch(`${host.url}/healthz`)).rejects.toThrow();
  });

  it('a second close with no grace cuts off a request that would never finish', async () => {
    const slow = slowRole();
    const host = await start({ roles: [slow.role] });
    const inFlight = fetch(`${host.url}/slow`).then(
      (r) => r.status,
      () => 'cut off',
    );
    await slow.arrival;
    const closed = host.close();
    await host.close({ graceMs: 0 });
    await closed;
    expect(await inFlight).toBe('cut off');
  });
});
