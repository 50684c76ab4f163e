/**
 * Issue 3 item 9, SPEC X4: `paypad serve` (the real bin/paypad process) on a fresh data directory
 * runs every role of System A in one process: the HTTP app, MTMS on its own mutual-TLS listener,
 * a KMS per customer with its own certificate, the dev CA, and the demo data; a second start on
 * the same directory reuses all of it. Every listener is on a free port (0), as tests need.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readOperatorIdentity } from '../../host/operator/operatorIdentity';
import { mtlsRequest } from '../../host/tls/mtlsRequest';

const PAYPAD = fileURLToPath(new URL('../../bin/paypad', import.meta.url));

type LogLine = Record<string, unknown> & { msg: string };

interface Serve {
  readonly logs: LogLine[];
  /** The summary for the person at the console, printed on stderr once the host is ready. */
  banner(): Promise<string>;
  waitForLog(predicate: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<number | null>;
}

/** `paypad serve` with only the environment given (no DATABASE_URL: the embedded default). */
function serve(dataDir: string, env: Record<string, string> = {}): Serve {
  const child: ChildProcess = spawn(PAYPAD, ['serve', '--port', '0', '--data-dir', dataDir], {
    env: { PATH: process.env.PATH ?? '', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let err = '';
  let partial = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
    listeners.forEach((l) => l());
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    listeners.forEach((l) => l());
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = <T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${what}" within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
      const check = () => {
        const found = find();
        if (found !== undefined) {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(found);
        }
      };
      listeners.add(check);
      check();
      void exited.then(() => reject(new Error(`paypad serve exited before "${what}": ${err}`)));
    });
  return {
    logs,
    banner: () => waitFor(() => (err.includes('Stop with Ctrl-C.') ? err : undefined), 'the ready summary', 30_000),
    waitForLog: (predicate, what, timeoutMs = 30_000) => waitFor(() => logs.find(predicate), what, timeoutMs),
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function paypad(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PAYPAD, args, { timeout: 30_000, env: { PATH: process.env.PATH ?? '', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

interface Listeners {
  http: string;
  mtms: string;
  kms: Record<string, string>;
}

/** The certificate a TLS listener presents, checked against the paypad CA and the URL's host. */
function serverCertificate(url: string, caPem: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: caPem }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error(`${url} presented no certificate`));
    });
    socket.once('error', reject);
  });
}

describe('paypad serve on a fresh data directory (issue 3 item 9, X4)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'paypad-e2e-serve-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const caFile = join(dataDir, 'ca', 'ca.pem');
  const operatorFiles = { cert: join(dataDir, 'operator', 'cert.pem'), key: join(dataDir, 'operator', 'key.pem'), ca: join(dataDir, 'operator', 'ca.pem') };
  let firstCa: string;
  let firstOperatorCert: string;
  let firstKmsCert: string;

  it('X4, A8: starts the HTTP app, MTMS and a KMS per demo customer, each on its own listener, with the dev CA and the demo data', async () => {
    const host = serve(dataDir);
    try {
      const ready = await host.waitForLog((l) => l.msg === 'paypad host ready', 'paypad host ready');
      const listeners = ready.listeners as Listeners;
      expect(ready.demoData).toBe('added');
      expect(Object.keys(listeners.kms).sort()).toEqual(['C001', 'C002']);
      expect(new Set([listeners.http, listeners.mtms, ...Object.values(listeners.kms)]).size).toBe(4);
      expect(host.logs.some((l) => /no CA found: generated a development CA/.test(l.msg))).toBe(true);

      const health = await fetch(`${listeners.http}/healthz`);
      expect(await health.json()).toMatchObject({ status: 'ok', db: 'sqlite' });

      // Every TLS listener chains to the data directory's CA and says who it is (A8).
      firstCa = readFileSync(caFile, 'utf8');
      expect((await serverCertificate(listeners.mtms, firstCa)).subject).toMatch(/OU=mtms/);
      for (const code of ['C001', 'C002']) expect((await serverCertificate(listeners.kms[code], firstCa)).subject).toMatch(new RegExp(`O=${code}`));
      firstKmsCert = readFileSync(join(dataDir, 'kms', 'C001', 'tls', 'cert.pem'), 'utf8');

      // The demo operator certificate works at once: MTMS answers it for a demo serial (A2, A3, A8).
      expect(statSync(operatorFiles.key).mode & 0o077).toBe(0);
      const { identity, subject } = await readOperatorIdentity(operatorFiles);
      expect(subject).toMatchObject({ role: 'operator' });
      firstOperatorCert = identity.certPem;
      const lookup = await mtlsRequest({ url: `${listeners.mtms}/mtms/v1/lookup`, identity, expectPeer: { role: 'mtms' }, method: 'POST', body: { v: 1, serial: 'PP-1001' } });
      expect(lookup).toMatchObject({ status: 200, json: { serial: 'PP-1001', customerCode: 'C001', customerName: 'Acme Acquiring' } });
      const order = await mtlsRequest({ url: `${listeners.mtms}/mtms/v1/lookup`, identity, expectPeer: { role: 'mtms' }, method: 'POST', body: { v: 1, serial: 'PP-2002' } });
      expect(order.json).toMatchObject({ customerCode: 'C002', customerName: 'Borealis Bank' });

      // The person who started it is told where everything is.
      const banner = await host.banner();
      expect(banner).toContain(`HTTP      ${listeners.http}`);
      expect(banner).toContain(`KMS C002  ${listeners.kms.C002}`);
      expect(banner).toMatch(/Operator certificate: .*operator\/cert\.pem/);

      // A customer added while the host runs gets its KMS within seconds, from another process.
      const added = await paypad(['mtms', 'customer', 'add', '--code', 'C003', '--name', 'Cobalt Credit', '--kms-url', 'https://127.0.0.1:8799', '--data-dir', dataDir], {});
      expect(added).toMatchObject({ code: 0 });
      const started = await host.waitForLog((l) => l.msg.startsWith('KMS C003 listening on'), 'KMS C003 listening', 10_000);
      expect((await serverCertificate(started.url as string, firstCa)).subject).toMatch(/O=C003/);
    } finally {
      expect(await host.stop()).toBe(0);
    }
  }, 120_000);

  it('a second start reuses the CA, the certificates and the demo data, and starts the KMS of the customer added since', async () => {
    const host = serve(dataDir);
    try {
      const ready = await host.waitForLog((l) => l.msg === 'paypad host ready', 'paypad host ready');
      expect(ready.demoData).toBe('present');
      expect(Object.keys((ready.listeners as Listeners).kms).sort()).toEqual(['C001', 'C002', 'C003']);
      expect(host.logs.filter((l) => /generated a development CA|issued the TLS certificate|demo data added/.test(l.msg))).toEqual([]);
      expect(readFileSync(caFile, 'utf8')).toBe(firstCa);
      expect(readFileSync(operatorFiles.cert, 'utf8')).toBe(firstOperatorCert);
      expect(readFileSync(join(dataDir, 'kms', 'C001', 'tls', 'cert.pem'), 'utf8')).toBe(firstKmsCert);
    } finally {
      expect(await host.stop()).toBe(0);
    }
    // Nothing was registered twice: still 5 demo serials and one issue per certificate.
    const list = await paypad(['ca', 'list', '--data-dir', dataDir], {});
    const subjects = list.stdout.split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s{2,}/).pop());
    expect(subjects.sort()).toEqual([
      'CN=Harbour Books Ltd, OU=merchant',
      'CN=demo operator, OU=operator',
      'CN=kms-C001, OU=kms, O=C001',
      'CN=kms-C002, OU=kms, O=C002',
      'CN=kms-C003, OU=kms, O=C003',
      'CN=mtms, OU=mtms',
      'CN=paypad bill platform, OU=bill-platform',
    ]);
  }, 120_000);

  it('PAYPAD_DEMO_DATA=0: an empty host with MTMS and no customers, KMSs or operator certificate', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'paypad-e2e-bare-'));
    const host = serve(bare, { PAYPAD_DEMO_DATA: '0' });
    try {
      const ready = await host.waitForLog((l) => l.msg === 'paypad host ready', 'paypad host ready');
      expect(ready).toMatchObject({ demoData: 'off', listeners: { kms: {} } });
      expect(existsSync(join(bare, 'operator'))).toBe(false);
      expect(await host.banner()).toMatch(/no customers yet/);
    } finally {
      expect(await host.stop()).toBe(0);
      rmSync(bare, { recursive: true, force: true });
    }
  }, 120_000);
});
