/**
 * Every listener holds its clients to the configured limits (host/http/listener.ts): a silent
 * connection, headers sent slowly and a body trickled a byte at a time are cut at the (short,
 * test-set) timeouts with a typed 408; the connection cap refuses the extra connection; what Node's
 * HTTP parser refuses is typed JSON (400, 431); a bad percent-encoding is a typed 400, never a 500.
 * The same limits reach the HTTP app, MTMS and every KMS of a started host.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../host/config';
import { createListenerApp } from '../../../host/http/errors';
import type { ListenerLimits } from '../../../host/http/limits';
import { createHttpListener, listen, listenerUrl } from '../../../host/http/listener';
import { startHost, type RunningHost } from '../../../host/server';
import { captureLogger } from './helpers/captureLogger';

const LIMITS: ListenerLimits = { headersTimeoutMs: 400, requestTimeoutMs: 900, idleTimeoutMs: 300, maxConnections: 3 };
/** Node checks timeouts in rounds (a quarter of the headers timeout here), and a busy 2-core machine delays timers; still far below the defaults (10 s, 30 s). */
const SLACK_MS = 1_500;

interface Cut {
  /** When the server closed the connection, in ms after it was opened. */
  readonly afterMs: number;
  /** Everything the server sent. */
  readonly received: string;
}

/**
 * Opens a raw TCP connection, then calls `drip(socket)` with it; resolves once the server closes it.
 * Rejects if it stays open past `giveUpMs`.
 */
function rawConnection(url: string, drip: (socket: Socket) => void, giveUpMs = 5_000): Promise<Cut> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    let received = '';
    const socket = tcpConnect(Number(port), hostname, () => drip(socket));
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ afterMs: Date.now() - opened, received });
    });
  });
}

/** Writes `text` one character every `intervalMs` until the socket closes. */
function trickle(socket: Socket, text: string, intervalMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return void clearInterval(timer);
    socket.write(text[i++]);
  }, intervalMs);
  socket.on('close', () => clearInterval(timer));
}

function typedError(received: string): { status: number; code: string; contentType: string } {
  const [head, body] = received.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const contentType = /content-type: ([^\r\n]*)/i.exec(head)?.[1] ?? '';
  return { status, code: (JSON.parse(body) as { error: { code: string } }).error.code, contentType };
}

describe('a listener under slow and greedy clients', () => {
  let server: Server;
  let url: string;
  const log = captureLogger('debug');

  beforeAll(async () => {
    const app = createListenerApp(log.logger, (a) => {
      a.use(express.json());
      a.post('/echo', (req, res) => void res.json({ got: req.body }));
      a.get('/terminals/:serial', (req, res) => void res.json({ serial: req.params.serial }));
    });
    server = await listen(createHttpListener(app, { limits: LIMITS, logger: log.logger, who: 'test' }), '127.0.0.1', 0, 'test');
    url = listenerUrl(server, 'http');
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('a silent TCP connection is cut at the headers timeout with a typed 408', async () => {
    const cut = await rawConnection(url, () => {});
    expect(cut.afterMs).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 50);
    expect(cut.afterMs).toBeLessThan(LIMITS.headersTimeoutMs + SLACK_MS);
    expect(typedError(cut.received)).toEqual({ status: 408, code: 'REQUEST_TIMEOUT', contentType: 'application/json; charset=utf-8' });
  });

  it('headers sent a byte at a time are cut at the headers timeout', async () => {
    const cut = await rawConnection(url, (s) => trickle(s, 'GET /terminals/PP-1 HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200), 50));
    expect(cut.afterMs).toBeLessThan(LIMITS.headersTimeoutMs + SLACK_MS);
    expect(typedError(cut.received)).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
  });

  it('a body sent a byte at a time is cut at the request timeout', async () => {
    const cut = await rawConnection(url, (s) => {
      s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
      trickle(s, '"' + 'a'.repeat(998) + '"', 50);
    });
    expect(cut.afterMs).toBeGreaterThanOrEqual(LIMITS.requestTimeoutMs - 50);
    expect(cut.afterMs).toBeLessThan(LIMITS.requestTimeoutMs + SLACK_MS);
    expect(typedError(cut.received)).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
  });

  it('an idle keep-alive connection is closed at the idle timeout', async () => {
    const cut = await rawConnection(url, (s) => s.write('GET /terminals/PP-1 HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(cut.received).toMatch(/^HTTP\/1\.1 200/);
    // Node keeps a keep-alive socket up to a second past keepAliveTimeout (its own grace for the client's timer).
    expect(cut.afterMs).toBeLessThan(LIMITS.idleTimeoutMs + 1_000 + SLACK_MS);
  });

  it('the connection cap refuses the extra connection and serves again once one closes', async () => {
    const held = await Promise.all(
      Array.from({ length: LIMITS.maxConnections }, () => new Promise<Socket>((resolve) => {
        const s = tcpConnect(Number(new URL(url).port), '127.0.0.1', () => {
          s.write('GET /terminals/PP-1 HTTP/1.1\r\nHost: x\r\n'); // headers never finished: the connection stays busy
          resolve(s);
        });
        s.on('error', () => {});
      })),
    );
    try {
      // Let the server accept all of them before the extra one arrives.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const extra = await rawConnection(url, (s) => s.write('GET /terminals/PP-1 HTTP/1.1\r\nHost: x\r\n\r\n'), 2_000);
      // Closed with nothing sent: a headers timeout would have answered 408.
      expect(extra.received).toBe('');
    } finally {
      held.forEach((s) => s.destroy());
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await fetch(`${url}/terminals/PP-1`)).status).toBe(200);
    expect(log.entries().some((e) => String(e.msg).includes('connection refused') && e.maxConnections === LIMITS.maxConnections)).toBe(true);
  });

  it('X2: a bad percent-encoding in a path parameter is a typed 400, not a 500 with a stack in the log', async () => {
    const before = log.lines.length;
    const res = await fetch(`${url}/terminals/%E0%A4%A`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'BAD_REQUEST', message: expect.stringMatching(/percent-encoded/) } });
    const logged = log.lines.slice(before).join('\n');
    expect(logged).not.toMatch(/"level":50|stack|URIError/);
  });

  it('X2: what the HTTP parser refuses is typed JSON: a malformed request 400, oversized headers 431', async () => {
    const garbage = await rawConnection(url, (s) => s.write('GARBAGE\r\n\r\n'));
    expect(typedError(garbage.received)).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    const huge = await rawConnection(url, (s) => s.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(typedError(huge.received)).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
  });
});

describe('a started host applies the limits to every listener', () => {
  let dir: string;
  let host: RunningHost;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'paypad-limits-'));
    const config = loadConfig({
      PAYPAD_DATA_DIR: dir,
      PAYPAD_PORT: '0',
      PAYPAD_MTMS_PORT: '0',
      PAYPAD_KMS_BASE_PORT: '0',
      PAYPAD_HEADERS_TIMEOUT_MS: String(LIMITS.headersTimeoutMs),
      PAYPAD_REQUEST_TIMEOUT_MS: String(LIMITS.requestTimeoutMs),
      PAYPAD_IDLE_TIMEOUT_MS: String(LIMITS.idleTimeoutMs),
      PAYPAD_MAX_CONNECTIONS: String(LIMITS.maxConnections),
    });
    expect(config.listeners).toEqual(LIMITS);
    host = await startHost(config, { logger: captureLogger('silent').logger });
  });
  afterAll(async () => {
    await host?.close({ graceMs: 0 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a silent TCP connection to the HTTP app, MTMS and each KMS is cut at the headers timeout (TLS: the handshake)', async () => {
    const urls = [host.url, host.mtms.url, ...host.kms.running().map((k) => k.url)];
    expect(urls.length).toBe(4);
    const cuts = await Promise.all(urls.map((u) => rawConnection(u, () => {})));
    for (const cut of cuts) expect(cut.afterMs).toBeLessThan(LIMITS.headersTimeoutMs + SLACK_MS);
  });

  it('X2: a bad percent-encoding in a KMS terminal path is a typed 400', async () => {
    const kms = host.kms.running()[0];
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(`${kms.url}/kms/v1/terminals/%E0%A4%A/tmk`, { method: 'POST', ca: [host.ca.caCertificatePem], agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });
  it('A8: a client certificate whose signature does not verify gets a typed 401 over TLS 1.2 and 1.3, not a reset', async () => {
    const issued = await host.ca.issue({ subject: { role: 'operator', name: 'forger' } });
    const der = Buffer.from(new X509Certificate(issued.certPem).raw);
    der[der.length - 5] ^= 0x01; // inside the CA's signature
    const forged = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(`${host.mtms.url}/mtms/v1/lookup`, { method: 'POST', maxVersion, ca: [host.ca.caCertificatePem], cert: forged, key: issued.keyPem, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ v: 1, serial: 'PP-1001' }));
      });
      expect([maxVersion, answer.status, JSON.parse(answer.body).error.code]).toEqual([maxVersion, 401, 'CLIENT_CERT_UNTRUSTED']);
    }
  });
});
