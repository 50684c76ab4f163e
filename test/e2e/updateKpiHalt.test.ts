/**
 * B4's rollout rule on payment results, end to end on the host `paypad serve` runs (host/server
 * startHost: every KMS with POSP and the TMS beside it, the simulated acquirer and bank, the demo
 * payees): four emulated terminals of C001 run the firmware's own update code
 * (bin/demo/updateScenario's terminals); `paypad tms` signs a package and deploys it in two phases
 * (50%, then 100%). The first phase's two terminals install it and restart into it; then all four
 * pay the same demo payee through POSP, the new version's payments declined by the simulated bank
 * (insufficient funds) and the old version's approved. `paypad tms status --deployment` halts the
 * deployment on the payment comparison (in phase 2, which started once phase 1's terminals had all
 * confirmed), a terminal of the second phase is then offered nothing, and the
 * TMS's per-terminal status and inventory show what the terminals did. SQLite, or PostgreSQL when
 * DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../shared/bytes';
import { generateP256KeyPair } from '../../shared/crypto/keyTransport';
import { Terminal } from '../../firmware/core/terminal';
import { openNodeDevice } from '../../firmware/hal/node/nodeDevice';
import { createNodeRng } from '../../firmware/hal/node/rng';
import { databaseEnv } from '../../bin/demo/onboardingScenario';
import { runPaypad } from '../../bin/demo/paypadProcess';
import { bootUpdateTerminal, DEMO_PAYEE, FACTORY_VERSION, manufactureUpdateTerminal, NEW_VERSION, UPDATE_MODEL, UPDATE_PROGRAM } from '../../bin/demo/updateScenario';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { createTms } from '../../host/tms/tms';
import { type E2eDatabase, e2eDatabase } from './support/e2eDatabase';
import { payWithTestCard, type TestCardName } from './support/testCardPayment';

/** Sorted by serial, the first two make the 50% phase. */
const SERIALS = ['PP-KPI-0001', 'PP-KPI-0002', 'PP-KPI-0003', 'PP-KPI-0004'] as const;
const PAYMENTS_EACH = 2;

let root: string;
let database: E2eDatabase;
let host: RunningHost;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'paypad-e2e-kpi-'));
  database = await e2eDatabase();
  const config = loadConfig(
    { PAYPAD_HOST: '127.0.0.1', PAYPAD_DATA_DIR: join(root, 'data'), PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1', DATABASE_URL: database.databaseUrl },
    process.cwd(),
  );
  host = await startHost(config, { logger: createLogger({ level: 'silent' }) });
}, 60_000);

afterAll(async () => {
  await host?.close({ graceMs: 0 });
  await database?.destroy();
  rmSync(root, { recursive: true, force: true });
});

describe('rollout halted by payment results through paypad serve (B4)', () => {
  it('B4: the new version declines at the same merchant while the old one is approved: the deployment halts on the payment comparison and the second phase is offered nothing', async () => {
    const env = { env: databaseEnv(host) };
    const workDir = join(root, 'work');
    mkdirSync(workDir, { recursive: true });
    const mtms = generateP256KeyPair(createNodeRng());
    const stateDirs: string[] = [];
    for (const [i, serial] of SERIALS.entries()) stateDirs.push(await manufactureUpdateTerminal({ host, workDir, serial, intakeSequence: i + 1, mtms }));

    // The vendor signs 1.1.0; the operator deploys it in two phases, comparing payments from 4 per version on.
    const vendorDir = join(workDir, 'vendor');
    await runPaypad(['tms', 'vendor-key', '--name', 'Paypad KPI Vendor', '--out', vendorDir], env);
    const vendorKey = fromHex(readFileSync(join(vendorDir, 'vendor.pub'), 'utf8').trim());
    const imageFile = join(workDir, `${UPDATE_PROGRAM}-${NEW_VERSION}.bin`);
    writeFileSync(imageFile, randomBytes(3 * 8192 + 11));
    const packaged = (await runPaypad(['tms', 'package', '--image', imageFile, '--name', UPDATE_PROGRAM, '--version', NEW_VERSION, '--models', UPDATE_MODEL, '--minimum-version', FACTORY_VERSION, '--security-counter', '1', '--vendor-key', vendorDir], env)).stdout;
    const packageId = /^package (\d+):/.exec(packaged)?.[1];
    expect(packageId).toBeDefined();
    const deployed = (
      await runPaypad(['tms', 'deploy', '--package', String(packageId), '--serials', SERIALS.join(','), '--phases', '50,100', '--failure-threshold', '0', '--kpi-points', '10', '--kpi-min-transactions', String(2 * PAYMENTS_EACH), '--mode', 'attempt'], env)
    ).stdout;
    const deploymentId = Number(/^deployment (\d+):/.exec(deployed)?.[1]);
    expect(deploymentId).toBeGreaterThan(0);

    // Every terminal starts its factory program and checks: the first phase installs, the second is offered nothing yet.
    const started = stateDirs.map((dir) => bootUpdateTerminal(dir, vendorKey));
    for (const t of started) await t.client.start();
    const checks = [];
    for (const t of started) checks.push((await t.client.check('manual')).outcome);
    expect(checks).toEqual(['installed', 'installed', 'none', 'none']);
    expect(started.map((t) => t.restarts.n)).toEqual([1, 1, 0, 0]);

    // The first phase restarts into 1.1.0, which confirms itself and reports its version.
    for (const dir of stateDirs.slice(0, 2)) {
      const next = bootUpdateTerminal(dir, vendorKey);
      await next.client.start();
      expect(next.updater.currentVersion).toBe(NEW_VERSION);
    }

    // All four pay the same demo payee (one merchant: C001's) through POSP. The payment
    // application runs apart from the update client here, as `paypad terminal pay` does.
    const pay = async (dir: string, card: TestCardName) => {
      const codes: string[] = [];
      const terminal = Terminal.open(openNodeDevice(dir));
      for (let i = 0; i < PAYMENTS_EACH; i++) codes.push((await payWithTestCard(terminal, DEMO_PAYEE, card, 1_000)).responseCode);
      return codes;
    };
    for (const dir of stateDirs.slice(0, 2)) expect(await pay(dir, 'insufficientFunds')).toEqual(['51', '51']);
    for (const dir of stateDirs.slice(2)) expect(await pay(dir, 'unionPay')).toEqual(['00', '00']);

    // The operator looks: the status command evaluates the deployment and halts it on the comparison.
    // Phase 1 gave way to phase 2 as soon as both its terminals had confirmed (a phase gives way
    // once every terminal in it ended), so the comparison counts from phase 2's start and halts
    // phase 2, before its terminals checked again and installed.
    const status = (await runPaypad(['tms', 'status', '--deployment', String(deploymentId)], env)).stdout.trim();
    const [head, ...rows] = status.split('\n');
    expect(head).toMatch(new RegExp(`^deployment ${deploymentId}: package ${packageId}, attempt, halted, phase 2 of 2 \\(halted: phase 2: payment results: decline rate of 1\\.1\\.0 is 100\\.0% against 0\\.0% for older versions at the same merchants`));
    expect(rows.slice(0, 4).map((r) => r.trim().split(/\s+/).slice(0, 4))).toEqual([
      ['PP-KPI-0001', 'phase', '1', 'success'],
      ['PP-KPI-0002', 'phase', '1', 'success'],
      ['PP-KPI-0003', 'phase', '2', 'pending'],
      ['PP-KPI-0004', 'phase', '2', 'pending'],
    ]);
    expect(rows.at(-1)).toMatch(/payments: new version 4 payments, 4 declined, 0 timed out; older versions 4 payments, 0 declined, 0 timed out/);

    // A terminal of the second phase checks again: the halted deployment offers it nothing.
    const phase2 = bootUpdateTerminal(stateDirs[3], vendorKey);
    await phase2.client.start();
    expect((await phase2.client.check('manual')).outcome).toBe('none');
    expect(phase2.restarts.n).toBe(0);
    expect(phase2.updater.currentVersion).toBe(FACTORY_VERSION);

    // The TMS's records and `paypad tms inventory` match what the terminals did.
    const tms = createTms(host.database.db, host.config.dataDir);
    const report = await tms.report(deploymentId);
    expect(report.deployment.state).toBe('halted');
    expect(report.terminals.map((t) => [t.serial, t.status])).toEqual([
      ['PP-KPI-0001', 'success'],
      ['PP-KPI-0002', 'success'],
      ['PP-KPI-0003', 'pending'],
      ['PP-KPI-0004', 'pending'],
    ]);
    expect(report.paymentKpis).toMatchObject({ newVersion: { ended: 4, declined: 4, timedOut: 0 }, oldVersion: { ended: 4, declined: 0, timedOut: 0 } });
    for (const [i, serial] of SERIALS.entries()) expect((await tms.inventory.entry(serial))?.versions).toEqual({ [UPDATE_PROGRAM]: i < 2 ? NEW_VERSION : FACTORY_VERSION });
    const inventory = (await runPaypad(['tms', 'inventory'], env)).stdout;
    for (const [i, serial] of SERIALS.entries()) expect(inventory).toMatch(new RegExp(`${serial}.*${UPDATE_PROGRAM} ${(i < 2 ? NEW_VERSION : FACTORY_VERSION).replace(/\./g, '\\.')}`));
  }, 90_000);
});
