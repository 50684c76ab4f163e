import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, JSON_BODY_LIMIT_BYTES } from '../../../host/app';
import { loadConfig } from '../../../host/config';
import { createDatabase, type Database } from '../../../host/db/database';
import type { RoleModule } from '../../../host/roles';
import { hostVersion } from '../../../host/version';
import { PaypadError } from '../../../shared/errors';
import { captureLogger, type CapturedLogger } from './helpers/captureLogger';
import { listen } from './helpers/listen';

const PAN = '4111111111111111';

/** A role with one route per kind of failure the error handler must turn into a typed response. */
const probeRole: RoleModule = {
  name: 'probe',
  mountPath: '/probe',
  createRouter() {
    const router = express.Router();
    router.post('/echo', (req, res) => void res.json({ got: req.body }));
    router.get('/paypad-error', () => {
      throw new PaypadError('PIN_INVALID', 'PIN must be 4 to 12 digits');
    });
    router.get('/not-found', () => {
      throw new PaypadError('NOT_FOUND', 'no terminal PP0001');
    });
    router.get('/boom', () => {
      throw new Error('connection to db://admin:hunter2@10.0.0.5 failed');
    });
    router.get('/async-boom', async () => {
      await new Promise((r) => setTimeout(r, 1));
      throw new TypeError('cannot read properties of undefined (reading hunter2)');
    });
    return router;
  },
};

describe('host app over a real socket', () => {
  let dir: string;
  let database: Database;
  let log: CapturedLogger;
  let server: { url: string; close(): Promise<void> };
  const url = (path: string) => server.url + path;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'paypad-app-'));
    const config = loadConfig({ PAYPAD_DATA_DIR: dir });
    database = createDatabase(config.database);
    log = captureLogger('info');
    server = await listen(createApp({ config, database, logger: log.logger, version: hostVersion(), roles: [probeRole] }));
  });
  afterAll(async () => {
    await server.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function expectError(res: Response, status: number, code: string): Promise<{ code: string; message: string }> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(Object.keys(body)).toEqual(['error']);
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(0);
    return body.error;
  }

  it('/healthz answers 200 with the dialect and version after a database round trip', async () => {
    const res = await fetch(url('/healthz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', db: 'sqlite', version: hostVersion() });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('an unknown route is a typed 404', async () => {
    const error = await expectError(await fetch(url('/no/such/route')), 404, 'NOT_FOUND');
    expect(error.message).toBe('no route for GET /no/such/route');
  });

  it('malformed JSON is a typed 400 BAD_JSON that does not echo the body', async () => {
    const res = await fetch(url('/probe/echo'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"pan":"${PAN}",` });
    const error = await expectError(res, 400, 'BAD_JSON');
    expect(JSON.stringify(error)).not.toContain(PAN);
  });

  it(`accepts a JSON body of exactly ${JSON_BODY_LIMIT_BYTES} bytes and refuses one byte more with a typed 413`, async () => {
    const body = (size: number) => JSON.stringify({ s: 'a'.repeat(size - JSON.stringify({ s: '' }).length) });
    const ok = await fetch(url('/probe/echo'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(JSON_BODY_LIMIT_BYTES) });
    expect(ok.status).toBe(200);
    const res = await fetch(url('/probe/echo'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(JSON_BODY_LIMIT_BYTES + 1) });
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('an unsupported charset or content encoding is a typed 415', async () => {
    const charset = await fetch(url('/probe/echo'), { method: 'POST', headers: { 'content-type': 'application/json; charset=ebcdic' }, body: '{}' });
    await expectError(charset, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const encoding = await fetch(url('/probe/echo'), { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'x-unknown' }, body: '{}' });
    await expectError(encoding, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('a PaypadError from a role becomes 400 with its code and message, or its mapped status', async () => {
    const error = await expectError(await fetch(url('/probe/paypad-error')), 400, 'PIN_INVALID');
    expect(error.message).toBe('PIN must be 4 to 12 digits');
    await expectError(await fetch(url('/probe/not-found')), 404, 'NOT_FOUND');
  });

  it('an unexpected error is a 500 INTERNAL with no stack or internal message; the log keeps both', async () => {
    for (const path of ['/probe/boom', '/probe/async-boom']) {
      const res = await fetch(url(path));
      const requestId = res.headers.get('x-request-id');
      const error = await expectError(res, 500, 'INTERNAL');
      expect(JSON.stringify(error)).not.toMatch(/hunter2|at |Error|\.ts/);
      const logged = log.entries().find((e) => e.reqId === requestId && e.msg === 'unexpected error');
      expect((logged?.err as { stack?: string } | undefined)?.stack).toMatch(/app\.test\.ts/);
    }
  });

  it('X1: logs one line per request with method, path, status, duration and request id, never the body or query', async () => {
    const before = log.lines.length;
    const res = await fetch(url(`/probe/echo?pan=${PAN}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-123.abc' },
      body: JSON.stringify({ pan: PAN, note: 'body-sentinel-9F1C' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-123.abc');
    const lines = log.lines.slice(before);
    expect(lines.join('')).not.toMatch(new RegExp(`${PAN}|body-sentinel-9F1C`));
    const entry = lines.map((l) => JSON.parse(l)).find((e) => e.msg === 'request');
    expect(entry).toMatchObject({ reqId: 'req-123.abc', method: 'POST', path: '/probe/echo', status: 200, durationMs: expect.any(Number) });
  });

  it('replaces a request id that could smuggle text into the logs', async () => {
    const res = await fetch(url('/healthz'), { headers: { 'x-request-id': 'evil"} {"level":60' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses two roles on one mount path', () => {
    const config = loadConfig({ PAYPAD_DATA_DIR: dir });
    expect(() => createApp({ config, database, logger: log.logger, version: '0', roles: [probeRole, probeRole] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('/healthz when the database is down', () => {
  async function healthOf(database: Database) {
    const { logger } = captureLogger('silent');
    const server = await listen(createApp({ config: loadConfig({}), database, logger, version: '0', roles: [] }));
    try {
      const res = await fetch(`${server.url}/healthz`);
      return { status: res.status, body: await res.json() };
    } finally {
      await server.close();
      await database.close();
    }
  }

  it('answers 503 DB_UNAVAILABLE when the SQLite handle is closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'paypad-app-'));
    try {
      const database = createDatabase({ dialect: 'sqlite', file: join(dir, 'paypad.sqlite') });
      await database.close();
      expect(await healthOf(database)).toEqual({ status: 503, body: { error: { code: 'DB_UNAVAILABLE', message: 'the database did not answer' } } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 503 DB_UNAVAILABLE when PostgreSQL does not answer', async () => {
    const database = createDatabase({ dialect: 'postgres', url: 'postgres://paypad:hunter2@127.0.0.1:1/paypad' });
    expect(await healthOf(database)).toEqual({ status: 503, body: { error: { code: 'DB_UNAVAILABLE', message: 'the database did not answer' } } });
  });
});
