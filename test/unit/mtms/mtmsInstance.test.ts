/**
 * MTMS end to end over loopback HTTPS (SPEC A2-A8, A10, X1): an operator with a certificate of the
 * paypad CA looks a serial up and uploads the TK envelope; MTMS's outbox worker forwards it over
 * mutual TLS to the customer's real KMS (host/kms), which installs the same TK. A KMS that is
 * down is retried until it is up; a server that is not that customer's KMS never gets the TK.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority, IssuedIdentity } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import type { Database } from '../../../host/db/database';
import { createKmsStore } from '../../../host/kms/kmsStore';
import { type RunningKms, startKms } from '../../../host/kms/kmsInstance';
import { createLogger } from '../../../host/log';
import { type RunningMtms, startMtms } from '../../../host/mtms/mtmsInstance';
import { createOutboxStore } from '../../../host/outbox/outboxStore';
import type { TlsIdentity } from '../../../host/tls/identity';
import { mtlsRequest } from '../../../host/tls/mtlsRequest';
import { fromHex } from '../../../shared/bytes';
import { MESSAGE_VERSION } from '../../../shared/protocol/messages';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { rawGet } from '../ca/fixtures';
import { expectNoClearTk, tempDir, TerminalWithTk } from './mtmsTestKit';

const logger = createLogger({ level: 'silent' });

function identity(issued: IssuedIdentity): TlsIdentity {
  if (issued.keyPem === undefined) throw new Error('expected a CA-generated key');
  return { certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caPem };
}

/** A port nobody listens on right now, for a KMS that starts later. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('A2-A8 MTMS on loopback HTTPS with real KMS instances', () => {
  const database = useMigratedDatabase('sqlite');
  let db: Database;
  let dataDir: string;
  let ca: CertificateAuthority;
  let mtms: RunningMtms;
  let acme: RunningKms;
  let operator: TlsIdentity;
  const running: { close(o?: { graceMs?: number }): Promise<void> }[] = [];

  beforeAll(async () => {
    db = database();
    dataDir = await tempDir();
    ca = await ensureCa({ dataDir, db: db.db });
    acme = await startKms({ customerCode: 'ACME', dataDir, db: db.db, ca, port: 0, host: '127.0.0.1', logger });
    running.push(acme);
    mtms = await startMtms({ dataDir, db: db.db, dialect: db.dialect, ca, port: 0, host: '127.0.0.1', logger, outbox: { pollMs: 20, retry: { baseMs: 20, capMs: 100, maxAttempts: 50 } }, kmsTimeoutMs: 2_000 });
    running.push(mtms);
    operator = identity(await ca.issue({ subject: { role: 'operator', name: 'alice' } }));
    await mtms.store.addCustomer({ code: 'ACME', name: 'Acme Bank', kmsUrl: acme.url }, 'admin:test');
  });

  afterAll(async () => {
    await Promise.all(running.splice(0).map((r) => r.close({ graceMs: 0 })));
  });

  const call = (path: string, body: unknown, as: TlsIdentity = operator) => mtlsRequest({ url: `${mtms.url}/mtms/v1${path}`, identity: as, expectPeer: { role: 'mtms' }, body });
  /** A8: the enrolled terminal's envelope signed over a TK challenge this operator asked for over HTTP. */
  const signedUpload = async (terminal: TerminalWithTk, tkEnvelope: string) => {
    const challenge = await call('/tk-challenge', { v: MESSAGE_VERSION, serial: terminal.serial });
    expect(challenge).toMatchObject({ status: 200, json: { serial: terminal.serial } });
    return { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope, confirmed: true, ...terminal.vouch(tkEnvelope, (challenge.json as { nonce: string }).nonce) };
  };
  const alice = { name: 'alice', certSerial: '01' };
  const deliveryState = async (deliveryId: string) => (await createOutboxStore(db.db, db.dialect).byKey(deliveryId))?.state;

  it('A10 publishes the intake public key the terminal wraps TK for, to anyone', async () => {
    // No client certificate: the key is public (the terminal has none).
    const anonymous = await rawGet(Number(new URL(mtms.url).port), '/mtms/v1/intake-key', { ca: ca.caCertificatePem });
    expect(anonymous.status).toBe(200);
    expect(fromHex(anonymous.body.publicKey as string)).toEqual(mtms.intakePublicKey.publicKey);
    expect(anonymous.body.kcv).toBe(mtms.intakePublicKey.kcv);
    // Over mutual TLS the peer proves it is MTMS.
    const answer = await mtlsRequest({ url: `${mtms.url}/mtms/v1/intake-key`, identity: operator, expectPeer: { role: 'mtms' } });
    expect(answer.json).toEqual(anonymous.body);
    expect(answer.peer).toMatchObject({ role: 'mtms', name: 'mtms' });
  });

  it("A2-A7 an operator's lookup and upload reach the customer's KMS, which installs the very same TK", async () => {
    const terminal = new TerminalWithTk('PP-E2E-0001');
    await mtms.store.addSerials([terminal.serial], 'ACME', 'admin:test');
    await terminal.enrol(ca);
    const info = await call('/lookup', { v: MESSAGE_VERSION, serial: terminal.serial });
    expect(info).toMatchObject({ status: 200, json: { serial: terminal.serial, customerCode: 'ACME', customerName: 'Acme Bank' } });

    const upload = await call('/tk', await signedUpload(terminal, terminal.envelopeFor(mtms.intakePublicKey.publicKey)));
    expect(upload.status).toBe(200);
    const receipt = upload.json as { deliveryId: string; customerCode: string };
    expect(receipt.customerCode).toBe('ACME');

    await expect.poll(() => deliveryState(receipt.deliveryId), { timeout: 10_000, interval: 20 }).toBe('delivered');
    const installed = await createKmsStore(db.db).terminal('ACME', terminal.serial);
    expect(installed).toMatchObject({ tkDeliveryId: receipt.deliveryId, generation: 1 });
    expect(installed?.tk.kcv).toBe(terminal.kcv);
    await expectNoClearTk(db.db, [terminal]);
  });

  it('A6/A14 the customer-name route answers for a serial in hand; unknown ones are typed 404s', async () => {
    await mtms.store.addSerials(['PP-E2E-0002'], 'ACME', 'admin:test');
    expect(await call('/customer-name', { v: MESSAGE_VERSION, serial: 'PP-E2E-0002', customerCode: 'ACME' })).toMatchObject({ status: 200, json: { customerName: 'Acme Bank' } });
    expect(await call('/customer-name', { v: MESSAGE_VERSION, serial: 'PP-E2E-NONE', customerCode: 'ACME' })).toMatchObject({ status: 404, json: { error: { code: 'MTMS_SERIAL_UNKNOWN' } } });
    expect(await call('/lookup', { v: MESSAGE_VERSION, serial: 'PP-E2E-NONE' })).toMatchObject({ status: 404, json: { error: { code: 'MTMS_SERIAL_UNKNOWN' } } });
    expect(await call('/lookup', { v: MESSAGE_VERSION, serial: 'bad serial' })).toMatchObject({ status: 400, json: { error: { code: 'PROTOCOL_MALFORMED' } } });
    // A14: no route lists customers or serials.
    for (const path of ['/customers', '/serials', '/orders']) {
      expect(await mtlsRequest({ url: `${mtms.url}/mtms/v1${path}`, identity: operator, expectPeer: { role: 'mtms' } })).toMatchObject({ status: 404 });
    }
  });

  it('A5/A10 over HTTP an envelope MTMS cannot open is a 422, an oversized body a 413, and neither is stored', async () => {
    const terminal = new TerminalWithTk('PP-E2E-0005');
    await mtms.store.addSerials([terminal.serial], 'ACME', 'admin:test');
    await terminal.enrol(ca);
    const wrongSerial = terminal.envelopeFor(mtms.intakePublicKey.publicKey, 'paypad-tk|PP-E2E-0001');
    expect(await call('/tk', await signedUpload(terminal, wrongSerial))).toMatchObject({ status: 422, json: { error: { code: 'KEY_UNWRAP_FAILED' } } });
    // A8: unsigned, the same upload is refused before the envelope or the serial is looked at.
    expect(await call('/tk', { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: wrongSerial, confirmed: true })).toMatchObject({ status: 403, json: { error: { code: 'DEVICE_CERT_INVALID' } } });
    expect(await call('/tk', { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: 'AB'.repeat(5_000), confirmed: true })).toMatchObject({ status: 413, json: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    expect(await mtms.store.latestIntake(terminal.serial)).toBeUndefined();
  });

  it('A8 only operator certificates open the operator routes', async () => {
    const kmsCert = identity(await ca.issue({ subject: { role: 'kms', name: 'kms-acme-2', customerCode: 'ACME' } }));
    expect(await call('/lookup', { v: MESSAGE_VERSION, serial: 'PP-E2E-0001' }, kmsCert)).toMatchObject({ status: 403, json: { error: { code: 'CLIENT_CERT_ROLE' } } });
    const revoked = await ca.issue({ subject: { role: 'operator', name: 'mallory' } });
    await ca.revoke(revoked.record.serial, 'keyCompromise');
    expect(await call('/lookup', { v: MESSAGE_VERSION, serial: 'PP-E2E-0001' }, identity(revoked))).toMatchObject({ status: 401, json: { error: { code: 'CLIENT_CERT_REVOKED' } } });
  });

  it('A7 a KMS that is down is retried with backoff until it is up, then gets the TK once', async () => {
    const port = await freePort();
    await mtms.store.addCustomer({ code: 'LATE', name: 'Late Bank', kmsUrl: `https://127.0.0.1:${port}` }, 'admin:test');
    const terminal = new TerminalWithTk('PP-E2E-0003');
    await mtms.store.addSerials([terminal.serial], 'LATE', 'admin:test');
    await terminal.enrol(ca);
    const receipt = await mtms.service.intakeTk(await terminal.signedRequest(mtms.service, alice, terminal.envelopeFor(mtms.intakePublicKey.publicKey)), alice);
    const outbox = createOutboxStore(db.db, db.dialect);
    await expect.poll(async () => (await outbox.byKey(receipt.deliveryId))?.attempts ?? 0, { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(2);
    expect(await outbox.byKey(receipt.deliveryId)).toMatchObject({ state: 'pending', lastError: expect.stringMatching(/^HTTP_FAILED: /) });

    const late = await startKms({ customerCode: 'LATE', dataDir, db: db.db, ca, port, host: '127.0.0.1', logger });
    running.push(late);
    await expect.poll(() => deliveryState(receipt.deliveryId), { timeout: 10_000, interval: 20 }).toBe('delivered');
    expect((await createKmsStore(db.db).terminal('LATE', terminal.serial))?.tk.kcv).toBe(terminal.kcv);
  });

  it("A8 a server that is not the customer's KMS never gets the TK: the delivery keeps failing on the certificate", async () => {
    // Customer FAKE's address points at ACME's KMS, whose certificate says O=ACME.
    await mtms.store.addCustomer({ code: 'FAKE', name: 'Fake Bank', kmsUrl: acme.url }, 'admin:test');
    const terminal = new TerminalWithTk('PP-E2E-0004');
    await mtms.store.addSerials([terminal.serial], 'FAKE', 'admin:test');
    await terminal.enrol(ca);
    const receipt = await mtms.service.intakeTk(await terminal.signedRequest(mtms.service, alice, terminal.envelopeFor(mtms.intakePublicKey.publicKey)), alice);
    const outbox = createOutboxStore(db.db, db.dialect);
    await expect.poll(async () => (await outbox.byKey(receipt.deliveryId))?.attempts ?? 0, { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(2);
    expect((await outbox.byKey(receipt.deliveryId))?.lastError).toMatch(/^PEER_CERT_MISMATCH: .*ACME.*FAKE/);
    expect(await createKmsStore(db.db).terminal('ACME', terminal.serial)).toBeUndefined();
  });
});
