/**
 * Server certificates and KMS intake keys over loopback with real TLS (SPEC A8, A10). The real
 * host runs in this process (startHost); terminals, the operating terminal and the admin CLIs run
 * as child processes, as in attacks.test.ts.
 *
 *   A8  An impostor at a customer's KMS address holding a KMS certificate of our CA for that very
 *       customer, and its key, but revoked: MTMS completes the handshake, finds the certificate
 *       revoked in the CA's register and sends nothing. The TK stays queued (PEER_CERT_REVOKED).
 *   A8  A KMS whose own certificate is revoked while it runs stops listening, says why
 *       (SERVER_CERT_REVOKED), audits it once, and is not started again with that certificate.
 *   A10 MTMS pins a KMS's intake key at the first delivery; a KMS presenting another key later
 *       gets no TK (MTMS_KMS_KEY_CHANGED, audited) until an administrator accepts the new key
 *       with `paypad mtms kms-key accept`, after which the queued delivery goes out.
 *
 * PostgreSQL when DATABASE_URL is set (a schema of its own), SQLite otherwise.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPaypad } from '../../bin/demo/paypadProcess';
import { cliTerminalDriver, type RunningTerminal } from '../../bin/demo/terminalDriver';
import { toHex } from '../../shared/bytes';
import { createAuditStore } from '../../host/audit/auditStore';
import { CA_CERT_FILE, caDirectory } from '../../host/ca/caStorage';
import { loadConfig } from '../../host/config';
import { kmsDirectory } from '../../host/kms/kmsInstance';
import { createOutboxStore, type OutboxStore } from '../../host/outbox/outboxStore';
import { type RunningHost, startHost } from '../../host/server';
import { readIdentity, writeIdentity } from '../../host/tls/identity';
import { TLS_DIR_NAME } from '../../host/tls/serverIdentity';
import { certificateSerialOf } from '../../host/tls/servingCertificate';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { e2eDatabase, type E2eDatabase } from './support/e2eDatabase';
import { type ImpostorKms, startImpostorKms } from './support/impostorKms';
import { deliveriesWithId, kmsRowsOf } from './support/kmsRows';
import { eventually, freeLoopbackPorts, httpsGetJson, LOOPBACK } from './support/loopback';
import { onboard, outboxRowWhen, stationFiles } from './support/operatorStation';
import { hostEnv, paypadResult } from './support/paypadCli';

const REAL = { code: 'C100', name: 'Real Acquiring', serial: 'PP-A8-1001' };
const REVOKED = { code: 'C400', name: 'Revoked Bank', serial: 'PP-A8-4001' };
const ROTATING = { code: 'C500', name: 'Rotating Bank', serials: ['PP-A10-5001', 'PP-A10-5002'] };
const ADMIN = 'admin:server-certificates-test';

describe('server certificates and KMS intake keys over loopback (A8, A10)', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-servers-'));
  const dataDir = join(root, 'data');
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
  let revokedImpostor: ImpostorKms;
  let rotatingKms: ImpostorKms;

  const manufacture = async (serial: string, kmsUrl: string): Promise<RunningTerminal> => {
    const terminal = await cliTerminalDriver().start({ stateDir: join(root, 'terminals', serial), serial, kmsUrl, mtmsKeyFile, mtmsPublicKeyHex: toHex(host.mtms.intakePublicKey.publicKey), caFile, caPem });
    terminals.push(terminal);
    return terminal;
  };
  const lineOne = () => stationFiles(join(root, 'stations', 'line-1'));
  const auditOf = async (subject: string, prefix: string) => (await createAuditStore(host.database.db).listBySubject(subject)).filter((e) => e.action.startsWith(prefix));

  beforeAll(async () => {
    database = await e2eDatabase();
    env = hostEnv(dataDir, database.databaseUrl);
    const [kmsPort, revokedPort, rotatingPort] = await freeLoopbackPorts(3);
    const config = loadConfig({ ...env, PAYPAD_HOST: LOOPBACK, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: String(kmsPort), PAYPAD_DEMO_DATA: '0' });
    host = await startHost(config, { logger: log.logger });
    outbox = createOutboxStore(host.database.db, host.database.dialect);
    caFile = join(caDirectory(dataDir), CA_CERT_FILE);
    caPem = readFileSync(caFile, 'utf8');
    mtmsKeyFile = join(root, 'mtms-intake-key.hex');
    writeFileSync(mtmsKeyFile, `${toHex(host.mtms.intakePublicKey.publicKey)}\n`);
    const station = join(root, 'stations', 'line-1');
    mkdirSync(station, { recursive: true, mode: 0o700 });
    await writeIdentity(station, await host.ca.issue({ subject: { role: 'operator', name: 'line 1 station' } }));

    // Our CA's certificate for C400's KMS, key and all, then revoked (say the key leaked).
    const leaked = await host.ca.issue({ subject: { role: 'kms', name: `kms-${REVOKED.code}`, customerCode: REVOKED.code }, hosts: [LOOPBACK] });
    await host.ca.revoke(leaked.record.serial, 'keyCompromise');
    revokedImpostor = await startImpostorKms({ identity: { certPem: leaked.certPem, keyPem: leaked.keyPem! }, customerCode: REVOKED.code, port: revokedPort });
    closers.push(() => revokedImpostor.close());
    // C500's KMS runs elsewhere, with a good certificate: a stand-in that can change its intake key.
    const good = await host.ca.issue({ subject: { role: 'kms', name: `kms-${ROTATING.code}`, customerCode: ROTATING.code }, hosts: [LOOPBACK] });
    rotatingKms = await startImpostorKms({ identity: { certPem: good.certPem, keyPem: good.keyPem! }, customerCode: ROTATING.code, port: rotatingPort });
    closers.push(() => rotatingKms.close());

    const registry = host.mtms.store;
    await registry.addCustomer({ code: REAL.code, name: REAL.name, kmsUrl: `https://${LOOPBACK}:${kmsPort}` }, ADMIN);
    await registry.addCustomer({ code: REVOKED.code, name: REVOKED.name, kmsUrl: revokedImpostor.url }, ADMIN);
    await registry.addCustomer({ code: ROTATING.code, name: ROTATING.name, kmsUrl: rotatingKms.url }, ADMIN);
    await registry.addSerials([REAL.serial], REAL.code, ADMIN);
    await registry.addSerials([REVOKED.serial], REVOKED.code, ADMIN);
    await registry.addSerials(ROTATING.serials, ROTATING.code, ADMIN);
    await host.kms.sync();
    expect(host.kms.get(REAL.code)?.url).toBe(`https://${LOOPBACK}:${kmsPort}`);
  });

  afterAll(async () => {
    await Promise.allSettled(terminals.map((t) => t.stop()));
    await host?.close({ graceMs: 0 });
    await Promise.allSettled(closers.map((close) => close()));
    await database?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  it("A8: an impostor at the customer's KMS address with our CA's KMS certificate for that customer, revoked, completes handshakes and receives nothing; the TK stays queued with PEER_CERT_REVOKED", async () => {
    const terminal = await manufacture(REVOKED.serial, revokedImpostor.url);
    const receipt = await onboard(terminal.link, host.mtms.url, lineOne());
    expect(receipt).toMatchObject({ serial: REVOKED.serial, customerCode: REVOKED.code });
    const row = await outboxRowWhen(outbox, receipt.deliveryId, (r) => r.state !== 'pending' || (r.attempts >= 2 && r.leaseUntil === undefined), 'two attempts recorded');
    expect(row).toMatchObject({ state: 'pending', destination: REVOKED.code });
    expect(row.lastError).toMatch(/^PEER_CERT_REVOKED: the peer's certificate [0-9A-F]+ \(kms kms-C400\) has been revoked/);
    // The certificate passes the handshake (the error names it): only the register says no, before a byte is sent.
    expect(revokedImpostor.connections).toBeGreaterThanOrEqual(2);
    expect(revokedImpostor.requests).toEqual([]);
    expect(await deliveriesWithId(host.database.db, receipt.deliveryId)).toEqual([]);
    expect((await kmsRowsOf(host.database.db, REVOKED.serial)).terminals).toEqual([]);
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
    const kms = host.kms.get(REAL.code)!;
    const certSerial = certificateSerialOf(await readIdentity(join(kmsDirectory(dataDir, REAL.code), TLS_DIR_NAME)));
    await runPaypad(['ca', 'revoke', '--serial', certSerial, '--reason', 'keyCompromise'], { env });

    const why = await eventually(async () => host.kms.failures().get(REAL.code), `the KMS of ${REAL.code} stopped`, { timeoutMs: 20_000 });
    expect(why).toMatch(new RegExp(`^SERVER_CERT_REVOKED: the certificate ${certSerial} of KMS ${REAL.code} has been revoked`));
    expect(host.kms.get(REAL.code)).toBeUndefined();
    await expect(httpsGetJson(`${kms.url}/kms/v1/intake-key`, caPem)).rejects.toThrow(/ECONNREFUSED/);
    expect(log.entries().filter((e) => (e.err as { code?: string } | undefined)?.code === 'SERVER_CERT_REVOKED' && e.customerCode === REAL.code)).toHaveLength(1);

    // The fleet tries again at each sync; the certificate is refused at start, and audited only once.
    await host.kms.sync();
    await host.kms.sync();
    expect(host.kms.get(REAL.code)).toBeUndefined();
    expect(host.kms.failures().get(REAL.code)).toMatch(/^SERVER_CERT_REVOKED: /);
    expect(await auditOf(`certificate:${certSerial}`, 'kms.certificate.')).toEqual([
      expect.objectContaining({ actor: `kms:${REAL.code}`, action: 'kms.certificate.revoked', detail: { customerCode: REAL.code, when: 'serving' } }),
    ]);
  }, 90_000);
});
