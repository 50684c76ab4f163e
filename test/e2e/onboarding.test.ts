/**
 * Issue 3 done-when: System A end to end on loopback with real TLS (docs/onboarding.md,
 * bin/demo/onboardingScenario.ts), against a host this file starts (startHost: CA, MTMS with its
 * outbox, a KMS per customer; SQLite in a temp data directory, or a fresh PostgreSQL schema when
 * DATABASE_URL is set). One host serves both runs:
 *
 *   1. the emulated terminals through the real CLIs (`paypad terminal`, `paypad operator`);
 *   2. the same scenario with the firmware core in the XS engine (X3, support/xsTerminalDriver.ts).
 *
 * In each, terminal 1 is registered for C001 and the operator confirms it; terminal 2 is
 * registered for C001 too but built for C002, so the operator rejects C001 and enters C002 (A6).
 * Then (X1) every key each terminal holds is recovered from its vault and searched for in every
 * output of both runs (support/onboardingX1.ts).
 *
 * The host's HSMs are the software HSM, or, when PAYPAD_E2E_HSM=pkcs11, PKCS#11 HSMs on a SoftHSM2
 * token of this run's own (onboardingPkcs11.test.ts runs this file so).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_NAMES, type OnboardingScenarioResult, runOnboardingScenario } from '../../bin/demo/onboardingScenario';
import type { PaypadTranscript } from '../../bin/demo/paypadProcess';
import type { TerminalDriver } from '../../bin/demo/terminalDriver';
import { createAuditStore } from '../../host/audit/auditStore';
import { loadConfig } from '../../host/config';
import { DEMO_OPERATOR_NAME } from '../../host/demoData';
import type { KmsTables } from '../../host/kms/kmsStore';
import { createLogger, type Logger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { createTestStore, type TestStore } from '../store/helpers/testDatabase';
import { softHsmHostEnv } from '../support/softHsmToken';
import { type HttpCapture, captureHttpServers } from './support/httpCapture';
import { scanTotals } from './support/keyLeakScan';
import { type CompletedRun, scanRunForKeys } from './support/onboardingX1';
import { xsTerminalDriver } from './support/xsTerminalDriver';

const dialect = process.env.DATABASE_URL ? 'postgres' : 'sqlite';
const hsmKind = process.env.PAYPAD_E2E_HSM === 'pkcs11' ? 'pkcs11' : 'software';
// Each run is a dozen CLI processes (or two XS workers) one after another: seconds each on a loaded machine.
const RUN_TIMEOUT_MS = 180_000;

const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-onboarding-'));
const logFile = join(root, 'host.log');
const transcripts: PaypadTranscript[] = [];
const runs: CompletedRun[] = [];
let store: TestStore | undefined;
let logger: Logger;
let http: HttpCapture;
let host: RunningHost;

beforeAll(async () => {
  store = dialect === 'postgres' ? await createTestStore('postgres') : undefined;
  const config = loadConfig({
    PAYPAD_HOST: '127.0.0.1',
    PAYPAD_PORT: '0',
    PAYPAD_MTMS_PORT: '0',
    PAYPAD_KMS_BASE_PORT: '0',
    PAYPAD_DATA_DIR: join(root, 'data'),
    PAYPAD_DEMO_DATA: '1',
    DATABASE_URL: store?.config.dialect === 'postgres' ? store.config.url : '',
    ...(hsmKind === 'pkcs11' ? await softHsmHostEnv() : {}),
  });
  // The most the host logs, to a file as `paypad serve` logs to stdout: all of it goes to the X1 scan.
  logger = createLogger({ level: 'trace', destination: pino.destination({ dest: logFile, sync: true }) });
  http = captureHttpServers();
  host = await startHost(config, { logger });
});

afterAll(async () => {
  await host?.close({ graceMs: 0 });
  http?.stop();
  await store?.destroy();
  rmSync(root, { recursive: true, force: true });
});

async function run(engine: CompletedRun['engine'], terminals?: TerminalDriver): Promise<OnboardingScenarioResult> {
  const workDir = join(root, `terminals-${engine}`);
  const result = await runOnboardingScenario({ host, workDir, ...(terminals ? { terminals } : {}), onPaypadExit: (t) => transcripts.push(t) });
  runs.push({ engine, workDir, result });
  return result;
}

/** The assertions both engines must pass: the right KMS, and the same keys everywhere. */
async function expectOnboarded(result: OnboardingScenarioResult): Promise<void> {
  expect(result.terminals.map((t) => t.problems)).toEqual([[], []]);
  expect(result.ok).toBe(true);
  const [one, two] = result.terminals;
  // A3-A5: shown C001 and confirmed; A6: shown C001, C002 entered, serial re-associated.
  expect(one).toMatchObject({ shownCustomer: 'C001', customerCode: 'C001', customerName: 'Acme Acquiring' });
  expect(one.reassociatedFrom).toBeUndefined();
  expect(two).toMatchObject({ shownCustomer: 'C001', customerCode: 'C002', customerName: 'Borealis Bank', reassociatedFrom: 'C001' });

  const kmsTables = host.database.db.withTables<KmsTables>();
  const kmsPort = (code: string) => Number(new URL(host.kms.get(code)!.url).port);
  for (const t of result.terminals) {
    const other = t.customerCode === 'C001' ? 'C002' : 'C001';
    // A7: the serial's keys exist at its customer's KMS and nowhere else.
    const rows = await kmsTables.selectFrom('kms_terminals').select(['customer_code', 'tk_kcv', 'tmk_kcv', 'pik_kcv', 'mak_kcv', 'tdk_kcv', 'dmk_kcv', 'tk_delivery_id']).where('serial', '=', t.serial).execute();
    expect(rows).toEqual([
      { customer_code: t.customerCode, tk_kcv: t.keys.TK.terminal, tmk_kcv: t.keys.TMK.terminal, pik_kcv: t.keys.PIK.terminal, mak_kcv: t.keys.MAK.terminal, tdk_kcv: t.keys.TDK.terminal, dmk_kcv: t.keys.DMK.terminal, tk_delivery_id: t.deliveryId },
    ]);
    // A7: MTMS's delivery was applied once, by that KMS only.
    const deliveries = await kmsTables.selectFrom('kms_deliveries').select(['customer_code', 'serial', 'outcome']).where('delivery_id', '=', t.deliveryId).execute();
    expect(deliveries).toEqual([{ customer_code: t.customerCode, serial: t.serial, outcome: 'applied' }]);
    // On the wire: the delivery's acknowledgement came from that KMS's listener and not the other's,
    // and every request the terminal signed (TMK download, sign-on) reached that listener only.
    expect(Buffer.from(http.sentBy(kmsPort(t.customerCode))).includes(t.deliveryId)).toBe(true);
    expect(Buffer.from(http.sentBy(kmsPort(other))).includes(t.deliveryId)).toBe(false);
    const signed = http.requests.filter((r) => r.serial === t.serial);
    expect(signed.map((r) => [r.port, r.url])).toEqual([
      [kmsPort(t.customerCode), `/kms/v1/terminals/${t.serial}/tmk`],
      [kmsPort(t.customerCode), `/kms/v1/terminals/${t.serial}/sign-on`],
    ]);

    // A11, A12: terminal and KMS agree on every key; MTMS recorded the TK the terminal made (A5).
    for (const name of KEY_NAMES) {
      const view = t.keys[name];
      expect(view.terminal, `${t.serial} ${name}`).toMatch(/^[0-9A-F]{10}$/);
      expect(view.kms, `${t.serial} ${name} at the KMS`).toBe(view.terminal);
    }
    expect(t.keys.TK.mtms).toBe(t.keys.TK.terminal);
    // Six keys, not one key reported six times.
    expect(new Set(KEY_NAMES.map((name) => t.keys[name].terminal)).size).toBe(KEY_NAMES.length);
  }

  // A14: every lookup is audited with the operator's certificate (and charged to its bucket);
  // A6, A14: the name for the typed code was asked for this serial and audited, as was the move;
  // A7: the TK was installed by the chosen customer's KMS, as its own audit entry says;
  // A8: each terminal was enrolled (its device certificate issued) before anything else.
  const audit = createAuditStore(host.database.db);
  const trail = async (serial: string) => (await audit.listBySubject(`terminal:${serial}`)).map((e) => ({ actor: e.actor, action: e.action, detail: e.detail }));
  const operator = `operator:${DEMO_OPERATOR_NAME}`;
  const lookedUp = { actor: operator, action: 'mtms.serial.looked-up', detail: expect.objectContaining({ found: true, operatorCertSerial: expect.stringMatching(/^[0-9A-F]+$/) }) };
  const enrolled = { actor: operator, action: 'mtms.device.enrolled', detail: expect.objectContaining({ deviceCertSerial: expect.stringMatching(/^[0-9A-F]+$/), publicKeyCheck: expect.stringMatching(/^[0-9A-F]{10}$/) }) };
  expect(await trail(one.serial)).toEqual([
    enrolled,
    lookedUp,
    { actor: operator, action: 'mtms.tk.received', detail: expect.objectContaining({ customerCode: 'C001', deliveryId: one.deliveryId, tkKcv: one.keys.TK.terminal }) },
    { actor: 'kms:C001', action: 'kms.tk.installed', detail: expect.objectContaining({ deliveryId: one.deliveryId, generation: 1, tkKcv: one.keys.TK.terminal }) },
  ]);
  expect(await trail(two.serial)).toEqual([
    enrolled,
    lookedUp,
    { actor: operator, action: 'mtms.customer-name.asked', detail: expect.objectContaining({ customerCode: 'C002', found: true }) },
    { actor: operator, action: 'mtms.serial.reassociated', detail: expect.objectContaining({ from: 'C001', to: 'C002', deliveryId: two.deliveryId }) },
    { actor: operator, action: 'mtms.tk.received', detail: expect.objectContaining({ customerCode: 'C002', deliveryId: two.deliveryId, tkKcv: two.keys.TK.terminal }) },
    { actor: 'kms:C002', action: 'kms.tk.installed', detail: expect.objectContaining({ deliveryId: two.deliveryId, generation: 1, tkKcv: two.keys.TK.terminal }) },
  ]);
}

describe(`issue 3: System A onboarding end to end over real TLS (${dialect}, ${hsmKind} HSM)`, () => {
  it('A2-A7, A11, A12, A14: through the real CLIs, each TK reaches only its customer\'s KMS (one confirmed, one re-associated) and terminal, MTMS and KMS agree on every KCV', async () => {
    await expectOnboarded(await run('node'));
  }, RUN_TIMEOUT_MS);

  it('X3, A2-A7, A11, A12: the same onboarding, TMK download and sign-on with the firmware core in the XS engine', async () => {
    const result = await run('xs', xsTerminalDriver());
    expect(result.terminalDriver).toMatch(/XS engine/);
    await expectOnboarded(result);
  }, RUN_TIMEOUT_MS);

  it('X1, A8, A10: no TK, TMK, PIK, MAK, TDK, DMK, device identity key or K_tkmac of any terminal is in the host log, CLI output, database, data or state files, or HTTP responses', async () => {
    expect(runs.map((r) => r.engine), 'the X1 scan needs both runs above').toEqual(['node', 'xs']);
    const report = await scanRunForKeys({ host, logger, logFile, http, transcripts, runs });
    console.info(report.summary);

    // The keys searched for are the ones the parties agreed on: each slot's KCV is the terminal's.
    const terminals = runs.flatMap((r) => r.result.terminals);
    // ID: the device identity private key (A8), as secret as the others.
    expect(report.keys.map((k) => [k.serial, k.name])).toEqual(terminals.flatMap((t) => [...KEY_NAMES, 'ID', 'K_tkmac'].map((name) => [t.serial, name])));
    for (const key of report.keys) {
      const t = terminals.find((candidate) => candidate.serial === key.serial)!;
      if (key.name !== 'K_tkmac' && key.name !== 'ID') expect(key.kcv, `${key.serial} ${key.name}`).toBe(t.keys[key.name].terminal);
    }

    expect(report.leaks).toEqual([]);

    // Not vacuous: every kind of output was read, every listener's answers and every CLI's output
    // included, and a key planted in the log (each text form) and in a file is found there.
    const totals = Object.fromEntries(Object.entries(scanTotals(report.sources)).map(([kind, t]) => [kind, t.bytes > 0]));
    expect(totals).toEqual({ database: true, log: true, cli: true, http: true, file: true });
    const httpSources = report.sources.filter((s) => s.kind === 'http' && s.bytes.byteLength > 0).map((s) => s.name.replace(/ :\d+$/, ''));
    expect(httpSources).toEqual(expect.arrayContaining(['http MTMS', 'http KMS C001', 'http KMS C002']));
    const onboards = transcripts.filter((t) => t.args[0] === 'operator' && t.args[1] === 'onboard');
    expect(onboards).toHaveLength(4);
    for (const t of terminals) expect(onboards.some((o) => o.stdout.includes(t.deliveryId))).toBe(true);
    expect(report.canaryFound).toEqual(report.canaryPlanted);

    // What was left out is exactly the key material by design: four root keys and, with the
    // software HSM, its three master key files (a PKCS#11 token's master keys never leave it).
    const masterKeyFiles = hsmKind === 'software' ? ['data/kms/C001/lmk.key', 'data/kms/C002/lmk.key', 'data/mtms/lmk.key'] : [];
    expect([...report.keyMaterial].sort()).toEqual(
      [
        ...masterKeyFiles,
        ...runs.flatMap((r) => r.result.terminals.map((t) => `terminals-${r.engine}/terminal-${t.serial}/root.key`)),
      ].sort(),
    );
  }, RUN_TIMEOUT_MS);
});
