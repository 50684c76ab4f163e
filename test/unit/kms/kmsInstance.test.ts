/**
 * KMS instances over real HTTPS on loopback, with certificates from a paypad CA: MTMS reaches the
 * intake key and delivers TKs only with a valid mtms certificate (A7, A8), terminals load keys with
 * no certificate through the MAC'd envelope (A11, A12, X2), and each instance presents its own
 * customer's certificate.
 */
import { stat, readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import { kmsDirectory, LMK_FILE_NAME, type RunningKms, startKms, startKmsInstances } from '../../../host/kms/kmsInstance';
import { TLS_DIR_NAME } from '../../../host/tls/serverIdentity';
import { createLogger } from '../../../host/log';
import type { TlsIdentity } from '../../../host/tls/identity';
import { mtlsRequest } from '../../../host/tls/mtlsRequest';
import { fromHex, toHex } from '../../../shared/bytes';
import { MAX_BODY_BYTES } from '../../../shared/protocol/macEnvelope';
import type { KmsTkDelivery } from '../../../shared/protocol/messages';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { tempDir } from './kmsTestKit';
import { type Reply, type SignedRequest, SimulatedTerminal, errorCodeOf } from './terminalSim';

const logger = createLogger({ level: 'silent' });
const database = useMigratedDatabase('sqlite');
let dataDir: string;
let ca: CertificateAuthority;
let kms: RunningKms;
let mtms: TlsIdentity;

async function identity(subject: Parameters<CertificateAuthority['issue']>[0]['subject'], authority = ca): Promise<TlsIdentity> {
  const issued = await authority.issue({ subject });
  return { certPem: issued.certPem, keyPem: issued.keyPem as string, caPem: issued.caPem };
}

beforeAll(async () => {
  dataDir = await tempDir();
  ca = await ensureCa({ dataDir, db: database().db });
  mtms = await identity({ role: 'mtms', name: 'mtms-1' });
  kms = await startKms({ customerCode: 'ACME', dataDir, db: database().db, ca, port: 0, host: '127.0.0.1', logger });
});
afterAll(async () => {
  await kms?.close({ graceMs: 0 });
});

/** A plain HTTPS call trusting the paypad CA, optionally with a client identity. */
function call(url: string, options: { method?: string; headers?: Record<string, string>; body?: Uint8Array; client?: TlsIdentity } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      method: options.method ?? 'GET',
      agent: false,
      ca: [ca.caCertificatePem],
      ...(options.client ? { cert: options.client.certPem, key: options.client.keyPem } : {}),
      headers: { 'content-type': 'application/json', ...options.headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Reply['headers'], body: new Uint8Array(Buffer.concat(chunks)) }));
    });
    req.end(options.body === undefined ? undefined : Buffer.from(options.body));
  });
}

const terminalCall = (request: SignedRequest, url = kms.url) => call(url + request.path, { method: 'POST', headers: request.headers, body: request.body });

/** MTMS's side: fetch the intake key over mutual TLS and address the terminal's TK to it. */
async function deliveryFor(terminal: SimulatedTerminal, deliveryId: string): Promise<KmsTkDelivery> {
  const key = await mtlsRequest({ url: `${kms.url}/kms/v1/intake-key`, identity: mtms, expectPeer: { role: 'kms', customerCode: 'ACME' } });
  return terminal.delivery(fromHex((key.json as { publicKey: string }).publicKey), 'ACME', deliveryId);
}

const deliver = (delivery: KmsTkDelivery) => mtlsRequest({ url: `${kms.url}/kms/v1/tk`, identity: mtms, expectPeer: { role: 'kms', customerCode: 'ACME' }, body: delivery });

describe('KMS instance over HTTPS', () => {
  it('A8: MTMS with its certificate gets the intake key from the KMS of the customer it means', async () => {
    const answer = await mtlsRequest({ url: `${kms.url}/kms/v1/intake-key`, identity: mtms, expectPeer: { role: 'kms', customerCode: 'ACME' } });
    expect(answer.status).toBe(200);
    expect(answer.peer).toMatchObject({ role: 'kms', customerCode: 'ACME' });
    expect(answer.json).toEqual({ v: 1, customerCode: 'ACME', publicKey: toHex(kms.service.intakePublicKey().publicKey), kcv: kms.service.intakePublicKey().kcv });
    await expect(mtlsRequest({ url: `${kms.url}/kms/v1/intake-key`, identity: mtms, expectPeer: { role: 'kms', customerCode: 'BETA' } })).rejects.toMatchObject({ code: 'PEER_CERT_MISMATCH' });
  });

  it('A8: no certificate, an operator certificate, a revoked one or one from another CA cannot deliver a TK', async () => {
    const terminal = new SimulatedTerminal('PP-HTTPS-0001');
    const body = new TextEncoder().encode(JSON.stringify(terminal.delivery(kms.service.intakePublicKey().publicKey, 'ACME', 'refused-1')));
    const revoked = await identity({ role: 'mtms', name: 'mtms-revoked' });
    await ca.revoke((await ca.list()).find((c) => c.subject === 'CN=mtms-revoked, OU=mtms')?.serial as string, 'keyCompromise');
    const foreignCa = await ensureCa({ dataDir: await tempDir(), db: database().db });
    const cases: [TlsIdentity | undefined, number, string][] = [
      [undefined, 401, 'CLIENT_CERT_REQUIRED'],
      [await identity({ role: 'operator', name: 'op-1' }), 403, 'CLIENT_CERT_ROLE'],
      [revoked, 401, 'CLIENT_CERT_REVOKED'],
      [await identity({ role: 'mtms', name: 'mtms-foreign' }, foreignCa), 401, 'CLIENT_CERT_UNTRUSTED'],
    ];
    for (const [client, status, code] of cases) {
      for (const [method, path] of [['POST', '/kms/v1/tk'], ['GET', '/kms/v1/intake-key']]) {
        const reply = await call(kms.url + path, { method, body: method === 'POST' ? body : undefined, client });
        expect([reply.status, errorCodeOf(reply)]).toEqual([status, code]);
      }
    }
    expect(await kms.service.receiveTk(terminal.delivery(kms.service.intakePublicKey().publicKey, 'ACME', 'refused-1'))).toMatchObject({ outcome: 'applied' });
  });

  it('A7 A11 A12 X2: MTMS delivers the TK, the terminal loads TMK and working keys over HTTPS without a certificate', async () => {
    const terminal = new SimulatedTerminal('PP-HTTPS-0002');
    const delivery = await deliveryFor(terminal, 'https-2');
    const first = await deliver(delivery);
    expect([first.status, first.json]).toEqual([200, { v: 1, deliveryId: 'https-2', outcome: 'applied' }]);
    // MTMS's retry of the same delivery, and a reuse of its id for another envelope.
    expect([(await deliver(delivery)).status, (await deliver(delivery)).json]).toEqual([200, { v: 1, deliveryId: 'https-2', outcome: 'duplicate' }]);
    const reuse = await deliver(await deliveryFor(terminal, 'https-2'));
    expect([reuse.status, (reuse.json as { error: { code: string } }).error.code]).toEqual([409, 'DELIVERY_CONFLICT']);

    const tmkRequest = await terminal.sign('tmk');
    const tmkReply = await terminalCall(tmkRequest);
    expect(tmkReply.status).toBe(200);
    terminal.acceptTmk(await terminal.verified(tmkRequest, tmkReply));
    const signOn = await terminal.sign('sign-on');
    const signOnReply = await terminalCall(signOn);
    terminal.acceptWorkingKeys(await terminal.verified(signOn, signOnReply));
    // A replay over the wire: refused, and the refusal is MAC'd for the terminal to trust.
    const replay = await terminalCall(signOn);
    expect([replay.status, errorCodeOf(replay)]).toEqual([409, 'PROTOCOL_REPLAY']);
    await terminal.verified(signOn, replay, terminal.macKey('TK'));
  });

  it('A8 X2: a serial the KMS does not hold and a known serial with a wrong MAC get the same answer, byte for byte (no serial oracle)', async () => {
    const known = new SimulatedTerminal('PP-HTTPS-0010');
    await deliver(await deliveryFor(known, 'https-10'));
    const stranger = new SimulatedTerminal('PP-HTTPS-0011');
    // The same request shape: sequence 1, TK key id; one serial unknown, the other with a MAC under a key nobody has.
    const answers = await Promise.all([terminalCall(await stranger.sign('tmk')), terminalCall(await known.sign('tmk', { macKey: new Uint8Array(16) }))]);
    const comparable = (r: Reply) => ({ status: r.status, body: new TextDecoder().decode(r.body), mac: r.headers['paypad-mac'], type: r.headers['content-type'] });
    expect(comparable(answers[0])).toEqual(comparable(answers[1]));
    expect([answers[0].status, errorCodeOf(answers[0]), answers[0].headers['paypad-mac']]).toEqual([401, 'MAC_MISMATCH', undefined]);
    // Under MAK too: a terminal that never signed on and a serial the KMS does not hold look alike.
    const underMak = await Promise.all([terminalCall(await stranger.sign('sign-on', { keyId: 'MAK', macKey: new Uint8Array(16) })), terminalCall(await known.sign('sign-on', { keyId: 'MAK', macKey: new Uint8Array(16) }))]);
    expect(comparable(underMak[0])).toEqual(comparable(underMak[1]));
  });

  it('X2: tampered, mislabelled, oversized or header-less terminal requests get unsigned typed errors', async () => {
    const terminal = new SimulatedTerminal('PP-HTTPS-0003');
    await kms.service.receiveTk(terminal.delivery(kms.service.intakePublicKey().publicKey, 'ACME', 'https-3'));
    const request = await terminal.sign('tmk');
    const cases: [Promise<Reply>, number, string][] = [
      [call(kms.url + request.path, { method: 'POST', headers: request.headers, body: new TextEncoder().encode('{"v":1 }') }), 401, 'MAC_MISMATCH'],
      [call(kms.url + request.path + '?x=1', { method: 'POST', headers: request.headers, body: request.body }), 401, 'MAC_MISMATCH'],
      [call(`${kms.url}/kms/v1/terminals/PP-HTTPS-9999/tmk`, { method: 'POST', headers: request.headers, body: request.body }), 400, 'PROTOCOL_MALFORMED'],
      [call(kms.url + request.path, { method: 'POST', headers: request.headers, body: new Uint8Array(MAX_BODY_BYTES + 1) }), 413, 'PAYLOAD_TOO_LARGE'],
      [call(kms.url + request.path, { method: 'POST', body: request.body }), 400, 'PROTOCOL_MALFORMED'],
      [call(`${kms.url}/kms/v1/terminals/PP-HTTPS-0003/keys`, { method: 'POST', headers: request.headers, body: request.body }), 404, 'NOT_FOUND'],
    ];
    for (const [reply, status, code] of cases) {
      const answer = await reply;
      expect([answer.status, errorCodeOf(answer)]).toEqual([status, code]);
      expect(answer.headers['paypad-mac']).toBeUndefined();
    }
    // Nothing above advanced the sequence: the original request is still good.
    terminal.acceptTmk(await terminal.verified(request, await terminalCall(request)));
  });

  it('keeps its certificate, intake key and terminals across a restart; its key files are private', async () => {
    const dir = kmsDirectory(dataDir, 'ACME');
    const certBefore = await readFile(join(dir, TLS_DIR_NAME, 'cert.pem'), 'utf8');
    const keyBefore = toHex(kms.service.intakePublicKey().publicKey);
    const terminal = new SimulatedTerminal('PP-HTTPS-0004');
    await kms.service.receiveTk(terminal.delivery(kms.service.intakePublicKey().publicKey, 'ACME', 'https-4'));
    await kms.close({ graceMs: 0 });
    kms = await startKms({ customerCode: 'ACME', dataDir, db: database().db, ca, port: 0, host: '127.0.0.1', logger });
    expect(await readFile(join(dir, TLS_DIR_NAME, 'cert.pem'), 'utf8')).toBe(certBefore);
    expect(toHex(kms.service.intakePublicKey().publicKey)).toBe(keyBefore);
    const request = await terminal.sign('tmk');
    terminal.acceptTmk(await terminal.verified(request, await terminalCall(request)));
    for (const file of [join(dir, LMK_FILE_NAME), join(dir, TLS_DIR_NAME, 'key.pem')]) expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('runs several customers\' KMSs in one process, each with its own certificate, HSM and terminals', async () => {
    const started = await startKmsInstances(['BETA', 'GAMMA'], { dataDir, db: database().db, ca, basePort: 0, host: '127.0.0.1', logger });
    try {
      for (const instance of started) {
        const answer = await mtlsRequest({ url: `${instance.url}/kms/v1/intake-key`, identity: mtms, expectPeer: { role: 'kms', customerCode: instance.customerCode } });
        expect(answer.json).toMatchObject({ customerCode: instance.customerCode });
      }
      const [beta, gamma] = started;
      await expect(mtlsRequest({ url: `${beta.url}/kms/v1/intake-key`, identity: mtms, expectPeer: { role: 'kms', customerCode: 'GAMMA' } })).rejects.toMatchObject({ code: 'PEER_CERT_MISMATCH' });
      expect(toHex(beta.service.intakePublicKey().publicKey)).not.toBe(toHex(gamma.service.intakePublicKey().publicKey));
      // A TK for BETA's terminal means nothing to GAMMA.
      const terminal = new SimulatedTerminal('PP-HTTPS-0005');
      await beta.service.receiveTk(terminal.delivery(beta.service.intakePublicKey().publicKey, 'BETA', 'https-5'));
      const reply = await terminalCall(await terminal.sign('tmk'), gamma.url);
      expect([reply.status, errorCodeOf(reply)]).toEqual([401, 'MAC_MISMATCH']);
      await expect(startKmsInstances(['BETA', 'BETA'], { dataDir, db: database().db, ca, basePort: 0, host: '127.0.0.1', logger })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(startKms({ customerCode: 'acme lower', dataDir, db: database().db, ca, port: 0, host: '127.0.0.1', logger })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await Promise.all(started.map((k) => k.close({ graceMs: 0 })));
    }
  });
});
