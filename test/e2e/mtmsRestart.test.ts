/**
 * A7 through a crash (issue 3): the host (`bin/paypad serve`, a child process) takes a terminal's
 * TK while the customer's KMS cannot run (something else holds the port its record names), so the
 * delivery fails and waits in the outbox. The host is then killed with SIGKILL: no shutdown, no
 * flush. Once the port is free and the host is started again on the same data directory, its
 * fleet starts that KMS and the outbox delivers the TK exactly once: one applied delivery at the
 * KMS, one install in the audit log, one send in the log. The terminal then loads keys whose
 * check values match the KMS's.
 *
 * Every listener is on a port picked up front (the KMS must listen where the record says, and the
 * restarted host where the terminal and CLIs were told). One host at a time on the data
 * directory: the second starts only after the first is gone. PostgreSQL when DATABASE_URL is set
 * (a schema of its own), SQLite otherwise.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPaypad } from '../../bin/demo/paypadProcess';
import { cliTerminalDriver, type RunningTerminal } from '../../bin/demo/terminalDriver';
import { createAuditStore } from '../../host/audit/auditStore';
import { CA_CERT_FILE, caDirectory } from '../../host/ca/caStorage';
import { loadConfig } from '../../host/config';
import { createDatabase, type Database } from '../../host/db/database';
import { createMtmsStore } from '../../host/mtms/mtmsStore';
import { createOutboxStore } from '../../host/outbox/outboxStore';
import { e2eDatabase, type E2eDatabase } from './support/e2eDatabase';
import { type HostProcess, type LogLine, startHostProcess } from './support/hostProcess';
import { deliveriesWithId, kmsRowsOf } from './support/kmsRows';
import { freeLoopbackPorts, httpsGetJson, LOOPBACK, type PortSquatter, squatPort } from './support/loopback';
import { enrol, onboard, outboxRowWhen, stationFiles } from './support/operatorStation';
import { hostEnv } from './support/paypadCli';

const CUSTOMER = { code: 'C700', name: 'Restart Bank' };
const SERIAL = 'PP-A7-0001';

describe('a killed and restarted MTMS delivers a pending TK exactly once (A7)', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-restart-'));
  const dataDir = join(root, 'data');
  let database: E2eDatabase | undefined;
  let squatter: PortSquatter | undefined;
  let terminal: RunningTerminal | undefined;
  let reader: Database | undefined;
  const hosts: HostProcess[] = [];

  afterAll(async () => {
    await terminal?.stop();
    await Promise.allSettled(hosts.map((h) => h.stop('SIGKILL')));
    await squatter?.close();
    await reader?.close();
    await database?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  it('A7: a TK queued while its KMS is unreachable survives SIGKILL of the host and reaches the KMS once after the restart; the terminal then loads keys matching the KMS', async () => {
    database = await e2eDatabase();
    const env = hostEnv(dataDir, database.databaseUrl);
    const [httpPort, mtmsPort, kmsPort] = await freeLoopbackPorts(3);
    const kmsUrl = `https://${LOOPBACK}:${kmsPort}`;
    const mtmsUrl = `https://${LOOPBACK}:${mtmsPort}`;
    const serveEnv = {
      ...env,
      PAYPAD_HOST: LOOPBACK,
      PAYPAD_PORT: String(httpPort),
      PAYPAD_MTMS_PORT: String(mtmsPort),
      // Not 0: the customer's KMS listens on the port its record names (host/kmsFleet.ts).
      PAYPAD_KMS_BASE_PORT: String(kmsPort),
      PAYPAD_DEMO_DATA: '0',
      LOG_LEVEL: 'info',
    };
    const serve = () => {
      const host = startHostProcess(serveEnv);
      hosts.push(host);
      return host;
    };
    // The test reads the host's tables through a connection of its own, as the admin CLIs do.
    reader = createDatabase(loadConfig(env).database);
    const outbox = createOutboxStore(reader.db, reader.dialect);

    // The KMS's port is taken before the host starts: its fleet cannot run that KMS.
    squatter = await squatPort(kmsPort);
    const first = serve();
    await first.waitForLog((l) => l.msg === 'paypad host ready', 'paypad host ready');
    await runPaypad(['ca', 'issue', '--role', 'operator', '--name', 'restart station', '--out', join(root, 'station')], { env });
    await runPaypad(['mtms', 'customer', 'add', '--code', CUSTOMER.code, '--name', CUSTOMER.name, '--kms-url', kmsUrl], { env });
    await runPaypad(['mtms', 'serial', 'add', '--serial', SERIAL, '--customer', CUSTOMER.code], { env });
    await first.waitForLog((l) => l.customerCode === CUSTOMER.code && /did not start/.test(l.msg) && /EADDRINUSE/.test(JSON.stringify(l.err)), `the KMS of ${CUSTOMER.code} did not start`);

    // Manufacture and onboard the terminal against the first host.
    const caFile = join(caDirectory(dataDir), CA_CERT_FILE);
    const caPem = readFileSync(caFile, 'utf8');
    const intakeKey = (await httpsGetJson(`${mtmsUrl}/mtms/v1/intake-key`, caPem)).json as { publicKey: string };
    const mtmsKeyFile = join(root, 'mtms-intake-key.hex');
    writeFileSync(mtmsKeyFile, `${intakeKey.publicKey}\n`);
    terminal = await cliTerminalDriver().start({ stateDir: join(root, 'terminal'), serial: SERIAL, kmsUrl, mtmsKeyFile, mtmsPublicKeyHex: intakeKey.publicKey, caFile, caPem });
    await enrol(terminal.link, mtmsUrl, stationFiles(join(root, 'station')));
    const receipt = await onboard(terminal.link, mtmsUrl, stationFiles(join(root, 'station')));
    expect(receipt).toMatchObject({ serial: SERIAL, customerCode: CUSTOMER.code });
    // The KMS logs the delivery id as deliveryId, MTMS's outbox as its row's idempotencyKey.
    const about = (l: LogLine) => l.deliveryId === receipt.deliveryId || l.idempotencyKey === receipt.deliveryId;
    const intake = await createMtmsStore(reader.db, reader.dialect).latestIntake(SERIAL);
    expect(intake?.deliveryId).toBe(receipt.deliveryId);

    // A failed attempt is recorded and the next one is most of a second away (backoff 1-2 s after
    // the first, 2-4 s after the second): kill now, between attempts, so no send is in flight. (A
    // lease held by the dead host keeps the row for a minute: another test, test/store/outbox.)
    const pending = await outboxRowWhen(
      outbox,
      receipt.deliveryId,
      (r) => r.state !== 'pending' || (r.attempts >= 1 && r.leaseUntil === undefined && r.nextAttemptAt.getTime() - Date.now() > 800),
      'a failed attempt recorded, the next one not yet due',
    );
    expect(pending).toMatchObject({ state: 'pending', destination: CUSTOMER.code });
    expect(pending.lastError).toMatch(/^HTTP_FAILED: .*ECONNRESET/);
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(squatter.connections).toBe(pending.attempts);
    expect(first.logs.filter((l) => l.msg === 'TK delivery')).toEqual([]);
    expect(first.logs.filter((l) => about(l) && l.msg === 'outbox attempt failed; will retry').length).toBeGreaterThanOrEqual(1);
    expect(await deliveriesWithId(reader.db, receipt.deliveryId)).toEqual([]);

    // The dead host's row is intact; the port is freed and a new host starts on the same directory.
    const afterCrash = await outbox.byKey(receipt.deliveryId);
    expect(afterCrash).toMatchObject({ state: 'pending', attempts: pending.attempts, lastError: pending.lastError });
    await squatter.close();
    squatter = undefined;
    const second = serve();
    const ready = await second.waitForLog((l) => l.msg === 'paypad host ready', 'paypad host ready');
    expect((ready.listeners as { kms: Record<string, string> }).kms).toEqual({ [CUSTOMER.code]: kmsUrl });

    const delivered = await outboxRowWhen(outbox, receipt.deliveryId, (r) => r.state !== 'pending', 'delivered after the restart', 30_000);
    expect(delivered).toMatchObject({ state: 'delivered', attempts: pending.attempts + 1 });
    expect(await deliveriesWithId(reader.db, receipt.deliveryId)).toEqual([expect.objectContaining({ customer_code: CUSTOMER.code, serial: SERIAL, outcome: 'applied', intake_sequence: intake!.id })]);
    const audit = await createAuditStore(reader.db).listBySubject(`terminal:${SERIAL}`);
    expect(audit.filter((e) => e.action.startsWith('kms.tk.')).map((e) => [e.action, e.detail.deliveryId])).toEqual([['kms.tk.installed', receipt.deliveryId]]);
    // Sent once: the KMS logged one TK delivery, MTMS one delivered message, nothing else for it.
    // The worker logs after it recorded the outcome: wait for the line, then count.
    await second.waitForLog((l) => about(l) && l.msg === 'outbox message delivered', 'outbox message delivered');
    expect(second.logs.filter((l) => about(l) && l.msg === 'TK delivery').map((l) => l.outcome)).toEqual(['applied']);
    expect(second.logs.filter((l) => about(l) && /^outbox /.test(l.msg)).map((l) => l.msg)).toEqual(['outbox message delivered']);

    // The terminal loads its keys from the KMS the restarted host runs; every party agrees.
    const loaded = await terminal.loadKeys();
    const status = await terminal.status();
    const tkSlot = status.slots.find((s) => s.slot === 'TK');
    const [held] = (await kmsRowsOf(reader.db, SERIAL)).terminals;
    expect(held).toMatchObject({ customer_code: CUSTOMER.code, generation: 1, tk_delivery_id: receipt.deliveryId, tk_kcv: intake!.tkKcv });
    expect(tkSlot && 'kcv' in tkSlot ? tkSlot.kcv : undefined).toBe(intake!.tkKcv);
    expect(loaded).toEqual({ TMK: held.tmk_kcv, PIK: held.pik_kcv, MAK: held.mak_kcv, TDK: held.tdk_kcv, DMK: held.dmk_kcv });
    expect(status.stage).toBe('signed-on');

    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 120_000);
});
