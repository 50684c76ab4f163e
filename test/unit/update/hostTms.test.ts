/**
 * B1-B4 against the host's own TMS (host/tms beside a KMS, over HTTPS with the paypad CA): the
 * emulated terminal, onboarded at that KMS, runs its UpdateClient (firmware/core/updateClient.ts)
 * over its Node HAL and the two-slot updater: query, the vendor's signature, B3 with DWK made in the
 * KMS's HSM, the image in range requests, the switch, the first start; the TMS's per-terminal status
 * and inventory follow the reports. No fake TMS: the outside parties here are none.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { signManifest } from '../../../shared/protocol/updateManifest';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import { type RunningKms, startKms } from '../../../host/kms/kmsInstance';
import { createLogger } from '../../../host/log';
import { type Tms, createTms } from '../../../host/tms/tms';
import { openTmsService } from '../../../host/tms/tmsService';
import { openNodeUpdates } from '../../../firmware/hal/node/nodeUpdates';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { seededRng } from '../../support/opsRng';
import { type Manufactured, SERIAL, makeMtmsKey, manufacture, openTkEnvelope, rng, tempDirs } from '../terminal/support';
import { MODEL, PROGRAM } from './fakeTms';

const CUSTOMER = 'ACME';
const dirs = tempDirs();
const database = useMigratedDatabase('sqlite');
const mtms = makeMtmsKey();
const vendor = generateP256KeyPair(seededRng(asciiToBytes('host tms vendor')));
const image = seededRng(asciiToBytes('host tms image'))(3 * 4096 + 123);
let ca: CertificateAuthority;
let kms: RunningKms;
let tms: Tms;
let unit: Manufactured;

beforeAll(async () => {
  ca = await ensureCa({ dataDir: dirs.make(), db: database().db });
  tms = createTms(database().db, mkdtempSync(join(tmpdir(), 'paypad-host-tms-')));
  kms = await startKms({
    customerCode: CUSTOMER,
    dataDir: dirs.make(),
    db: database().db,
    ca,
    port: 0,
    host: '127.0.0.1',
    logger: createLogger({ level: 'silent' }),
    tms: ({ customerCode, hsm, store }) => openTmsService({ customerCode, hsm, kmsStore: store, db: database().db, tms }),
  });
  unit = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer: new Uint8Array(new X509Certificate(ca.caCertificatePem).raw) });
  const answer = await unit.terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
  if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, openTkEnvelope(mtms, answer.tkEnvelope), asciiToBytes(`paypad-tk|${SERIAL}`), rng));
  await kms.service.receiveTk({ v: 1, deliveryId: 'd-tms-1', serial: SERIAL, envelope: toHex(envelope), customerCode: CUSTOMER, intakeSequence: 1 });
  await unit.terminal.downloadTmk();
  await unit.terminal.signOn();
  await tms.packages.addVendorKey('Test Vendor', vendor.publicKey, new Date());
}, 60_000);

afterAll(async () => {
  await kms?.close({ graceMs: 0 });
  dirs.cleanup();
});

/** The terminal as it boots (firmware/hal/node/nodeUpdates.ts), restarts counted. */
function boot() {
  const restarts = { n: 0 };
  const { client, updater } = openNodeUpdates(unit.stateDir, { model: MODEL, programName: PROGRAM, vendorKeys: [vendor.publicKey], factoryVersion: '1.0.0', restart: () => void restarts.n++ });
  return { client, updater, restarts };
}

describe('the terminal updates itself from the host TMS (B1-B4)', () => {
  it('B1-B4: nothing offered before a deployment; then downloaded, switched, confirmed, and the TMS records success', async () => {
    const first = boot();
    await first.client.start();
    expect(await first.client.check('manual')).toEqual({ outcome: 'none' });

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
    const deployment = await tms.deploy({
      packageId: pkg.id,
      targets: { serials: [SERIAL], groups: [], models: [] },
      phases: [{ percent: 100 }],
      failureThresholdPercent: 50,
      kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 20 },
      mode: 'forced',
    });
    expect(await first.client.check('schedule')).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(first.restarts.n).toBe(1);

    const second = boot();
    expect([second.updater.startKind, second.updater.currentVersion]).toEqual(['trial', '1.1.0']);
    await second.client.start();
    expect(await tms.deployments.terminal(deployment.id, SERIAL)).toMatchObject({ status: 'success' });
    expect((await tms.inventory.reports(deployment.id, SERIAL)).map((r) => [r.stage, r.code])).toEqual([
      ['download', 0],
      ['install', 0],
      ['confirm', 0],
    ]);
    expect(await second.client.check('schedule')).toEqual({ outcome: 'none' });
  });
});
