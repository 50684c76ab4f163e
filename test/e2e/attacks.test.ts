/**
 * Attacks on System A over loopback with real TLS (SPEC A8, X2; issue 3). The real host runs in
 * this process (startHost: CA, MTMS with its outbox, a KMS per local customer); emulated terminals
 * (bin/paypad terminal), the operating terminal and the admin CLIs run as child processes.
 *
 *   A8  MTMS sends a TK only to a server whose certificate is the paypad CA's, role kms, for that
 *       customer. An impostor holding the customer's recorded KMS address (it took the port
 *       before the host could start that KMS) fails the handshake whether its certificate comes
 *       from another CA or is our CA's certificate of another customer's KMS: it never gets a
 *       request, and the outbox keeps the TK and retries.
 *       An impostor holding our CA's KMS certificate for that very customer, and its key, but
 *       revoked, completes the handshake and still gets nothing: MTMS finds the certificate
 *       revoked in the CA's register before it writes a byte (PEER_CERT_REVOKED).
 *   A8  A KMS whose own certificate is revoked while it runs stops listening (SERVER_CERT_REVOKED,
 *       audited once) and is not started again with it.
 *   A10 MTMS pins a KMS's intake key at the first delivery; a KMS presenting another key later
 *       gets no TK (MTMS_KMS_KEY_CHANGED, audited) until an administrator accepts the new key
 *       with `paypad mtms kms-key accept`, after which the queued delivery goes out.
 *   A8  MTMS refuses operator certificates that were revoked or that another CA issued, at the
 *       lookup and at the upload: no intake is recorded.
 *   X2  A terminal request recorded on the wire and sent again, or sent with one bit or one header
 *       changed, is refused with its typed code and changes no KMS row; the terminal still works.
 *   A8  A fake PIN pad (or a station speaking for one) is refused by MTMS with its typed code,
 *       audited, and changes nothing at the KMS: no device certificate, a genuine certificate of
 *       another serial, a revoked certificate, a nonce used before or expired, a signature that is
 *       not over the envelope sent. A second device cannot be enrolled under a live serial.
 *   A13 A new TK of the real terminal is refused without a repair authorisation
 *       (MTMS_REPAIR_NOT_AUTHORISED, audited) and an old envelope replayed after a repair carries no
 *       device signature: the KMS keeps the real terminal's keys. A repair goes through once an MTMS
 *       administrator authorised it.
 *
 * PostgreSQL when DATABASE_URL is set (a schema of its own), SQLite otherwise.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPaypad } from '../../bin/demo/paypadProcess';
import { cliTerminalDriver, type RunningTerminal } from '../../bin/demo/terminalDriver';
import { randomBytes } from 'node:crypto';
import { fromHex, toHex } from '../../shared/bytes';
import { signP256Sha256 } from '../../shared/crypto/ecdsa';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { enrolmentSignedBytes, tkIntakeSignedBytes } from '../../shared/protocol/deviceIdentity';
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import { systemRng } from '../../host/hsm/index';
import { createAuditStore } from '../../host/audit/auditStore';
import { CA_CERT_FILE, caDirectory } from '../../host/ca/caStorage';
import type { CertSubject } from '../../host/ca/roles';
import { loadConfig } from '../../host/config';
import { kmsDirectory } from '../../host/kms/kmsInstance';
import type { MtmsTables } from '../../host/mtms/mtmsTables';
import { connectTcpLink, parseLinkAddress } from '../../host/operator/tcpLink';
import { createOutboxStore, type OutboxStore } from '../../host/outbox/outboxStore';
import { type RunningHost, startHost } from '../../host/server';
import { readIdentity, type TlsIdentity, writeIdentity } from '../../host/tls/identity';
import { mtlsRequest } from '../../host/tls/mtlsRequest';
import { TLS_DIR_NAME } from '../../host/tls/serverIdentity';
import { certificateSerialOf } from '../../host/tls/servingCertificate';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { e2eDatabase, type E2eDatabase } from './support/e2eDatabase';
import { type ImpostorKms, startImpostorKms } from './support/impostorKms';
import { deliveriesWithId, kmsRowsOf } from './support/kmsRows';
import { eventually, freeLoopbackPorts, httpsGetJson, LOOPBACK } from './support/loopback';
import { enrol, onboard, type OnboardingReceipt, outboxRowWhen, runEnrol, runOnboard, stationFiles } from './support/operatorStation';
import { hostEnv, issuedSerial, paypadResult } from './support/paypadCli';
import { hexWithLastBitFlipped, type RecordingProxy, sendWireRequest, startRecordingProxy, type WireRequest, wireHeader, withBodyBitFlipped, withHeader } from './support/recordingProxy';

/** Customers: C100's KMS runs in the host; C200's and C300's addresses are held by impostors. */
const REAL = { code: 'C100', name: 'Real Acquiring' };
const FOREIGN_CA = { code: 'C200', name: 'Squatted Bank', serial: 'PP-A8-0200' };
const OTHER_CUSTOMER = { code: 'C300', name: 'Borrowed Bank', serial: 'PP-A8-0300' };
/** C400's address is held by an impostor with C400's revoked certificate; C500's KMS runs elsewhere and changes its intake key; C600's runs in the host until its certificate is revoked. */
const REVOKED_CERT = { code: 'C400', name: 'Revoked Bank', serial: 'PP-A8-0400' };
const ROTATING = { code: 'C500', name: 'Rotating Bank', serials: ['PP-A10-0501', 'PP-A10-0502'] };
const STOPPING = { code: 'C600', name: 'Stopping Bank' };
const ADMIN = 'admin:attacks-test';
const SERIALS = {
  revoked: 'PP-A8-0101',
  foreign: 'PP-A8-0102',
  recorded: 'PP-X2-0001',
  neighbour: 'PP-X2-0002',
  live: 'PP-A13-0001',
  genuine: 'PP-A8-0201',
  spare: 'PP-A8-0202',
  revokedDevice: 'PP-A8-0203',
};

describe('attacks on System A over loopback (A8, X2)', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-attacks-'));
  const dataDir = join(root, 'data');
  const foreignDir = join(root, 'foreign-ca');
  const log = captureLogger('info');
  const terminals: RunningTerminal[] = [];
  const closers: (() => Promise<void>)[] = [];
  let database: E2eDatabase;
  let env: Record<string, string>;
  let host: RunningHost;
  let outbox: OutboxStore;
  let caPem: string;
  let caFile: string;
  let mtmsKeyFile: string;
  let foreignImpostor: ImpostorKms;
  let otherCustomerImpostor: ImpostorKms;
  let revokedImpostor: ImpostorKms;
  let rotatingKms: ImpostorKms;

  /** `paypad <args>` on the host's data directory and database; must succeed. */
  const admin = (args: string[]) => runPaypad(args, { env });
  /** The same against the other CA, with its own SQLite register. */
  const foreignAdmin = (args: string[]) => runPaypad([...args, '--data-dir', foreignDir], { env: { DATABASE_URL: '' } });

  /** Our CA issues `subject` (no hosts: a client certificate) into `dir`, as `paypad ca issue --out` does. */
  const issueInto = async (dir: string, subject: CertSubject): Promise<void> => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await writeIdentity(dir, await host.ca.issue({ subject }));
  };
  /** A terminal made and, unless `enrolled` is false, enrolled by the line-1 station (A8) as the production line does. */
  const manufacture = async (serial: string, kmsUrl: string, stateDir = join(root, 'terminals', serial), enrolled = true): Promise<RunningTerminal> => {
    const terminal = await cliTerminalDriver().start({ stateDir, serial, kmsUrl, mtmsKeyFile, mtmsPublicKeyHex: toHex(host.mtms.intakePublicKey.publicKey), caFile, caPem });
    terminals.push(terminal);
    if (enrolled) await enrol(terminal.link, host.mtms.url, lineOne());
    return terminal;
  };
  const lineOne = () => stationFiles(join(root, 'stations', 'line-1'));
  const intakesOf = (column: 'serial' | 'operator_cert_serial', value: string) =>
    host.database.db.withTables<MtmsTables>().selectFrom('mtms_tk_intakes').selectAll().where(column, '=', value).execute();
  const auditOf = async (subject: string, prefix: string) => (await createAuditStore(host.database.db).listBySubject(subject)).filter((e) => e.action.startsWith(prefix));

  beforeAll(async () => {
    database = await e2eDatabase();
    env = hostEnv(dataDir, database.databaseUrl);
    const [kmsPort, foreignCaPort, otherCustomerPort, revokedCertPort, rotatingPort, stoppingPort] = await freeLoopbackPorts(6);
    // A base port other than 0: every KMS the host runs listens where its customer record says,
    // so an address someone else holds stays theirs (host/kmsFleet.ts).
    const config = loadConfig({ ...env, PAYPAD_HOST: LOOPBACK, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: String(kmsPort), PAYPAD_DEMO_DATA: '0' });
    host = await startHost(config, { logger: log.logger });
    outbox = createOutboxStore(host.database.db, host.database.dialect);
    caFile = join(caDirectory(dataDir), CA_CERT_FILE);
    caPem = readFileSync(caFile, 'utf8');
    mtmsKeyFile = join(root, 'mtms-intake-key.hex');
    writeFileSync(mtmsKeyFile, `${toHex(host.mtms.intakePublicKey.publicKey)}\n`);

    // Another CA, with the same name as ours, made and used with the CLI as its owner would.
    const foreign = (async () => {
      await foreignAdmin(['ca', 'init']);
      await foreignAdmin(['ca', 'issue', '--role', 'kms', '--name', `kms-${FOREIGN_CA.code}`, '--customer', FOREIGN_CA.code, '--san', LOOPBACK, '--out', join(root, 'foreign-kms')]);
      await foreignAdmin(['ca', 'issue', '--role', 'operator', '--name', 'line 1 station', '--out', join(root, 'stations', 'foreign')]);
    })();
    // Our CA's certificates for a station and for C100's KMS (the one an impostor borrows).
    await issueInto(join(root, 'stations', 'line-1'), { role: 'operator', name: 'line 1 station' });
    const borrowed = await host.ca.issue({ subject: { role: 'kms', name: `kms-${REAL.code}`, customerCode: REAL.code }, hosts: [LOOPBACK] });
    await foreign;

    // The impostors take their ports before the customers exist, so the host never gets them.
    foreignImpostor = await startImpostorKms({ identity: await readIdentity(join(root, 'foreign-kms')), customerCode: FOREIGN_CA.code, port: foreignCaPort });
    closers.push(() => foreignImpostor.close());
    otherCustomerImpostor = await startImpostorKms({ identity: { certPem: borrowed.certPem, keyPem: borrowed.keyPem! }, customerCode: OTHER_CUSTOMER.code, port: otherCustomerPort });
    closers.push(() => otherCustomerImpostor.close());
    // Our CA's certificate for C400's KMS, key and all, then revoked (say the key leaked).
    const leaked = await host.ca.issue({ subject: { role: 'kms', name: `kms-${REVOKED_CERT.code}`, customerCode: REVOKED_CERT.code }, hosts: [LOOPBACK] });
    await host.ca.revoke(leaked.record.serial, 'keyCompromise');
    revokedImpostor = await startImpostorKms({ identity: { certPem: leaked.certPem, keyPem: leaked.keyPem! }, customerCode: REVOKED_CERT.code, port: revokedCertPort });
    closers.push(() => revokedImpostor.close());
    // C500's KMS runs elsewhere, with a good certificate: a stand-in that can change its intake key.
    const good = await host.ca.issue({ subject: { role: 'kms', name: `kms-${ROTATING.code}`, customerCode: ROTATING.code }, hosts: [LOOPBACK] });
    rotatingKms = await startImpostorKms({ identity: { certPem: good.certPem, keyPem: good.keyPem! }, customerCode: ROTATING.code, port: rotatingPort });
    closers.push(() => rotatingKms.close());

    // The registry as `paypad mtms customer add` / `serial add` write it (their own tests run the CLI).
    const registry = host.mtms.store;
    await registry.addCustomer({ code: REAL.code, name: REAL.name, kmsUrl: `https://${LOOPBACK}:${kmsPort}` }, ADMIN);
    await registry.addCustomer({ code: FOREIGN_CA.code, name: FOREIGN_CA.name, kmsUrl: foreignImpostor.url }, ADMIN);
    await registry.addCustomer({ code: OTHER_CUSTOMER.code, name: OTHER_CUSTOMER.name, kmsUrl: otherCustomerImpostor.url }, ADMIN);
    await registry.addCustomer({ code: REVOKED_CERT.code, name: REVOKED_CERT.name, kmsUrl: revokedImpostor.url }, ADMIN);
    await registry.addCustomer({ code: ROTATING.code, name: ROTATING.name, kmsUrl: rotatingKms.url }, ADMIN);
    await registry.addCustomer({ code: STOPPING.code, name: STOPPING.name, kmsUrl: `https://${LOOPBACK}:${stoppingPort}` }, ADMIN);
    await registry.addSerials(Object.values(SERIALS), REAL.code, ADMIN);
    await registry.addSerials([FOREIGN_CA.serial], FOREIGN_CA.code, ADMIN);
    await registry.addSerials([OTHER_CUSTOMER.serial], OTHER_CUSTOMER.code, ADMIN);
    await registry.addSerials([REVOKED_CERT.serial], REVOKED_CERT.code, ADMIN);
    await registry.addSerials(ROTATING.serials, ROTATING.code, ADMIN);
    // The host's fleet would pick the customers up within seconds; a sync now saves the wait.
    await host.kms.sync();
    expect(host.kms.get(REAL.code)?.url).toBe(`https://${LOOPBACK}:${kmsPort}`);
    expect(host.kms.get(STOPPING.code)?.url).toBe(`https://${LOOPBACK}:${stoppingPort}`);
    expect(host.kms.get(FOREIGN_CA.code)).toBeUndefined();
    expect(host.kms.failures().get(FOREIGN_CA.code)).toMatch(/^LISTEN_FAILED: .*EADDRINUSE/);
    expect(host.kms.failures().get(OTHER_CUSTOMER.code)).toMatch(/^LISTEN_FAILED: .*EADDRINUSE/);
  });

  afterAll(async () => {
    await Promise.allSettled(terminals.map((t) => t.stop()));
    await host?.close({ graceMs: 0 });
    await Promise.allSettled(closers.map((close) => close()));
    await database?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  /**
   * The TK of a terminal built for an impostor's customer is queued, tried at least twice and
   * still pending with `error`; the impostor was connected to and never received a request.
   */
  async function expectTkWithheldFrom(impostor: ImpostorKms, customer: { code: string; serial: string }, error: RegExp): Promise<OnboardingReceipt> {
    const terminal = await manufacture(customer.serial, impostor.url);
    const receipt = await onboard(terminal.link, host.mtms.url, lineOne());
    expect(receipt).toMatchObject({ serial: customer.serial, customerCode: customer.code });
    // Waiting ends early if the row leaves 'pending' (delivered to the impostor, or dead): the assertions below say which.
    const row = await outboxRowWhen(outbox, receipt.deliveryId, (r) => r.state !== 'pending' || (r.attempts >= 2 && r.leaseUntil === undefined), 'two attempts recorded');
    expect(row).toMatchObject({ state: 'pending', destination: customer.code });
    expect(row.lastError).toMatch(error);
    expect(row.nextAttemptAt.getTime()).toBeGreaterThan(row.updatedAt.getTime());
    // MTMS reached the impostor on every attempt and gave it nothing: not a request line, not a byte of TK.
    expect(impostor.connections).toBeGreaterThanOrEqual(2);
    expect(impostor.requests, `${impostor.connections} connections, ${impostor.handshakes} handshakes completed`).toEqual([]);
    expect(await deliveriesWithId(host.database.db, receipt.deliveryId)).toEqual([]);
    expect((await kmsRowsOf(host.database.db, customer.serial)).terminals).toEqual([]);
    return receipt;
  }

  it('A8: an impostor at the customer\'s KMS address with a certificate from another CA (role kms, that customer\'s code) never receives a request; the TK stays queued and is retried', async () => {
    await expectTkWithheldFrom(foreignImpostor, FOREIGN_CA, /^PEER_CERT_UNTRUSTED: /);
    // The impostor is a working KMS look-alike: a client that trusts its CA is served at once.
    const served = await httpsGetJson(`${foreignImpostor.url}/kms/v1/intake-key`, readFileSync(join(foreignDir, 'ca', CA_CERT_FILE), 'utf8'));
    expect(served).toMatchObject({ status: 200, json: { customerCode: FOREIGN_CA.code } });
    expect(foreignImpostor.requests).toHaveLength(1);
  }, 90_000);

  it('A8: an impostor presenting our CA\'s KMS certificate of another customer (C100) at C300\'s address never receives a request', async () => {
    // expectTkWithheldFrom also checks that no KMS, C100's real one included, holds the terminal.
    await expectTkWithheldFrom(otherCustomerImpostor, OTHER_CUSTOMER, /^PEER_CERT_MISMATCH: .*KMS of customer C100, not C300/);
  }, 90_000);

  it('A8: a revoked operator certificate is refused by MTMS at the lookup (CLIENT_CERT_REVOKED, exit 1) and at the upload; no intake is recorded', async () => {
    const dir = join(root, 'stations', 'revoked');
    const issued = await admin(['ca', 'issue', '--role', 'operator', '--name', 'line 2 station', '--out', dir]);
    const certSerial = issuedSerial(issued.stdout);
    await admin(['ca', 'revoke', '--serial', certSerial, '--reason', 'keyCompromise']);
    const terminal = await manufacture(SERIALS.revoked, host.kms.get(REAL.code)!.url);

    const refused = await runOnboard(terminal.link, host.mtms.url, stationFiles(dir));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`paypad: MTMS_REFUSED: MTMS refused (HTTP 401): CLIENT_CERT_REVOKED: the client certificate ${certSerial} has been revoked`);

    // A client that skips the lookup and uploads the terminal's genuine envelope is refused too.
    const upload = await uploadEnvelope(host.mtms.url, terminal, await readIdentity(dir));
    expect(upload).toMatchObject({ status: 401, json: { error: { code: 'CLIENT_CERT_REVOKED' } } });
    expect(await intakesOf('serial', SERIALS.revoked)).toEqual([]);
    expect(await intakesOf('operator_cert_serial', certSerial)).toEqual([]);

    // Only the certificate was at fault: a valid station onboards the same terminal.
    const receipt = await onboard(terminal.link, host.mtms.url, lineOne());
    expect(receipt).toMatchObject({ serial: SERIALS.revoked, customerCode: REAL.code });
    expect(await intakesOf('serial', SERIALS.revoked)).toHaveLength(1);
  }, 90_000);

  it('A8: an operator certificate from another CA (same CA name, same station name) is refused by MTMS (CLIENT_CERT_UNTRUSTED); the CLI will not even use it; no intake', async () => {
    const foreignStation = join(root, 'stations', 'foreign');
    const terminal = await manufacture(SERIALS.foreign, host.kms.get(REAL.code)!.url);

    // The operating terminal checks its certificate against the CA it trusts MTMS by: exit 1.
    const refused = await runOnboard(terminal.link, host.mtms.url, stationFiles(foreignStation, caFile));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/paypad: CONFIG_INVALID: the certificate in \S+cert\.pem was not issued by the CA in \S+ca\.pem/);

    // A client without that check reaches MTMS, which refuses the certificate on every route.
    const identity: TlsIdentity = { ...(await readIdentity(foreignStation)), caPem };
    const lookup = await mtlsRequest({ url: `${host.mtms.url}/mtms/v1/lookup`, identity, expectPeer: { role: 'mtms' }, body: { v: 1, serial: SERIALS.foreign } });
    expect(lookup).toMatchObject({ status: 401, json: { error: { code: 'CLIENT_CERT_UNTRUSTED' } } });
    const upload = await uploadEnvelope(host.mtms.url, terminal, identity);
    expect(upload).toMatchObject({ status: 401, json: { error: { code: 'CLIENT_CERT_UNTRUSTED' } } });
    expect(await intakesOf('serial', SERIALS.foreign)).toEqual([]);
  }, 90_000);

  it('X2: a recorded terminal request sent again, or with one bit of body or MAC, its sequence, key, path or serial changed, is refused with its code and changes nothing at the KMS; the terminal then signs on again', async () => {
    const kms = host.kms.get(REAL.code)!;
    const proxyIdentity = await host.ca.issue({ subject: { role: 'kms', name: 'recording proxy', customerCode: REAL.code }, hosts: [LOOPBACK] });
    const proxy: RecordingProxy = await startRecordingProxy({ identity: { certPem: proxyIdentity.certPem, keyPem: proxyIdentity.keyPem!, caPem }, targetUrl: kms.url });
    closers.push(() => proxy.close());
    const [terminal, neighbour] = await Promise.all([manufacture(SERIALS.recorded, proxy.url), manufacture(SERIALS.neighbour, kms.url)]);
    for (const t of [terminal, neighbour]) {
      const receipt = await onboard(t.link, host.mtms.url, lineOne());
      const row = await outboxRowWhen(outbox, receipt.deliveryId, (r) => r.state !== 'pending', 'delivered');
      expect(row.state).toBe('delivered');
    }

    await terminal.loadKeys();
    const path = (route: string) => `/kms/v1/terminals/${SERIALS.recorded}/${route}`;
    expect(proxy.exchanges.map((x) => [x.request.method, x.request.path, x.response.status])).toEqual([
      ['POST', path('tmk'), 200],
      ['POST', path('sign-on'), 200],
    ]);
    const [tmk, signOn] = proxy.exchanges.map((x) => x.request);
    const seq = Number(wireHeader(signOn, 'Paypad-Seq'));
    expect(wireHeader(signOn, 'Paypad-Key')).toBe('TK');
    expect((await kmsRowsOf(host.database.db, SERIALS.recorded)).terminals[0]).toMatchObject({ last_seq: seq });

    const attacks: { what: string; wire: WireRequest; status: number; code: string }[] = [
      { what: 'the sign-on again, byte for byte', wire: signOn, status: 409, code: 'PROTOCOL_REPLAY' },
      { what: 'the TMK request again, byte for byte', wire: tmk, status: 409, code: 'PROTOCOL_REPLAY' },
      { what: 'one body bit flipped', wire: withBodyBitFlipped(signOn, Math.floor(signOn.body.length / 2)), status: 401, code: 'MAC_MISMATCH' },
      { what: 'one MAC bit flipped', wire: withHeader(signOn, 'Paypad-Mac', hexWithLastBitFlipped(wireHeader(signOn, 'Paypad-Mac'))), status: 401, code: 'MAC_MISMATCH' },
      { what: 'the next sequence number', wire: withHeader(signOn, 'Paypad-Seq', String(seq + 1)), status: 401, code: 'MAC_MISMATCH' },
      { what: 'a sequence far ahead', wire: withHeader(signOn, 'Paypad-Seq', String(seq + 1_000_000)), status: 401, code: 'MAC_MISMATCH' },
      { what: 'MAK named as the key', wire: withHeader(signOn, 'Paypad-Key', 'MAK'), status: 401, code: 'MAC_MISMATCH' },
      { what: 'the sign-on sent to the TMK route', wire: { ...signOn, path: path('tmk') }, status: 401, code: 'MAC_MISMATCH' },
      { what: 'Paypad-Serial naming another terminal', wire: withHeader(signOn, 'Paypad-Serial', SERIALS.neighbour), status: 400, code: 'PROTOCOL_MALFORMED' },
      {
        what: 'serial and path naming another terminal of this KMS',
        wire: withHeader({ ...signOn, path: signOn.path.replace(SERIALS.recorded, SERIALS.neighbour) }, 'Paypad-Serial', SERIALS.neighbour),
        status: 401,
        code: 'MAC_MISMATCH',
      },
    ];
    for (const attack of attacks) {
      const before = await Promise.all([kmsRowsOf(host.database.db, SERIALS.recorded), kmsRowsOf(host.database.db, SERIALS.neighbour)]);
      const answer = await sendWireRequest(kms.url, caPem, attack.wire);
      expect({ what: attack.what, status: answer.status, code: errorCodeOf(answer.body) }).toEqual({ what: attack.what, status: attack.status, code: attack.code });
      // Only an authentic request (a replay) gets a signed refusal; a forged one cannot be answered under its key.
      expect({ what: attack.what, signed: typeof answer.headers['paypad-mac'] === 'string' }).toEqual({ what: attack.what, signed: attack.code === 'PROTOCOL_REPLAY' });
      const after = await Promise.all([kmsRowsOf(host.database.db, SERIALS.recorded), kmsRowsOf(host.database.db, SERIALS.neighbour)]);
      expect(after, attack.what).toEqual(before);
    }

    // The terminal still works: a new TMK and sign-on, numbered after the recorded ones.
    const again = await terminal.loadKeys();
    const held = (await kmsRowsOf(host.database.db, SERIALS.recorded)).terminals[0];
    expect(held).toMatchObject({ last_seq: seq + 2, tmk_kcv: again.TMK, pik_kcv: again.PIK, mak_kcv: again.MAK, tdk_kcv: again.TDK, dmk_kcv: again.DMK });
    expect(proxy.exchanges.slice(2).map((x) => [x.response.status, Number(wireHeader(x.request, 'Paypad-Seq'))])).toEqual([
      [200, seq + 1],
      [200, seq + 2],
    ]);
    expect((await terminal.status()).stage).toBe('signed-on');
  }, 120_000);
  it('A13 A8: a second device with a live serial is neither enrolled nor onboarded; a new TK of the real terminal needs a repair authorisation; an old envelope replayed after a repair is refused; the KMS keeps the real keys', async () => {
    const kms = host.kms.get(REAL.code)!;
    const real = await manufacture(SERIALS.live, kms.url);
    const first = await onboard(real.link, host.mtms.url, lineOne());
    expect((await outboxRowWhen(outbox, first.deliveryId, (r) => r.state !== 'pending', 'delivered')).state).toBe('delivered');
    const keys = await real.loadKeys();
    const [firstIntake] = await intakesOf('serial', SERIALS.live);
    const held = async () => (await kmsRowsOf(host.database.db, SERIALS.live)).terminals;
    const before = await held();
    expect(before[0]).toMatchObject({ tmk_kcv: keys.TMK, mak_kcv: keys.MAK });
    const audit = () => host.database.db.selectFrom('audit_log').selectAll().where('subject', '=', `terminal:${SERIALS.live}`).execute();

    // A device made with the live serial and the public intake key: the production line cannot enrol it ...
    const clone = await manufacture(SERIALS.live, kms.url, join(root, 'terminals', 'clone'), false);
    const notEnrolled = await runEnrol(clone.link, host.mtms.url, lineOne());
    expect(notEnrolled.code).toBe(1);
    expect(notEnrolled.stderr).toContain('MTMS_DEVICE_ENROLLED');
    // ... and unenrolled it has nothing to sign its TK with: a valid station gets no upload out of it.
    const refused = await runOnboard(clone.link, host.mtms.url, lineOne());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('DEVICE_CERT_INVALID');
    expect(await intakesOf('serial', SERIALS.live)).toHaveLength(1);
    expect(await held()).toEqual(before);

    // The real terminal repaired without an authorisation: its new TK is refused and audited.
    const unauthorised = await paypadResult(['operator', 'repair', '--link', real.link, '--mtms', host.mtms.url, '--cert', lineOne().cert, '--key', lineOne().key, '--ca', lineOne().ca, '--json', '--yes']);
    expect(unauthorised.code).toBe(1);
    expect(unauthorised.stderr).toContain('MTMS_REPAIR_NOT_AUTHORISED');
    expect(unauthorised.stderr).toContain(`paypad mtms repair authorize --serial ${SERIALS.live}`);
    expect(await held()).toEqual(before);
    expect((await auditOf(`terminal:${SERIALS.live}`, 'mtms.tk.refused')).map((e) => e.detail.reason)).toEqual(['MTMS_REPAIR_NOT_AUTHORISED']);

    // The administrator authorises the repair; the terminal's new TK goes through once.
    await admin(['mtms', 'repair', 'authorize', '--serial', SERIALS.live, '--minutes', '10']);
    const repaired = await onboard(real.link, host.mtms.url, lineOne());
    expect((await outboxRowWhen(outbox, repaired.deliveryId, (r) => r.state !== 'pending', 'delivered')).state).toBe('delivered');
    const newKeys = await real.loadKeys();
    const after = await held();
    expect(after[0]).toMatchObject({ tmk_kcv: newKeys.TMK, mak_kcv: newKeys.MAK });

    // The first TK's envelope, as stored at MTMS, sent again by a valid station: no device vouches for it.
    const replay = await mtlsRequest({
      url: `${host.mtms.url}/mtms/v1/tk`,
      identity: await readIdentity(join(root, 'stations', 'line-1')),
      expectPeer: { role: 'mtms' },
      body: { v: 1, serial: SERIALS.live, tkEnvelope: firstIntake.envelope, confirmed: true },
    });
    expect(replay).toMatchObject({ status: 403, json: { error: { code: 'DEVICE_CERT_INVALID' } } });
    expect(await intakesOf('serial', SERIALS.live)).toHaveLength(2);
    expect(await held()).toEqual(after);
    expect((await auditOf(`terminal:${SERIALS.live}`, 'mtms.tk.refused')).map((e) => e.detail.reason)).toEqual(['MTMS_REPAIR_NOT_AUTHORISED', 'DEVICE_CERT_INVALID']);
    expect((await audit()).map((e) => e.action).filter((a) => a.startsWith('mtms.repair.'))).toEqual(['mtms.repair.authorised']);
    expect((await real.status()).stage).toBe('signed-on');
  }, 120_000);

  it('A8: fake PIN pads are refused by MTMS with their typed codes, each audited, and change nothing at the KMS: no device certificate, a certificate of another serial, a revoked certificate, a used or expired nonce, a signature over another envelope', async () => {
    const kms = host.kms.get(REAL.code)!;
    const station = await readIdentity(join(root, 'stations', 'line-1'));
    const post = (path: string, body: unknown) => mtlsRequest({ url: `${host.mtms.url}/mtms/v1/${path}`, identity: station, expectPeer: { role: 'mtms' }, body });
    const challenge = async (serial: string, path = 'tk-challenge') => ((await post(path, { v: 1, serial })).json as { nonce: string }).nonce;

    // The genuine terminal, enrolled and onboarded, its keys loaded.
    const genuine = await manufacture(SERIALS.genuine, kms.url);
    const first = await onboard(genuine.link, host.mtms.url, lineOne());
    expect((await outboxRowWhen(outbox, first.deliveryId, (r) => r.state !== 'pending', 'delivered')).state).toBe('delivered');
    await genuine.loadKeys();

    // A fake pad: its own identity key and TK, made from the public intake key.
    const fake = generateP256KeyPair(systemRng);
    const fakeEnvelope = (serial: string) => toHex(encodeKeyEnvelope(wrapKeyForRecipient(host.mtms.intakePublicKey.publicKey, new Uint8Array(randomBytes(16)), tkTransportContext(serial), systemRng)));
    const fakeSigned = (serial: string, tkEnvelope: string, nonce: string, certificate: string) => ({
      v: 1,
      serial,
      tkEnvelope,
      confirmed: true,
      nonce,
      deviceSignature: toHex(signP256Sha256(fake.privateKey, tkIntakeSignedBytes(serial, fromHex(nonce), fromHex(tkEnvelope)))),
      deviceCertificate: certificate,
    });
    // The fake pad enrolled honestly under spare serials of its own (a registered serial nobody enrolled).
    const enrolFake = async (serial: string) => {
      const nonce = await challenge(serial, 'device-challenge');
      const signature = toHex(signP256Sha256(fake.privateKey, enrolmentSignedBytes(serial, fromHex(nonce), fake.publicKey)));
      const answer = await post('device-certificate', { v: 1, serial, publicKey: toHex(fake.publicKey), nonce, signature });
      expect(answer.status).toBe(200);
      return (answer.json as { certificate: string }).certificate;
    };
    const spareCert = await enrolFake(SERIALS.spare);
    const revokedCert = await enrolFake(SERIALS.revokedDevice);
    const [revokedRecord] = await host.ca.current({ role: 'device', name: SERIALS.revokedDevice }, new Date());
    await admin(['ca', 'revoke', '--serial', revokedRecord.serial, '--reason', 'keyCompromise']);

    // A genuine signature and certificate, taken from the genuine terminal over the local link by a station it trusts.
    const link = await connectTcpLink(parseLinkAddress(genuine.link));
    const genuineNonce = await challenge(SERIALS.genuine);
    let signedByGenuine;
    try {
      signedByGenuine = await link.readTkEnvelope(genuineNonce);
    } finally {
      await link.close();
    }
    const genuineUpload = { v: 1, serial: SERIALS.genuine, tkEnvelope: signedByGenuine.tkEnvelope, confirmed: true, nonce: genuineNonce, deviceSignature: signedByGenuine.signature, deviceCertificate: signedByGenuine.certificate };
    // It is the same TK MTMS has: answered with the first receipt, nothing new queued.
    expect(await post('tk', genuineUpload)).toMatchObject({ status: 200, json: { deliveryId: first.deliveryId } });
    const expiringNonce = await challenge(SERIALS.genuine);
    const expired = await challenge(SERIALS.spare);
    // Five minutes pass for this nonce: its expiry moved into the past.
    await sql`update mtms_tk_challenges set expires_at = ${new Date(Date.now() - 1000).toISOString()} where nonce = ${expired}`.execute(host.database.db);

    const attacks: { what: string; serial: string; body: () => Promise<Record<string, unknown>>; code: string }[] = [
      { what: 'no device certificate', serial: SERIALS.genuine, body: async () => ({ v: 1, serial: SERIALS.genuine, tkEnvelope: fakeEnvelope(SERIALS.genuine), confirmed: true }), code: 'DEVICE_CERT_INVALID' },
      { what: "a genuine device certificate of another serial", serial: SERIALS.genuine, body: async () => fakeSigned(SERIALS.genuine, fakeEnvelope(SERIALS.genuine), await challenge(SERIALS.genuine), spareCert), code: 'DEVICE_CERT_INVALID' },
      { what: 'a revoked device certificate', serial: SERIALS.revokedDevice, body: async () => fakeSigned(SERIALS.revokedDevice, fakeEnvelope(SERIALS.revokedDevice), await challenge(SERIALS.revokedDevice), revokedCert), code: 'DEVICE_CERT_REVOKED' },
      { what: 'the genuine upload again (its nonce used)', serial: SERIALS.genuine, body: async () => genuineUpload, code: 'MTMS_CHALLENGE_INVALID' },
      { what: 'an expired nonce', serial: SERIALS.spare, body: async () => fakeSigned(SERIALS.spare, fakeEnvelope(SERIALS.spare), expired, spareCert), code: 'MTMS_CHALLENGE_INVALID' },
      {
        what: "the genuine device's signature and certificate over a fresh nonce, with the fake's envelope",
        serial: SERIALS.genuine,
        body: async () => ({ ...genuineUpload, tkEnvelope: fakeEnvelope(SERIALS.genuine), nonce: expiringNonce }),
        code: 'DEVICE_SIGNATURE_INVALID',
      },
    ];
    for (const attack of attacks) {
      const before = { kms: await kmsRowsOf(host.database.db, attack.serial), intakes: await intakesOf('serial', attack.serial), deliveries: (await outbox.status({ deadLimit: 0 })).counts };
      const refusals = (await auditOf(`terminal:${attack.serial}`, 'mtms.tk.refused')).length;
      const answer = await post('tk', await attack.body());
      expect({ what: attack.what, status: answer.status, code: (answer.json as { error?: { code?: string } }).error?.code }).toEqual({ what: attack.what, status: 403, code: attack.code });
      const after = { kms: await kmsRowsOf(host.database.db, attack.serial), intakes: await intakesOf('serial', attack.serial), deliveries: (await outbox.status({ deadLimit: 0 })).counts };
      // The one change is MTMS's audit entry of the refusal (kmsRowsOf reads the terminal's audit entries too).
      expect({ ...after, kms: { ...after.kms, audit: [] } }, attack.what).toEqual({ ...before, kms: { ...before.kms, audit: [] } });
      expect(await auditOf(`terminal:${attack.serial}`, 'mtms.tk.refused'), attack.what).toHaveLength(refusals + 1);
      expect((await auditOf(`terminal:${attack.serial}`, 'mtms.tk.refused')).at(-1)?.detail.reason, attack.what).toBe(attack.code);
    }
    // The genuine terminal still works.
    expect((await genuine.status()).stage).toBe('signed-on');
  }, 120_000);

  it("A8: an impostor at the customer's KMS address with our CA's KMS certificate for that customer and its key, but revoked, completes handshakes and receives nothing; the TK stays queued (PEER_CERT_REVOKED)", async () => {
    await expectTkWithheldFrom(revokedImpostor, REVOKED_CERT, /^PEER_CERT_REVOKED: the peer's certificate [0-9A-F]+ \(kms kms-C400\) has been revoked/);
  }, 90_000);

  it('A10: MTMS pins the intake key of a KMS at the first delivery; a changed key gets no TK and is audited until an administrator accepts it with paypad mtms kms-key accept', async () => {
    const [first, second] = await Promise.all(ROTATING.serials.map((serial) => manufacture(serial, rotatingKms.url)));
    const pinnedKcv = rotatingKms.intakeKcv;
    const delivered = await onboard(first.link, host.mtms.url, lineOne());
    expect((await outboxRowWhen(outbox, delivered.deliveryId, (r) => r.state !== 'pending', 'delivered')).state).toBe('delivered');
    expect(rotatingKms.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /kms/v1/intake-key', 'POST /kms/v1/tk']);
    expect(await auditOf(`customer:${ROTATING.code}`, 'mtms.kms-key.')).toEqual([expect.objectContaining({ actor: 'mtms', action: 'mtms.kms-key.pinned', detail: expect.objectContaining({ kcv: pinnedKcv }) })]);

    // The KMS (or whoever holds its certificate now) presents another intake key.
    rotatingKms.rotateIntakeKey();
    const swappedKcv = rotatingKms.intakeKcv;
    const sentBefore = rotatingKms.requests.length;
    const queued = await onboard(second.link, host.mtms.url, lineOne());
    const row = await outboxRowWhen(outbox, queued.deliveryId, (r) => r.state !== 'pending' || (r.attempts >= 2 && r.leaseUntil === undefined), 'two attempts recorded');
    expect(row).toMatchObject({ state: 'pending', destination: ROTATING.code });
    expect(row.lastError).toMatch(new RegExp(`^MTMS_KMS_KEY_CHANGED: the KMS of ${ROTATING.code} presents intake key ${swappedKcv}, not the key ${pinnedKcv}`));
    // Asked for its key on each attempt, and sent nothing else.
    expect(new Set(rotatingKms.requests.slice(sentBefore).map((r) => `${r.method} ${r.path}`))).toEqual(new Set(['GET /kms/v1/intake-key']));
    expect(await auditOf(`customer:${ROTATING.code}`, 'mtms.kms-key.change-refused')).toEqual([
      expect.objectContaining({ actor: 'mtms', detail: expect.objectContaining({ pinnedKcv, offeredKcv: swappedKcv }) }),
    ]);

    const listed = await runPaypad(['mtms', 'kms-key', 'list'], { env });
    expect(listed.stdout).toMatch(new RegExp(`${ROTATING.code}\\s+${pinnedKcv}\\s+\\S+\\s+mtms\\s+${swappedKcv} since`));
    const wrong = await paypadResult(['mtms', 'kms-key', 'accept', '--customer', ROTATING.code, '--kcv', pinnedKcv], env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain(`BAD_ARGUMENT: the KMS of ${ROTATING.code} offered no intake key with check value ${pinnedKcv}`);
    const accepted = await runPaypad(['mtms', 'kms-key', 'accept', '--customer', ROTATING.code, '--kcv', swappedKcv], { env });
    expect(accepted.stdout).toContain(`the intake key ${swappedKcv} of the KMS of ${ROTATING.code} is now pinned`);

    // The queued delivery goes out at its next retry, for the accepted key.
    expect((await outboxRowWhen(outbox, queued.deliveryId, (r) => r.state !== 'pending', 'delivered', 30_000)).state).toBe('delivered');
    expect(rotatingKms.requests.at(-1)).toMatchObject({ method: 'POST', path: '/kms/v1/tk', body: expect.stringContaining(queued.deliveryId) });
    expect((await auditOf(`customer:${ROTATING.code}`, 'mtms.kms-key.')).map((e) => [e.action, e.detail.to ?? e.detail.kcv ?? e.detail.offeredKcv])).toEqual([
      ['mtms.kms-key.pinned', pinnedKcv],
      ['mtms.kms-key.change-refused', swappedKcv],
      ['mtms.kms-key.accepted', swappedKcv],
    ]);
  }, 120_000);

  it('A8: a KMS whose certificate is revoked while it runs stops listening (SERVER_CERT_REVOKED, audited once) and is not started again with it', async () => {
    const kms = host.kms.get(STOPPING.code)!;
    const certSerial = certificateSerialOf(await readIdentity(join(kmsDirectory(dataDir, STOPPING.code), TLS_DIR_NAME)));
    await runPaypad(['ca', 'revoke', '--serial', certSerial, '--reason', 'keyCompromise'], { env });

    const why = await eventually(async () => host.kms.failures().get(STOPPING.code), `the KMS of ${STOPPING.code} stopped`, { timeoutMs: 20_000 });
    expect(why).toMatch(new RegExp(`^SERVER_CERT_REVOKED: the certificate ${certSerial} of KMS ${STOPPING.code} has been revoked`));
    expect(host.kms.get(STOPPING.code)).toBeUndefined();
    await expect(httpsGetJson(`${kms.url}/kms/v1/intake-key`, caPem)).rejects.toThrow(/ECONNREFUSED/);
    expect(log.entries().filter((e) => (e.err as { code?: string } | undefined)?.code === 'SERVER_CERT_REVOKED' && e.customerCode === STOPPING.code)).toHaveLength(1);

    // The fleet tries again at each sync; the certificate is refused at start, and audited only once.
    await host.kms.sync();
    await host.kms.sync();
    expect(host.kms.get(STOPPING.code)).toBeUndefined();
    expect(host.kms.failures().get(STOPPING.code)).toMatch(/^SERVER_CERT_REVOKED: /);
    expect(await auditOf(`certificate:${certSerial}`, 'kms.certificate.')).toEqual([
      expect.objectContaining({ actor: `kms:${STOPPING.code}`, action: 'kms.certificate.revoked', detail: { customerCode: STOPPING.code, when: 'serving' } }),
    ]);
  }, 90_000);
});

/**
 * The terminal's TK envelope, signed over a challenge `identity` asked MTMS for, read over its
 * local link and uploaded straight to MTMS with `identity`; MTMS's refusal of the challenge when it
 * refuses the station.
 */
async function uploadEnvelope(mtmsUrl: string, terminal: RunningTerminal, identity: TlsIdentity) {
  const serial = (await terminal.status()).serial;
  const challenge = await mtlsRequest({ url: `${mtmsUrl}/mtms/v1/tk-challenge`, identity, expectPeer: { role: 'mtms' }, body: { v: 1, serial } });
  if (challenge.status !== 200) return challenge;
  const nonce = (challenge.json as { nonce: string }).nonce;
  const link = await connectTcpLink(parseLinkAddress(terminal.link));
  let envelope;
  try {
    envelope = await link.readTkEnvelope(nonce);
  } finally {
    await link.close();
  }
  const body = { v: 1, serial: envelope.serial, tkEnvelope: envelope.tkEnvelope, confirmed: true, nonce, deviceSignature: envelope.signature, deviceCertificate: envelope.certificate };
  return mtlsRequest({ url: `${mtmsUrl}/mtms/v1/tk`, identity, expectPeer: { role: 'mtms' }, body });
}

function errorCodeOf(body: Buffer): string | undefined {
  try {
    return (JSON.parse(body.toString('utf8')) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}
