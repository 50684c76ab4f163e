/**
 * B1-B4 against the host's own TMS (host/tms beside a KMS, over HTTPS with the paypad CA): the
 * emulated terminal, onboarded at that KMS, runs its UpdateClient (firmware/core/updateClient.ts)
 * over its Node HAL and the two-slot updater: query, the vendor's signature, B3 with DWK made in the
 * KMS's HSM, the image in range requests, the switch, the first start; the TMS's per-terminal status
 * and inventory follow the reports. No fake TMS: the outside parties here are none. SQLite, and
 * PostgreSQL when DATABASE_URL is set.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
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
import { terminalCommand } from '../../../bin/commands/terminal';
import { DIALECTS, useMigratedDatabase } from '../../store/helpers/testDatabase';
import { seededRng } from '../../support/opsRng';
import { type Manufactured, SERIAL, makeMtmsKey, manufacture, openTkEnvelope, rng, tempDirs } from '../terminal/support';
import { MODEL, PROGRAM } from './fakeTms';

const CUSTOMER = 'ACME';

describe.each(DIALECTS)('the terminal updates itself from the host TMS on %s (B1-B4)', (dialect) => {
  const dirs = tempDirs();
  const database = useMigratedDatabase(dialect);
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
    unit = await onboard(SERIAL);
    await tms.packages.addVendorKey('Test Vendor', vendor.publicKey, new Date());
  }, 60_000);

  /** A terminal manufactured for this KMS, its TK delivered, its TMK downloaded, signed on. */
  async function onboard(serial: string): Promise<Manufactured> {
    const made = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer: new Uint8Array(new X509Certificate(ca.caCertificatePem).raw), serial });
    const answer = await made.terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
    if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
    const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, openTkEnvelope(mtms, answer.tkEnvelope, serial), asciiToBytes(`paypad-tk|${serial}`), rng));
    await kms.service.receiveTk({ v: 1, deliveryId: `d-${serial}`, serial, envelope: toHex(envelope), customerCode: CUSTOMER, intakeSequence: ++deliveries });
    await made.terminal.downloadTmk();
    await made.terminal.signOn();
    return made;
  }
  let deliveries = 0;

  /** A package of `version` for the test image, signed by the vendor, stored, and deployed to `serial` alone. */
  async function deployTo(serial: string, version: string): Promise<number> {
    const manifest = {
      v: 1 as const,
      name: PROGRAM,
      version,
      models: [MODEL],
      size: image.length,
      sha256: createHash('sha256').update(image).digest('hex').toUpperCase(),
      minimumVersion: '0.1.0',
      securityCounter: 1,
      metadataVersion: await tms.packages.nextMetadataVersion(PROGRAM),
      expires: '2099-01-01T00:00:00Z',
    };
    const pkg = await tms.packages.addPackage(signManifest(manifest, vendor.privateKey, vendor.publicKey), image, new Date());
    const deployment = await tms.deploy({
      packageId: pkg.id,
      targets: { serials: [serial], groups: [], models: [] },
      phases: [{ percent: 100 }],
      failureThresholdPercent: 50,
      kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 20 },
      mode: 'forced',
    });
    return deployment.id;
  }

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

  it('B1-B4: nothing offered before a deployment; then downloaded, switched, confirmed, and the TMS records success', async () => {
    const first = boot();
    await first.client.start();
    expect(await first.client.check('manual')).toEqual({ outcome: 'none' });

    const deployment = await deployTo(SERIAL, '1.1.0');
    expect(await first.client.check('schedule')).toEqual({ outcome: 'installed', version: '1.1.0' });
    expect(first.restarts.n).toBe(1);

    const second = boot();
    expect([second.updater.startKind, second.updater.currentVersion]).toEqual(['trial', '1.1.0']);
    await second.client.start();
    expect(await tms.deployments.terminal(deployment, SERIAL)).toMatchObject({ status: 'success' });
    expect((await tms.inventory.reports(deployment, SERIAL)).map((r) => [r.stage, r.code])).toEqual([
      ['download', 0],
      ['install', 0],
      ['confirm', 0],
    ]);
    expect(await second.client.check('schedule')).toEqual({ outcome: 'none' });
  });

  it('B1-B4 from the shell: paypad terminal update installs, and its next run is the new program confirming itself', async () => {
    const serial = 'PP-TERM-0002';
    const other = await onboard(serial);
    const keyFile = join(dirs.make(), 'vendor.pub');
    writeFileSync(keyFile, `${toHex(vendor.publicKey)}\n`);
    const deployment = await deployTo(serial, '0.2.0');
    const run = async () => {
      const out: string[] = [];
      const write = process.stdout.write;
      process.stdout.write = ((chunk: string) => out.push(chunk) > 0) as typeof process.stdout.write;
      try {
        const code = await terminalCommand.run(['update', '--state-dir', other.stateDir, '--vendor-key', keyFile, '--trigger', 'schedule']);
        return { code, json: JSON.parse(out.join('')) as Record<string, unknown> };
      } finally {
        process.stdout.write = write;
      }
    };
    expect(await run()).toEqual({ code: 0, json: { startKind: 'normal', running: '0.1.0', outcome: 'installed', version: '0.2.0' } });
    expect(await tms.deployments.terminal(deployment, serial)).toMatchObject({ status: 'installing' });
    expect(await run()).toEqual({ code: 0, json: { startKind: 'trial', running: '0.2.0', outcome: 'none' } });
    expect(await tms.deployments.terminal(deployment, serial)).toMatchObject({ status: 'success' });
    await expect(terminalCommand.run(['update', '--state-dir', other.stateDir, '--vendor-key', keyFile, '--trigger', 'cron'])).rejects.toThrow(/--trigger/);
  });
});
