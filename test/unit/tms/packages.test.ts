/**
 * Packages and deployment plans as the TMS takes them (host/tms/packageStore, deploymentPlan;
 * SPEC B4): a package is stored only when a trusted vendor key signed its manifest and the image is
 * the manifest's, its metadata version only grows, and each refusal changes nothing; a plan that
 * does not make sense is refused naming what is wrong. SQLite, and PostgreSQL when DATABASE_URL is set.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { readdirSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { p256PublicKey } from '../../../shared/crypto/primitives';
import { type Manifest, signManifest } from '../../../shared/protocol/updateManifest';
import { checkDeploymentPlan, type DeploymentPlan, insideMaintenanceWindow, parseMaintenanceWindow } from '../../../host/tms/deploymentPlan';
import { imageDirectory } from '../../../host/tms/imageFiles';
import { DIALECTS } from '../../store/helpers/testDatabase';
import { rng } from '../hsm/hsmTestKit';
import { MODEL, PROGRAM, useTms } from './tmsTestKit';

describe.each(DIALECTS)('B4 packages on %s', (dialect) => {
  const tms = useTms(dialect);
  let n = 0;
  const manifestOf = async (image: Uint8Array, fields: Partial<Manifest> = {}): Promise<Manifest> => ({
    v: 1,
    name: `${PROGRAM}-${dialect}`,
    version: `1.${++n}.0`,
    models: [MODEL],
    size: image.length,
    sha256: toHex(sha256(image)),
    minimumVersion: '1.0.0',
    securityCounter: 0,
    metadataVersion: await tms().tms.packages.nextMetadataVersion(`${PROGRAM}-${dialect}`),
    expires: '2027-06-01T00:00:00Z',
    ...fields,
  });

  it('B4: a signed package is stored with its image (0600, named by its SHA-256) and read back; the same bytes again are the same package', async () => {
    const t = tms();
    const image = rng(3000);
    const signed = signManifest(await manifestOf(image), t.vendor.privateKey, t.vendor.publicKey);
    const stored = await t.tms.packages.addPackage(signed, image, new Date());
    expect(toHex(await t.tms.packages.image(stored))).toBe(toHex(image));
    expect((await t.tms.packages.addPackage(signed, image, new Date())).id).toBe(stored.id);
    const file = `${toHex(sha256(image))}.img`;
    expect(readdirSync(imageDirectory(t.dataDir))).toContain(file);
    expect(statSync(`${imageDirectory(t.dataDir)}/${file}`).mode & 0o777).toBe(0o600);
  });

  it('B4: an unknown vendor key, a tampered manifest or signature, another image, an old metadata version and a second manifest for one version are refused, and nothing is stored', async () => {
    const t = tms();
    const image = rng(2000);
    const before = (await t.tms.packages.list()).length;
    const stranger = rng(32);
    const cases: [string, () => Promise<unknown>, string][] = [
      ['unknown key', async () => t.tms.packages.addPackage(signManifest(await manifestOf(image), stranger, p256PublicKey(stranger)), image, new Date()), 'TMS_PACKAGE_INVALID'],
      [
        'tampered manifest',
        async () => {
          const s = signManifest(await manifestOf(image), t.vendor.privateKey, t.vendor.publicKey);
          return t.tms.packages.addPackage({ ...s, manifest: s.manifest.slice(0, -2) + (s.manifest.endsWith('7D') ? '7E' : '7D') }, image, new Date());
        },
        'TMS_PACKAGE_INVALID',
      ],
      [
        'tampered signature',
        async () => {
          const s = signManifest(await manifestOf(image), t.vendor.privateKey, t.vendor.publicKey);
          return t.tms.packages.addPackage({ ...s, signature: (s.signature[0] === '0' ? '1' : '0') + s.signature.slice(1) }, image, new Date());
        },
        'TMS_PACKAGE_INVALID',
      ],
      ['another image', async () => t.tms.packages.addPackage(signManifest(await manifestOf(image), t.vendor.privateKey, t.vendor.publicKey), rng(2000), new Date()), 'TMS_PACKAGE_INVALID'],
      ['a longer image', async () => t.tms.packages.addPackage(signManifest(await manifestOf(image), t.vendor.privateKey, t.vendor.publicKey), new Uint8Array([...image, 0]), new Date()), 'TMS_PACKAGE_INVALID'],
    ];
    for (const [name, attempt, code] of cases) await expect(attempt(), name).rejects.toMatchObject({ code });
    expect((await t.tms.packages.list()).length).toBe(before);

    const first = await manifestOf(image);
    await t.tms.packages.addPackage(signManifest(first, t.vendor.privateKey, t.vendor.publicKey), image, new Date());
    const replayedVersion = { ...(await manifestOf(image)), metadataVersion: first.metadataVersion };
    await expect(t.tms.packages.addPackage(signManifest(replayedVersion, t.vendor.privateKey, t.vendor.publicKey), image, new Date())).rejects.toMatchObject({ code: 'TMS_PACKAGE_INVALID' });
    const sameVersion = { ...(await manifestOf(image)), version: first.version, securityCounter: 9 };
    await expect(t.tms.packages.addPackage(signManifest(sameVersion, t.vendor.privateKey, t.vendor.publicKey), image, new Date())).rejects.toMatchObject({ code: 'TMS_PACKAGE_EXISTS' });
    await expect(t.tms.packages.get(999_999)).rejects.toMatchObject({ code: 'TMS_PACKAGE_UNKNOWN' });
  });
});

describe('B4 deployment plans', () => {
  const plan: DeploymentPlan = {
    packageId: 1,
    targets: { serials: ['PP-1001'], groups: [], models: [] },
    phases: [{ percent: 10 }, { percent: 100 }],
    failureThresholdPercent: 10,
    kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 20 },
    mode: 'attempt',
  };

  it('B4: a plan without targets, with falling, unfinished or mixed phases, a bad threshold, KPI limit, window or mode is TMS_DEPLOYMENT_INVALID', () => {
    expect(checkDeploymentPlan(plan)).toBe(plan);
    const bad: Partial<DeploymentPlan>[] = [
      { targets: { serials: [], groups: [], models: [] } },
      { targets: { serials: ['PP 1001'], groups: [], models: [] } },
      { phases: [] },
      { phases: [{ percent: 50 }, { percent: 20 }] },
      { phases: [{ percent: 10 }, { percent: 90 }] },
      { phases: [{ percent: 100 }, { groups: ['pilot'] }] },
      { phases: [{ groups: [] }] },
      { failureThresholdPercent: 101 },
      { kpiLimits: { maxRateIncreasePoints: -1, minTransactions: 20 } },
      { kpiLimits: { maxRateIncreasePoints: 5, minTransactions: 0 } },
      { notBefore: new Date('2026-12-07T00:00:00Z'), notAfter: new Date('2026-12-06T00:00:00Z') },
      { maintenanceWindow: { startMinute: 60, endMinute: 60 } },
      { mode: 'later' as never },
    ];
    for (const b of bad) expect(() => checkDeploymentPlan({ ...plan, ...b }), JSON.stringify(b)).toThrow(expect.objectContaining({ code: 'TMS_DEPLOYMENT_INVALID' }));
  });

  it('B4: a maintenance window reads HH:MM-HH:MM (UTC) and may run across midnight', () => {
    const w = parseMaintenanceWindow('22:30-04:00');
    expect(insideMaintenanceWindow(w, new Date('2026-12-06T23:00:00Z'))).toBe(true);
    expect(insideMaintenanceWindow(w, new Date('2026-12-06T03:59:00Z'))).toBe(true);
    expect(insideMaintenanceWindow(w, new Date('2026-12-06T04:00:00Z'))).toBe(false);
    expect(insideMaintenanceWindow(parseMaintenanceWindow('09:00-17:00'), new Date('2026-12-06T12:00:00Z'))).toBe(true);
    for (const text of ['24:00-01:00', '9:00-10:00', '09:00', '09:60-10:00']) expect(() => parseMaintenanceWindow(text)).toThrow(expect.objectContaining({ code: 'TMS_DEPLOYMENT_INVALID' }));
  });
});
