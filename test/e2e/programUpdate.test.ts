/**
 * System B end to end on the host `paypad serve` runs (host/server startHost: every KMS with POSP
 * and the TMS beside it, the simulated acquirer, the mobile platform and its demo payees):
 * two emulated terminals, onboarded at customer C001's KMS, run the firmware's own update code
 * (firmware/core/updateClient, updateTriggers, the Node HAL's two-slot updater). One is updated by
 * its schedule (B5), the other by the notice the TMS had POSP put in its next payment answer (B6);
 * each restarts into the new program, which confirms itself and reports its version; the
 * deployment's per-terminal status and the inventory match what the terminals did.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, toHex } from '../../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { signManifest } from '../../shared/protocol/updateManifest';
import { UpdateTriggers } from '../../firmware/core/updateTriggers';
import { openNodeUpdates } from '../../firmware/hal/node/nodeUpdates';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { createTms } from '../../host/tms/tms';
import { seededRng } from '../support/opsRng';
import { MemoryStorage } from '../support/memoryStorage';
import { type Manufactured, makeMtmsKey, manufacture, openTkEnvelope, rng, tempDirs } from '../unit/terminal/support';

const MODEL = 'PP-ESP32';
const PROGRAM = 'paypad-firmware';
const DEMO_PAYEE = '13800138000';
const dirs = tempDirs();
const mtms = makeMtmsKey();
const vendor = generateP256KeyPair(seededRng(asciiToBytes('e2e update vendor')));
const image = seededRng(asciiToBytes('e2e update image'))(5 * 8192 + 77);
let dataDir: string;
let host: RunningHost;
let deliveries = 0;

async function onboarded(serial: string): Promise<Manufactured> {
  const kms = host.kms.get('C001');
  if (kms === undefined) throw new Error('the demo customer C001 has no KMS');
  const unit = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer: new Uint8Array(new X509Certificate(host.ca.caCertificatePem).raw), serial });
  const answer = await unit.terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
  if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
  // What MTMS's outbox delivers (A7), handed over directly: onboarding's own e2e covers that path.
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, openTkEnvelope(mtms, answer.tkEnvelope, serial), asciiToBytes(`paypad-tk|${serial}`), rng));
  await kms.service.receiveTk({ v: 1, deliveryId: `d-update-${++deliveries}`, serial, envelope: toHex(envelope), customerCode: 'C001', intakeSequence: deliveries });
  await unit.terminal.downloadTmk();
  await unit.terminal.signOn();
  return unit;
}

/** The terminal's program updates as its firmware assembles them at a start; restarts counted. */
function boot(unit: Manufactured) {
  const restarts = { n: 0 };
  const updates = openNodeUpdates(unit.stateDir, { model: MODEL, programName: PROGRAM, vendorKeys: [vendor.publicKey], factoryVersion: '1.0.0', restart: () => void restarts.n++ });
  const triggers = new UpdateTriggers({ client: updates.client, storage: new MemoryStorage(), schedule: { every: 'day', at: '17:00', utcOffsetMinutes: 480 }, runningVersion: () => updates.updater.currentVersion });
  return { ...updates, triggers, restarts };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'paypad-e2e-update-'));
  const config = loadConfig({ PAYPAD_HOST: '127.0.0.1', PAYPAD_DATA_DIR: dataDir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' }, process.cwd());
  host = await startHost(config, { logger: createLogger({ level: 'silent' }) });
}, 60_000);

afterAll(async () => {
  await host?.close({ graceMs: 0 });
  dirs.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('program updates through paypad serve (B1-B7)', () => {
  it('B5, B6: one terminal updates on its schedule, the other on the notice in its payment answer; both restart into 1.1.0, confirm, and the TMS shows success and the new version', async () => {
    const [scheduled, noticed] = [await onboarded('PP-UPD-0001'), await onboarded('PP-UPD-0002')];
    const a = boot(scheduled);
    const b = boot(noticed);
    await a.client.start();
    await b.client.start();

    // The operator's side, as `paypad tms` does it on the host's database and data directory.
    const tms = createTms(host.database.db, dataDir);
    await tms.packages.addVendorKey('E2E Vendor', vendor.publicKey, new Date());
    const manifest = {
      v: 1 as const,
      name: PROGRAM,
      version: '1.1.0',
      models: [MODEL],
      size: image.length,
      sha256: createHash('sha256').update(image).digest('hex').toUpperCase(),
      minimumVersion: '1.0.0',
      securityCounter: 1,
      metadataVersion: await tms.packages.nextMetadataVersion(PROGRAM),
      expires: '2099-01-01T00:00:00Z',
    };
    const pkg = await tms.packages.addPackage(signManifest(manifest, vendor.privateKey, vendor.publicKey), image, new Date());
    const d = await tms.deploy({
      packageId: pkg.id,
      targets: { serials: ['PP-UPD-0001', 'PP-UPD-0002'], groups: [], models: [] },
      phases: [{ percent: 100 }],
      failureThresholdPercent: 0,
      kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 20 },
      mode: 'attempt',
    });

    // B5: nothing before the due time (the first tick starts the count), then one check at 17:00 +08:00.
    const start = Date.parse('2026-12-07T08:00:00Z');
    expect(a.triggers.tick(start)).toBeUndefined();
    expect(await a.triggers.tick(Date.parse('2026-12-07T09:00:01Z'))).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(a.restarts.n).toBe(1);

    // B6: a payee lookup through POSP; its MAC'd answer carries the notice; the terminal then queries.
    const lookup = await noticed.terminal.lookupPayee(DEMO_PAYEE);
    expect(lookup.updateNotice).toEqual({ name: PROGRAM, version: '1.1.0' });
    expect(await b.triggers.notice(lookup.updateNotice)).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(b.restarts.n).toBe(1);
    expect((await noticed.terminal.lookupPayee(DEMO_PAYEE)).updateNotice).toBeUndefined();

    // The new programs start, confirm themselves and report their version.
    for (const unit of [scheduled, noticed]) {
      const next = boot(unit);
      expect([next.updater.startKind, next.updater.currentVersion]).toEqual(['trial', '1.1.0']);
      await next.client.start();
      expect(await next.client.check('manual')).toEqual({ outcome: 'none' });
    }

    const report = await tms.report(d.id);
    expect(report.deployment.state).toBe('completed');
    expect(report.terminals.map((t) => [t.serial, t.status])).toEqual([
      ['PP-UPD-0001', 'success'],
      ['PP-UPD-0002', 'success'],
    ]);
    for (const serial of ['PP-UPD-0001', 'PP-UPD-0002']) {
      expect((await tms.inventory.entry(serial))?.versions).toEqual({ [PROGRAM]: '1.1.0' });
      expect((await tms.inventory.reports(d.id, serial)).map((r) => [r.stage, r.code])).toEqual([
        ['download', 0],
        ['install', 0],
        ['confirm', 0],
      ]);
    }
  }, 60_000);
});
