/**
 * B6: the TMS tells POSP that a terminal has an update (host/tms/updateNotices), and POSP's next
 * answer to that terminal carries the notice under its MAC (host/posp/pospService), once; a
 * terminal outside the deployment gets none, nor one that its schedule updated first (B7). Runs on SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { p256PublicKey } from '../../../shared/crypto/primitives';
import { createKmsStore } from '../../../host/kms/kmsStore';
import { openKmsService, type KmsService } from '../../../host/kms/kmsService';
import { createTms, type Tms } from '../../../host/tms/tms';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIALECTS, useMigratedDatabase } from '../../store/helpers/testDatabase';
import { openTestHsm, rng, type TestHsm } from '../hsm/hsmTestKit';
import { type AcquiringSide, CUSTOMER, NOW, type PayingTerminal, signedOnTerminal, startAcquiringSide } from '../posp/pospTestKit';
import { PROGRAM, storePackage } from './tmsTestKit';

const PAYEE_MOBILE = '13800138000';

describe.each(DIALECTS)('B6 update notices on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let hsm: TestHsm;
  let kms: KmsService;
  let tms: Tms;
  let side: AcquiringSide;
  beforeAll(async () => {
    hsm = await openTestHsm();
    const kmsStore = createKmsStore(database().db);
    kms = await openKmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, store: kmsStore, clock: () => NOW });
    tms = createTms(database().db, mkdtempSync(join(tmpdir(), 'paypad-tms-')), () => NOW);
    side = await startAcquiringSide({ database: database(), hsm: hsm.hsm, open: hsm.open, kmsStore, updateNotices: tms.notices });
    side.platform.payees.set(PAYEE_MOBILE, '王小明');
  });
  afterAll(async () => {
    await side?.close();
    await hsm?.hsm.close();
  });

  const lookup = async (terminal: PayingTerminal) => {
    const request = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: PAYEE_MOBILE });
    const reply = await side.posp.lookup(request.parsed);
    expect(reply.status).toBe(200);
    return terminal.answer(request, reply);
  };

  it('B6: the next transaction answer to a terminal of a starting phase carries the notice under its MAC, once; other terminals get none', async () => {
    const [targeted, other] = [await signedOnTerminal(kms), await signedOnTerminal(kms)];
    const privateKey = rng(32);
    const vendor = { privateKey, publicKey: p256PublicKey(privateKey) };
    await tms.packages.addVendorKey('Test Vendor', vendor.publicKey, NOW);
    const pkg = await storePackage({ tms, vendor }, rng(4096), { version: '1.2.0' });
    await tms.deploy({ packageId: pkg.id, targets: { serials: [targeted.serial], groups: [], models: [] }, phases: [{ percent: 100 }], failureThresholdPercent: 0, kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 20 }, mode: 'attempt' });

    expect((await lookup(targeted)).updateNotice).toEqual({ name: PROGRAM, version: '1.2.0' });
    expect((await lookup(targeted)).updateNotice).toBeUndefined();
    expect((await lookup(other)).updateNotice).toBeUndefined();
  });

  it('B7: a terminal its schedule updated before its next transaction gets no notice for that deployment', async () => {
    const terminal = await signedOnTerminal(kms);
    const privateKey = rng(32);
    const vendor = { privateKey, publicKey: p256PublicKey(privateKey) };
    await tms.packages.addVendorKey('Test Vendor', vendor.publicKey, NOW);
    const pkg = await storePackage({ tms, vendor }, rng(4096), { version: '1.3.0' });
    const d = await tms.deploy({ packageId: pkg.id, targets: { serials: [terminal.serial, 'PP-NOT-YET-01'], groups: [], models: [] }, phases: [{ percent: 100 }], failureThresholdPercent: 0, kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 20 }, mode: 'attempt' });
    await tms.deployments.setStatus(d.id, terminal.serial, 'success', undefined, NOW);
    // Still running (another terminal is pending), and the notice was never delivered.
    expect((await tms.rollout.evaluate(d.id)).state).toBe('running');
    expect((await lookup(terminal)).updateNotice).toBeUndefined();
  });
});
