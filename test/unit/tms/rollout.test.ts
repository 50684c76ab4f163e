/**
 * Deployments (host/tms/rollout, deploymentStore, targeting; SPEC B2, B4 and the rollout of
 * docs/updates.md): phases start one after another, a phase whose failures pass the threshold
 * halts the deployment before the next phase gets anything, a person resumes it; and a phase
 * halts when the terminals on the new version decline more than those on the old version at the
 * same merchant, with the payments made for real through POSP, the acquirer link and the
 * simulated bank. Runs on SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { p256PublicKey } from '../../../shared/crypto/primitives';
import { createKmsStore } from '../../../host/kms/kmsStore';
import { openKmsService, type KmsService } from '../../../host/kms/kmsService';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';
import { findOffer } from '../../../host/tms/targeting';
import { createTms, type Tms } from '../../../host/tms/tms';
import type { DeploymentPlan } from '../../../host/tms/deploymentPlan';
import { DIALECTS, useMigratedDatabase } from '../../store/helpers/testDatabase';
import { openTestHsm, rng, type TestHsm } from '../hsm/hsmTestKit';
import { type AcquiringSide, CUSTOMER, NOW, type PayingTerminal, signedOnTerminal, startAcquiringSide } from '../posp/pospTestKit';
import { MODEL, PROGRAM, storePackage } from './tmsTestKit';

const PAYEE_MOBILE = '13800138000';

describe.each(DIALECTS)('B2, B4 rollout on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let hsm: TestHsm;
  let kms: KmsService;
  let tms: Tms;
  let side: AcquiringSide;
  let now = new Date('2026-12-06T10:00:00Z');
  let version = 0;
  beforeAll(async () => {
    hsm = await openTestHsm();
    const kmsStore = createKmsStore(database().db);
    kms = await openKmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, store: kmsStore });
    tms = createTms(database().db, mkdtempSync(join(tmpdir(), 'paypad-tms-')), () => now);
    side = await startAcquiringSide({ database: database(), hsm: hsm.hsm, open: hsm.open, kmsStore });
    side.platform.payees.set(PAYEE_MOBILE, '王小明');
    const privateKey = rng(32);
    await tms.packages.addVendorKey('Test Vendor', p256PublicKey(privateKey), now);
    vendor = { privateKey, publicKey: p256PublicKey(privateKey) };
  });
  let vendor: { privateKey: Uint8Array; publicKey: Uint8Array };
  afterAll(async () => {
    await side?.close();
    await hsm?.hsm.close();
  });

  const tick = (ms = 1000) => (now = new Date(now.getTime() + ms));
  /** A fresh program version per test, so deployments of earlier tests offer nothing here. */
  const newPackage = async () => storePackage({ tms, vendor }, rng(1024), { version: `2.${++version}.0`, minimumVersion: '1.0.0' });
  const plan = (packageId: number, serials: string[], more: Partial<DeploymentPlan> = {}): DeploymentPlan => ({
    packageId,
    targets: { serials, groups: [], models: [] },
    phases: [{ percent: 50 }, { percent: 100 }],
    failureThresholdPercent: 0,
    kpiLimits: { maxRateIncreasePoints: 10, minTransactions: 4 },
    mode: 'attempt',
    ...more,
  });
  /** What the terminal says about itself (its query or a status report), as the TMS service records it. */
  const runs = (serial: string, v: string) => tms.inventory.record({ customerCode: CUSTOMER, serial, model: MODEL, versions: { [PROGRAM]: v }, stage: 'query', code: 0, at: tick() });
  const offered = async (serial: string, installed = '1.0.0') => (await findOffer(tms.deployments, tms.packages, { serial, model: MODEL, installed: { [PROGRAM]: installed } }, now)) !== undefined;

  it('B4: each phase starts when the previous one succeeded; a failure past the threshold halts the deployment and the next phase is offered nothing until it is resumed', async () => {
    const pkg = await newPackage();
    const serials = ['PP-R-01', 'PP-R-02', 'PP-R-03', 'PP-R-04'];
    const d = await tms.deploy(plan(pkg.id, serials));
    expect((await tms.deployments.terminals(d.id)).map((t) => [t.serial, t.phase])).toEqual([['PP-R-01', 0], ['PP-R-02', 0], ['PP-R-03', 1], ['PP-R-04', 1]]);
    expect(await offered('PP-R-01')).toBe(true);
    expect(await offered('PP-R-03')).toBe(false);

    await tms.deployments.setStatus(d.id, 'PP-R-01', 'success', undefined, tick());
    await tms.deployments.setStatus(d.id, 'PP-R-02', 'failed', 301, tick());
    const halted = await tms.rollout.evaluate(d.id);
    expect(halted).toMatchObject({ state: 'halted', currentPhase: 0 });
    expect(halted.haltReason).toMatch(/phase 1: 1 of 2 terminals failed, over the threshold of 0%/);
    expect(await offered('PP-R-03')).toBe(false);
    expect(await offered('PP-R-02')).toBe(false);

    // Resumed: the failure before the resume no longer counts; phase 1 has ended, phase 2 starts.
    tick();
    const resumed = await tms.resume(d.id);
    expect(resumed).toMatchObject({ state: 'running', currentPhase: 1 });
    expect(await offered('PP-R-03')).toBe(true);
    for (const s of ['PP-R-03', 'PP-R-04']) await tms.deployments.setStatus(d.id, s, 'success', undefined, tick());
    const report = await tms.report(d.id);
    expect(report.deployment.state).toBe('completed');
    expect(report.terminals.map((t) => [t.serial, t.status, t.code ?? null])).toEqual([
      ['PP-R-01', 'success', null],
      ['PP-R-02', 'failed', 301],
      ['PP-R-03', 'success', null],
      ['PP-R-04', 'success', null],
    ]);
    await expect(tms.halt(d.id, 'too late')).rejects.toMatchObject({ code: 'TMS_DEPLOYMENT_STATE' });
  });

  it('B4: a phase by group, a maintenance window and an effective window decide when a terminal is offered the package', async () => {
    const pkg = await newPackage();
    await tms.deployments.addToGroup('pilot', ['PP-G-01']);
    await tms.deployments.addToGroup('shops', ['PP-G-02']);
    const start = now;
    const d = await tms.deploy(
      plan(pkg.id, [], { targets: { serials: [], groups: ['pilot', 'shops'], models: [] }, phases: [{ groups: ['pilot'] }, { groups: ['shops'] }], maintenanceWindow: { startMinute: 22 * 60, endMinute: 4 * 60 }, notAfter: new Date(start.getTime() + 2 * 86_400_000) }),
    );
    expect((await tms.deployments.terminals(d.id)).map((t) => [t.serial, t.phase])).toEqual([['PP-G-01', 0], ['PP-G-02', 1]]);
    expect(await offered('PP-G-01')).toBe(false); // 10:00 UTC: outside 22:00-04:00
    now = new Date('2026-12-06T23:30:00Z');
    expect(await offered('PP-G-01')).toBe(true);
    expect(await offered('PP-G-02')).toBe(false); // its phase has not started
    now = new Date('2026-12-08T23:30:00Z');
    expect(await offered('PP-G-01')).toBe(false); // past not-after
    now = start;
  });

  it('B4: a phase halts when the terminals on the new version decline more than those on the old version at the same merchant (payments through POSP)', async () => {
    // POSP's clock stands at NOW: the deployment and the version reports come an hour before.
    now = new Date(NOW.getTime() - 3_600_000);
    const pkg = await newPackage();
    const terminals: PayingTerminal[] = [];
    for (let i = 0; i < 4; i++) terminals.push(await signedOnTerminal(kms));
    const [fresh1, fresh2, old1, old2] = terminals;
    const d = await tms.deploy(plan(pkg.id, terminals.map((t) => t.serial), { phases: [{ percent: 100 }], failureThresholdPercent: 100 }));
    for (const t of [old1, old2]) await runs(t.serial, '1.0.0');
    // The new program reports its version at its first start, then takes payments.
    for (const t of [fresh1, fresh2]) {
      await runs(t.serial, pkg.manifest.version);
      await tms.deployments.setStatus(d.id, t.serial, 'success', undefined, tick());
    }
    const pay = async (terminal: PayingTerminal, pan: string) => {
      const lookupRequest = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: PAYEE_MOBILE });
      const lookupId = (await terminal.answer(lookupRequest, await side.posp.lookup(lookupRequest.parsed))).lookupId;
      const message = { v: 1, lookupId, amount: 1000, currency: 'CNY', card: terminal.card(pan), pinBlock: terminal.pinBlock(TEST_PIN, pan), payerMobile: '13900139000' };
      const request = await terminal.transaction('mobile/pay', message);
      return (await terminal.answer(request, await side.posp.pay(request.parsed))).responseCode;
    };
    // The old version approves; the new one's payments are declined half the time (its PIN entry garbles the card, say).
    for (const t of [old1, old2]) for (let i = 0; i < 2; i++) expect(await pay(t, TEST_CARDS.unionPay.pan)).toBe('00');
    expect(await pay(fresh1, TEST_CARDS.unionPay.pan)).toBe('00');
    expect(await pay(fresh1, TEST_CARDS.insufficientFunds.pan)).toBe('51');
    expect(await pay(fresh2, TEST_CARDS.unionPay.pan)).toBe('00');
    expect((await tms.rollout.evaluate(d.id)).state).toBe('running'); // 3 new-version payments: below the sample of 4
    expect(await pay(fresh2, TEST_CARDS.insufficientFunds.pan)).toBe('51');

    const report = await tms.report(d.id);
    expect(report.paymentKpis).toMatchObject({ newVersion: { ended: 4, declined: 2, timedOut: 0 }, oldVersion: { ended: 4, declined: 0, timedOut: 0 } });
    expect(report.deployment.state).toBe('halted');
    expect(report.deployment.haltReason).toMatch(/payment results: decline rate of 2\.\d+\.0 is 50\.0% against 0\.0% for older versions at the same merchants/);
    expect(await offered(old1.serial)).toBe(false);
  });

  it('B4: a phase halts when the new version times out more (authorisations POSP had to reverse), with declines alike', async () => {
    now = new Date(NOW.getTime() - 3_600_000);
    const pkg = await newPackage();
    const [fresh, old] = [await signedOnTerminal(kms), await signedOnTerminal(kms)];
    const d = await tms.deploy(plan(pkg.id, [fresh.serial, old.serial], { phases: [{ percent: 100 }], failureThresholdPercent: 100, kpiLimits: { maxRateIncreasePoints: 10, minTransactions: 2 } }));
    await runs(old.serial, '1.0.0');
    await runs(fresh.serial, pkg.manifest.version);
    await tms.deployments.setStatus(d.id, fresh.serial, 'success', undefined, tick());
    const pay = async (terminal: PayingTerminal) => {
      const lookupRequest = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: PAYEE_MOBILE });
      const lookupId = (await terminal.answer(lookupRequest, await side.posp.lookup(lookupRequest.parsed))).lookupId;
      const message = { v: 1, lookupId, amount: 1000, currency: 'CNY', card: terminal.card(TEST_CARDS.unionPay.pan), pinBlock: terminal.pinBlock(TEST_PIN, TEST_CARDS.unionPay.pan), payerMobile: '13900139000' };
      const request = await terminal.transaction('mobile/pay', message);
      return (await terminal.answer(request, await side.posp.pay(request.parsed))).responseCode;
    };
    for (let i = 0; i < 2; i++) expect(await pay(old)).toBe('00');
    expect(await pay(fresh)).toBe('00');
    side.holdNextAnswer(); // the bank's answer comes after POSP's timeout: POSP reverses
    expect(await pay(fresh)).not.toBe('00');
    const report = await tms.report(d.id);
    // The older versions' side holds every older-version payment at this merchant since the phase began (the earlier tests' too).
    expect(report.paymentKpis).toMatchObject({ newVersion: { ended: 2, declined: 0, timedOut: 1 }, oldVersion: { timedOut: 0 } });
    expect(report.deployment.haltReason).toMatch(/timeout rate of 2\.\d+\.0 is 50\.0% against 0\.0%/);
  });
});
