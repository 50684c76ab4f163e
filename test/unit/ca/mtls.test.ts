/**
 * A8 over real loopback HTTPS: the server side (serverTlsOptions + requireClientCert) accepts
 * only certificates of the paypad CA, unrevoked, with the route's role; the client side
 * (mtlsRequest) talks only to a peer of the paypad CA with the role and customer it expects.
 * "A fake terminal or fake KMS cannot obtain or inject a TK": the fakes here are certificates of
 * another CA, revoked ones, unrecorded ones and ones for the wrong role or customer.
 */
import express from 'express';
import { Agent } from 'node:https';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority, IssuedIdentity } from '../../../host/ca/authority';
import { ensureCa, loadCaKeys } from '../../../host/ca/caStorage';
import { randomSerial, signLeafCertificate } from '../../../host/ca/certificates';
import type { CertSubject } from '../../../host/ca/roles';
import { EC_KEY_ALGORITHM, subtle, x509, type CryptoKeyPair } from '../../../host/ca/x509';
import type { Database } from '../../../host/db/database';
import { migrateToLatest } from '../../../host/db/migrate';
import { errorHandler } from '../../../host/http/errors';
import { createLogger } from '../../../host/log';
import type { TlsIdentity } from '../../../host/tls/identity';
import { mtlsRequest } from '../../../host/tls/mtlsRequest';
import { requireClientCert } from '../../../host/tls/requireClientCert';
import { isPaypadError } from '../../../shared/errors';
import { createTestStore, type TestStore } from '../../store/helpers/testDatabase';
import { rawGet, type RunningHttps, startHttps, tempDirs } from './fixtures';

const dirs = tempDirs();
let store: TestStore;
let database: Database;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
const servers: RunningHttps[] = [];

function identity(issued: IssuedIdentity): TlsIdentity {
  if (issued.keyPem === undefined) throw new Error('expected a CA-generated key');
  return { certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caPem };
}

const issue = async (authority: CertificateAuthority, subject: CertSubject, hosts?: string[]) => identity(await authority.issue({ subject, hosts }));

/** A certificate signed with the CA's own key but never recorded in its register. */
async function unrecorded(dataDir: string, now = new Date()): Promise<TlsIdentity> {
  const keys = (await loadCaKeys(dataDir, new Date()))!;
  const pair = (await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await signLeafCertificate(keys, { subject: { role: 'operator', name: 'ghost' }, publicKey: pair.publicKey, serial: randomSerial(), now });
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(await subtle.exportKey('pkcs8', pair.privateKey), 'PRIVATE KEY'), caPem: ca.caCertificatePem };
}

function codeOf(e: unknown): string {
  return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
}

let dataDir: string;
beforeAll(async () => {
  store = await createTestStore('sqlite');
  database = store.open();
  await migrateToLatest(database);
  dataDir = dirs.make();
  ca = await ensureCa({ dataDir, db: database.db });
  // Another CA sharing the same register: its certificates are recorded, so only the chain refuses them.
  otherCa = await ensureCa({ dataDir: dirs.make(), db: database.db });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await store.destroy();
  dirs.cleanup();
});

describe('A8 requireClientCert on a loopback HTTPS server', () => {
  let server: RunningHttps;
  let operator: TlsIdentity;
  const hits: string[] = [];

  beforeAll(async () => {
    operator = await issue(ca, { role: 'operator', name: 'alice' });
    const app = express();
    app.use(express.json());
    app.get('/operator', requireClientCert({ roles: ['operator'], revocation: ca, cacheMs: 0 }), (req, res) => {
      hits.push(req.peer!.name);
      res.json({ peer: req.peer });
    });
    app.get('/acme', requireClientCert({ roles: ['kms'], customerCode: 'ACME', revocation: ca, cacheMs: 0 }), (req, res) => res.json({ peer: req.peer }));
    app.post('/echo', requireClientCert({ roles: ['operator', 'mtms'], revocation: ca }), (req, res) => res.json({ body: req.body, role: req.peer!.role }));
    app.use(errorHandler(createLogger({ level: 'silent' })));
    server = await startHttps(await issue(ca, { role: 'mtms', name: 'mtms-1' }), app);
    servers.push(server);
  });

  it('accepts a good operator certificate and hands the route its identity', async () => {
    const res = await rawGet(server.port, '/operator', { ca: ca.caCertificatePem, cert: operator.certPem, key: operator.keyPem });
    expect(res.status).toBe(200);
    expect(res.body.peer).toMatchObject({ role: 'operator', name: 'alice' });
    expect((res.body.peer as { serial: string }).serial).toMatch(/^[0-9A-F]{32}$/);
  });

  it('answers 401 CLIENT_CERT_REQUIRED to a client without a certificate', async () => {
    const res = await rawGet(server.port, '/operator', { ca: ca.caCertificatePem });
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('CLIENT_CERT_REQUIRED');
  });

  it('answers 401 CLIENT_CERT_REVOKED once the certificate is revoked', async () => {
    const bob = await issue(ca, { role: 'operator', name: 'bob' });
    const serial = (await rawGet(server.port, '/operator', { ca: ca.caCertificatePem, cert: bob.certPem, key: bob.keyPem })).body.peer as { serial: string };
    await ca.revoke(serial.serial, 'keyCompromise');
    const res = await rawGet(server.port, '/operator', { ca: ca.caCertificatePem, cert: bob.certPem, key: bob.keyPem });
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('CLIENT_CERT_REVOKED');
  });

  it('a revocation reaches a connection that is already open (keep-alive)', async () => {
    const carol = await issue(ca, { role: 'operator', name: 'carol' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const opts = { ca: ca.caCertificatePem, cert: carol.certPem, key: carol.keyPem, agent };
      const first = await rawGet(server.port, '/operator', opts);
      expect(first.status).toBe(200);
      await ca.revoke((first.body.peer as { serial: string }).serial);
      const second = await rawGet(server.port, '/operator', opts);
      expect(second.localPort).toBe(first.localPort);
      expect(second.body.error?.code).toBe('CLIENT_CERT_REVOKED');
    } finally {
      agent.destroy();
    }
  });

  it('answers 401 CLIENT_CERT_UNTRUSTED to a certificate of another CA, even one the register knows', async () => {
    const foreign = await issue(otherCa, { role: 'operator', name: 'alice' });
    const before = hits.length;
    const res = await rawGet(server.port, '/operator', { ca: ca.caCertificatePem, cert: foreign.certPem, key: foreign.keyPem });
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('CLIENT_CERT_UNTRUSTED');
    expect(res.body.error?.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/i);
    expect(hits.length).toBe(before);
  });

  it('answers 401 CLIENT_CERT_UNTRUSTED to a certificate signed by our CA key but not in the register', async () => {
    const ghost = await unrecorded(dataDir);
    const res = await rawGet(server.port, '/operator', { ca: ca.caCertificatePem, cert: ghost.certPem, key: ghost.keyPem });
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('CLIENT_CERT_UNTRUSTED');
    expect(res.body.error?.message).toMatch(/not in the CA's register/);
  });

  it('answers 401 CLIENT_CERT_UNTRUSTED to an expired certificate', async () => {
    const expired = await unrecorded(dataDir, new Date(Date.now() - 400 * 86_400_000));
    const res = await rawGet(server.port, '/operator', { ca: ca.caCertificatePem, cert: expired.certPem, key: expired.keyPem });
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('CLIENT_CERT_UNTRUSTED');
    expect(res.body.error?.message).toMatch(/CERT_HAS_EXPIRED/);
  });

  it('answers 403 CLIENT_CERT_ROLE to a valid certificate of the wrong role', async () => {
    const mtms = await issue(ca, { role: 'mtms', name: 'mtms-2' });
    const res = await rawGet(server.port, '/operator', { ca: ca.caCertificatePem, cert: mtms.certPem, key: mtms.keyPem });
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('CLIENT_CERT_ROLE');
  });

  it('a route bound to a customer accepts only that customer\'s KMS', async () => {
    const acme = await issue(ca, { role: 'kms', name: 'kms-acme', customerCode: 'ACME' });
    const other = await issue(ca, { role: 'kms', name: 'kms-globex', customerCode: 'GLOBEX' });
    expect((await rawGet(server.port, '/acme', { ca: ca.caCertificatePem, cert: acme.certPem, key: acme.keyPem })).status).toBe(200);
    const refused = await rawGet(server.port, '/acme', { ca: ca.caCertificatePem, cert: other.certPem, key: other.keyPem });
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('CLIENT_CERT_ROLE');
    expect(refused.body.error?.message).toMatch(/customer GLOBEX, not ACME/);
  });

  it('mtlsRequest posts JSON with our certificate and reads the answer and the server identity', async () => {
    const res = await mtlsRequest({ url: `${server.url}/echo`, identity: operator, expectPeer: { role: 'mtms' }, body: { serial: 'PP0001', n: 1 } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ body: { serial: 'PP0001', n: 1 }, role: 'operator' });
    expect(res.peer).toMatchObject({ role: 'mtms', name: 'mtms-1' });
  });

  it('revocation status is cached per serial for cacheMs, then read again', async () => {
    let now = 1_000_000;
    let reads = 0;
    const gate = requireClientCert({
      roles: ['operator'],
      revocation: { revocationStatus: async (serial) => (reads++, ca.revocationStatus(serial)) },
      cacheMs: 5_000,
      clock: () => now,
    });
    const app = express();
    app.get('/', gate, (_req, res) => res.json({ ok: true }));
    const cached = await startHttps(await issue(ca, { role: 'mtms', name: 'mtms-3' }), app);
    servers.push(cached);
    const dave = await issue(ca, { role: 'operator', name: 'dave' });
    const get = () => rawGet(cached.port, '/', { ca: ca.caCertificatePem, cert: dave.certPem, key: dave.keyPem });
    expect((await get()).status).toBe(200);
    const serial = (await ca.list()).find((c) => c.subject === 'CN=dave, OU=operator')!.serial;
    await ca.revoke(serial);
    expect((await get()).status).toBe(200);
    expect(reads).toBe(1);
    now += 5_000;
    const res = await get();
    expect(res.body.error?.code).toBe('CLIENT_CERT_REVOKED');
    expect(reads).toBe(2);
  });

  it('answers 401 CLIENT_CERT_REQUIRED over plain HTTP', async () => {
    const app = express();
    app.get('/', requireClientCert({ roles: ['operator'], revocation: ca }), (_req, res) => res.json({ ok: true }));
    const { createServer } = await import('node:http');
    const plain = createServer(app);
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(plain.address() as { port: number }).port}/`);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('CLIENT_CERT_REQUIRED');
    } finally {
      plain.closeAllConnections();
      plain.close();
    }
  });
});

describe('A8 TLS settings for the PIN pad and everyone else', () => {
  let server: RunningHttps;
  beforeAll(async () => {
    server = await startHttps(await issue(ca, { role: 'kms', name: 'kms-acme', customerCode: 'ACME' }), (_req, res) => res.end('{}'));
    servers.push(server);
  });

  const handshake = (options: ConnectionOptions) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: server.port, ca: ca.caCertificatePem, servername: 'localhost', ...options }, () => resolve(socket));
      socket.on('error', reject);
    });

  it('a TLS 1.2 client offering only ECDHE-ECDSA-AES128-GCM-SHA256 on P-256 (what Moddable speaks) connects', async () => {
    const socket = await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', ecdhCurve: 'P-256' });
    try {
      expect(socket.getProtocol()).toBe('TLSv1.2');
      expect(socket.getCipher().name).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
      expect(socket.getEphemeralKeyInfo()).toMatchObject({ type: 'ECDH', name: 'prime256v1' });
    } finally {
      socket.destroy();
    }
  });

  // Both clients connect to a server that allows them (checked by hand with OpenSSL 3.0): the refusal is ours.
  it('refuses TLS 1.1 and CBC (non-AEAD) suites', async () => {
    await expect(handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).rejects.toThrow(/protocol|version/i);
    await expect(handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' })).rejects.toThrow(/handshake failure|no shared cipher|alert/i);
  });
});

describe('A8 mtlsRequest checks who answers', () => {
  let operator: TlsIdentity;
  let mtms: TlsIdentity;
  const received: string[] = [];
  const serve = async (id: TlsIdentity, name: string) => {
    const s = await startHttps(id, (req, res) => {
      received.push(name);
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ from: name }));
    });
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    operator = await issue(ca, { role: 'operator', name: 'alice' });
    mtms = await issue(ca, { role: 'mtms', name: 'mtms-1' });
  });

  it('MTMS reaches the KMS of the customer it means', async () => {
    const acme = await serve(await issue(ca, { role: 'kms', name: 'kms-acme', customerCode: 'ACME' }), 'acme');
    const res = await mtlsRequest({ url: `${acme.url}/deliver`, identity: mtms, expectPeer: { role: 'kms', customerCode: 'ACME' }, body: { envelope: 'AA' } });
    expect(res).toMatchObject({ status: 200, json: { from: 'acme' }, peer: { role: 'kms', customerCode: 'ACME' } });
  });

  it('refuses the KMS of another customer before sending anything (PEER_CERT_MISMATCH)', async () => {
    const globex = await serve(await issue(ca, { role: 'kms', name: 'kms-globex', customerCode: 'GLOBEX' }), 'globex');
    const error = await mtlsRequest({ url: `${globex.url}/deliver`, identity: mtms, expectPeer: { role: 'kms', customerCode: 'ACME' }, body: { envelope: 'AA' } }).catch((e) => e);
    expect(codeOf(error)).toBe('PEER_CERT_MISMATCH');
    expect((error as Error).message).toMatch(/customer GLOBEX, not ACME/);
    expect(received).not.toContain('globex');
  });

  it('refuses a peer of the wrong role (PEER_CERT_MISMATCH)', async () => {
    const fakeKms = await serve(await issue(ca, { role: 'mtms', name: 'not-a-kms' }), 'fake');
    const error = await mtlsRequest({ url: fakeKms.url, identity: mtms, expectPeer: { role: 'kms', customerCode: 'ACME' } }).catch((e) => e);
    expect(codeOf(error)).toBe('PEER_CERT_MISMATCH');
    expect(received).not.toContain('fake');
  });

  it('refuses a server whose certificate comes from another CA (PEER_CERT_UNTRUSTED)', async () => {
    const foreign = await serve(await issue(otherCa, { role: 'kms', name: 'kms-acme', customerCode: 'ACME' }), 'foreign');
    const error = await mtlsRequest({ url: foreign.url, identity: mtms, expectPeer: { role: 'kms', customerCode: 'ACME' }, body: { envelope: 'AA' } }).catch((e) => e);
    expect(codeOf(error)).toBe('PEER_CERT_UNTRUSTED');
    expect(received).not.toContain('foreign');
  });

  it('refuses a server whose certificate does not name the host called (PEER_CERT_UNTRUSTED)', async () => {
    const elsewhere = await serve(await issue(ca, { role: 'mtms', name: 'mtms-far' }, ['mtms.example']), 'elsewhere');
    const error = await mtlsRequest({ url: elsewhere.url, identity: operator, expectPeer: { role: 'mtms' } }).catch((e) => e);
    expect(codeOf(error)).toBe('PEER_CERT_UNTRUSTED');
    expect((error as Error).message).toMatch(/does not name 127\.0\.0\.1/);
  });

  it('fails with HTTP_FAILED when nothing listens, and with BAD_ARGUMENT for a plain http URL or a KMS of no named customer', async () => {
    const closed = await serve(mtms, 'closed');
    await closed.close();
    expect(codeOf(await mtlsRequest({ url: closed.url, identity: operator, expectPeer: { role: 'mtms' } }).catch((e) => e))).toBe('HTTP_FAILED');
    await expect(mtlsRequest({ url: 'http://127.0.0.1:1/', identity: operator, expectPeer: { role: 'mtms' } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(mtlsRequest({ url: closed.url, identity: mtms, expectPeer: { role: 'kms' } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(mtlsRequest({ url: 'not a url', identity: mtms, expectPeer: { role: 'mtms' } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('fails with HTTP_FAILED on a non-JSON, oversized or cut-off answer, and HTTP_TIMEOUT on silence', async () => {
    const odd = await startHttps(mtms, (req, res) => {
      if (req.url === '/text') res.end('<html>');
      else if (req.url === '/big') res.end(JSON.stringify({ pad: 'x'.repeat(4096) }));
      else if (req.url === '/cut') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"partial":', () => res.socket?.destroy());
      }
      // '/silent' never answers.
    });
    servers.push(odd);
    const call = (path: string, extra = {}) => mtlsRequest({ url: `${odd.url}${path}`, identity: operator, expectPeer: { role: 'mtms' }, ...extra }).catch((e) => e);
    expect(codeOf(await call('/text'))).toBe('HTTP_FAILED');
    expect(codeOf(await call('/big', { maxResponseBytes: 1024 }))).toBe('HTTP_FAILED');
    expect(codeOf(await call('/cut'))).toBe('HTTP_FAILED');
    expect(codeOf(await call('/silent', { timeoutMs: 200 }))).toBe('HTTP_TIMEOUT');
  });
});
