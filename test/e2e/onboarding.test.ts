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
 * Then terminal 1 of the first run loads its keys a second time (a new TMK, new working keys) and
 * is repaired (A13: an administrator's repair authorisation, a new TK to the same KMS, keys loaded
 * again); the keys it held before each step are recorded from its vault as they are replaced.
 * Last (X1), every key each terminal holds, and every key replaced before, is searched for in
 * every output of the runs (support/onboardingX1.ts).
 *
 * The host's HSMs are the software HSM, or, when PAYPAD_E2E_HSM=pkcs11, PKCS#11 HSMs on a SoftHSM2
 * token of this run's own (onboardingPkcs11.test.ts runs this file so).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseEnv, KEY_NAMES, type OnboardingScenarioResult, operatorFlags, runOnboardingScenario, waitForDelivery } from '../../bin/demo/onboardingScenario';
import { type PaypadTranscript, runPaypad, runPaypadJson, startPaypad } from '../../bin/demo/paypadProcess';
import type { TerminalStatus } from '../../firmware/core/terminal';
import type { TerminalDriver } from '../../bin/demo/terminalDriver';
import { createAuditStore } from '../../host/audit/auditStore';
import { loadConfig } from '../../host/config';
import { DEMO_OPERATOR_NAME } from '../../host/demoData';
import { createKmsStore, type KmsTables } from '../../host/kms/kmsStore';
import { createLogger, type Logger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { createTestStore, type TestStore } from '../store/helpers/testDatabase';
import { softHsmHostEnv } from '../support/softHsmToken';
import { type HttpCapture, captureHttpServers } from './support/httpCapture';
import { findKeys, scanTotals } from './support/keyLeakScan';
import { type CompletedRun, scanRunForKeys } from './support/onboardingX1';
import { keysReplacedBy, type ReplacedKey } from './support/vaultKeys';
import { xsTerminalDriver } from './support/xsTerminalDriver';

const dialect = process.env.DATABASE_URL ? 'postgres' : 'sqlite';
const hsmKind = process.env.PAYPAD_E2E_HSM === 'pkcs11' ? 'pkcs11' : 'software';
// Each run is a dozen CLI processes (or two XS workers) one after another: seconds each on a loaded machine.
const RUN_TIMEOUT_MS = 180_000;

const root = mkdtempSync(join(tmpdir(), 'paypad-e2e-onboarding-'));
const logFile = join(root, 'host.log');
const transcripts: PaypadTranscript[] = [];
const runs: CompletedRun[] = [];
/** Keys terminal 1 held before its second download and before its repair (X1 scans for them too). */
const replaced: ReplacedKey[] = [];
/** The repaired terminal's slot KCVs after it loaded its keys again. */
const kcvAfterRepair = new Map<string, Record<string, string>>();
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
  // The enrolment challenge is charged to the station's lookup bucket like a lookup (A14).
  const challenged = { actor: operator, action: 'mtms.device.challenged', detail: expect.objectContaining({ found: true }) };
  const enrolled = { actor: operator, action: 'mtms.device.enrolled', detail: expect.objectContaining({ deviceCertSerial: expect.stringMatching(/^[0-9A-F]+$/), publicKeyCheck: expect.stringMatching(/^[0-9A-F]{10}$/) }) };
  expect(await trail(one.serial)).toEqual([
    challenged,
    enrolled,
    lookedUp,
    { actor: operator, action: 'mtms.tk.received', detail: expect.objectContaining({ customerCode: 'C001', deliveryId: one.deliveryId, tkKcv: one.keys.TK.terminal }) },
    { actor: 'kms:C001', action: 'kms.tk.installed', detail: expect.objectContaining({ deliveryId: one.deliveryId, generation: 1, tkKcv: one.keys.TK.terminal }) },
  ]);
  expect(await trail(two.serial)).toEqual([
    challenged,
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

  it('A13, A11, A12: a terminal loads its keys again, then is repaired (authorised by an administrator) and loads keys under its new TK; the keys it held before each are recorded as they are replaced', async () => {
    expect(runs.map((r) => r.engine), 'the repair needs the first run above').toContain('node');
    const [one] = runs[0].result.terminals;
    const stateDir = ['--state-dir', one.stateDir];
    const commands = { onExit: (t: PaypadTranscript) => transcripts.push(t) };
    const loadKeys = async () => (await runPaypadJson<{ kcv: Record<string, string> }>(['terminal', 'load-keys', ...stateDir], commands)).kcv;

    // A11, A12 again: a new TMK under the same TK, new working keys under it.
    replaced.push(...(await keysReplacedBy(one.stateDir, one.serial, 'before the second TMK download', async () => void (await loadKeys()))));
    expect(replaced.map((k) => k.name)).toEqual(['TMK', 'PIK', 'MAK', 'TDK', 'DMK']);
    // What was recorded is what the terminal reported at its first load.
    for (const k of replaced) expect(k.kcv, k.name).toBe(one.keys[k.name as keyof typeof one.keys].terminal);

    // A13: the administrator opens a repair authorisation; the operator repairs; the new TK reaches the same KMS.
    let repairedDelivery = '';
    const beforeRepair = await keysReplacedBy(one.stateDir, one.serial, 'before the repair', async () => {
      await runPaypad(['mtms', 'repair', 'authorize', '--serial', one.serial], { ...commands, env: databaseEnv(host) });
      const link = await startPaypad(['terminal', 'run', ...stateDir], /local link on (\S+:\d+)/, commands);
      try {
        const repaired = await runPaypadJson<{ serial: string; customerCode: string; deliveryId: string; repaired: boolean }>(['operator', 'repair', '--link', link.ready[1], ...operatorFlags(host), '--yes'], commands);
        expect(repaired).toMatchObject({ serial: one.serial, customerCode: one.customerCode, repaired: true });
        repairedDelivery = repaired.deliveryId;
      } finally {
        await link.stop();
      }
      await waitForDelivery(host, repairedDelivery);
      await loadKeys();
    });
    expect(beforeRepair.map((k) => k.name)).toEqual(['TK', 'TMK', 'PIK', 'MAK', 'TDK', 'DMK', 'K_tkmac']);
    replaced.push(...beforeRepair);

    // The terminal and its KMS agree on the new keys; none of them is one it held before.
    const status = await runPaypadJson<TerminalStatus>(['terminal', 'status', ...stateDir], commands);
    expect(status.stage).toBe('signed-on');
    const kcvNow = Object.fromEntries(status.slots.flatMap((slot) => ('kcv' in slot ? [[slot.slot, slot.kcv]] : [])));
    const atKms = await createKmsStore(host.database.db).terminal(one.customerCode, one.serial);
    expect(atKms?.tkDeliveryId).toBe(repairedDelivery);
    expect([atKms?.tk.kcv, atKms?.tmk?.kcv, atKms?.workingKeys?.MAK.kcv]).toEqual([kcvNow.TK, kcvNow.TMK, kcvNow.MAK]);
    expect(replaced.filter((k) => Object.values(kcvNow).includes(k.kcv))).toEqual([]);
    kcvAfterRepair.set(one.serial, kcvNow);
  }, RUN_TIMEOUT_MS);

  it('X1, A8, A10: no TK, TMK, PIK, MAK, TDK, DMK, device identity key or K_tkmac of any terminal, held now or replaced by a repair or a second download, is in the host log, CLI output, database, data or state files, or HTTP responses', async () => {
    expect(runs.map((r) => r.engine), 'the X1 scan needs both runs above').toEqual(['node', 'xs']);
    const report = await scanRunForKeys({ host, logger, logFile, http, transcripts, runs });
    console.info(report.summary);

    // The keys terminal 1 held before its second download and its repair, in the very same outputs.
    expect(replaced.length, 'the X1 scan needs the repair above').toBe(12);
    const replacedLeaks = findKeys(replaced.map((k) => ({ label: `${k.serial} ${k.name} (${k.replacedBy})`, key: k.key })), report.sources);
    for (const k of replaced) k.key.fill(0);
    console.info(`  and ${replaced.length} keys replaced before: ${replaced.map((k) => `${k.name} ${k.replacedBy}`).join(', ')}; hits: ${replacedLeaks.length}`);
    expect(replacedLeaks).toEqual([]);

    // The keys searched for are the ones the parties agreed on: each slot's KCV is the terminal's.
    const terminals = runs.flatMap((r) => r.result.terminals);
    // ID: the device identity private key (A8), as secret as the others.
    expect(report.keys.map((k) => [k.serial, k.name])).toEqual(terminals.flatMap((t) => [...KEY_NAMES, 'ID', 'K_tkmac'].map((name) => [t.serial, name])));
    for (const key of report.keys) {
      const t = terminals.find((candidate) => candidate.serial === key.serial)!;
      if (key.name !== 'K_tkmac' && key.name !== 'ID') expect(key.kcv, `${key.serial} ${key.name}`).toBe(kcvAfterRepair.get(key.serial)?.[key.name] ?? t.keys[key.name].terminal);
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
    // software HSM, the master key file of each role with an HSM (a PKCS#11 token's master keys
    // never leave it).
    const masterKeyFiles =
      hsmKind === 'software' ? ['data/kms/C001/lmk.key', 'data/kms/C002/lmk.key', 'data/mtms/lmk.key', 'data/bill-platform/lmk.key', 'data/gateway/lmk.key'] : [];
    expect([...report.keyMaterial].sort()).toEqual(
      [
        ...masterKeyFiles,
        ...runs.flatMap((r) => r.result.terminals.map((t) => `terminals-${r.engine}/terminal-${t.serial}/root.key`)),
      ].sort(),
    );
  }, RUN_TIMEOUT_MS);
});
