/**
 * The firmware in the real Moddable runtime (X3): the app built by mcconfig from manifest.json
 * (its fixed ESP32 creation untouched) runs in the Moddable simulator, mcsim, headless under
 * Xvfb, as a terminal against a real host on loopback (`paypad serve`, SQLite in a temp
 * directory, demo data). The simulated terminal is manufactured by its build config (serial
 * PP-1001, MTMS's intake key, its KMS's URL, the paypad CA), onboarded through
 * `paypad operator onboard` over its TCP local link, and on its next boot downloads its TMK and
 * signs on over Moddable's TLS client. Every key it holds is read back from the simulator's
 * preference storage (its NVS) and checked against the KMS; after another restart the keys are
 * still there. Each screen is captured: into docs/images with PAYPAD_DOC_SCREENSHOTS=1, else a
 * temp directory the test names.
 *
 * Runs only where the Moddable SDK is (MODDABLE set, mcconfig and mcsim on PATH, Xvfb and
 * ImageMagick's import); elsewhere it is skipped and says why. The build takes most of its time.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../shared/bytes';
import { CA_CERT_FILE, caDirectory } from '../../host/ca/caStorage';
import { loadConfig } from '../../host/config';
import { createDatabase, type Database } from '../../host/db/database';
import { operatorDirectory } from '../../host/demoData';
import { createMtmsStore } from '../../host/mtms/mtmsStore';
import { createOutboxStore } from '../../host/outbox/outboxStore';
import { readDeviceRootKey } from '../../firmware/hal/moddable/rootKey';
import { type HostProcess, startHostProcess } from '../e2e/support/hostProcess';
import { kmsRowsOf } from '../e2e/support/kmsRows';
import { freeLoopbackPorts, httpsGetJson, LOOPBACK } from '../e2e/support/loopback';
import { enrol, onboard, outboxRowWhen, stationFiles } from '../e2e/support/operatorStation';
import { hostEnv } from '../e2e/support/paypadCli';
import { recoverVaultKeys } from '../e2e/support/vaultKeys';
import { ROOT } from '../unit/firmware/moddableModules';
import { createTms } from '../../host/tms/tms';
import { encodeJson } from '../../shared/protocol/validate';
import { UPDATE_NAMESPACE } from '../../firmware/core/updateProgress';
import { paypadResult } from '../e2e/support/paypadCli';
import { buildSimulator, projectDiagnostics, readSimulatorStorage, sdkMissing, type Simulator, type SimulatorBuild, startSimulator, startXvfb, writeSimulatorValue, type XServer } from './moddableSdk';

const SERIAL = 'PP-1001'; // demo data: registered for C001
const MODEL = 'PP-ESP32';
const PROGRAM = 'paypad-firmware';
const FACTORY_VERSION = '0.1.0'; // manifest.json config.version
const NEW_VERSION = '0.2.0';
const missing = sdkMissing();
if (missing) console.warn(`test/sdk skipped: ${missing}`);
const screenshots = process.env.PAYPAD_DOC_SCREENSHOTS === '1' ? join(ROOT, 'docs/images') : mkdtempSync(join(tmpdir(), 'paypad-simulator-screens-'));

describe.skipIf(missing !== null)(`X3 the firmware in the Moddable simulator with the ESP32 creation${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-sdk-'));
  const dataDir = join(root, 'data');
  const vendorDir = join(root, 'vendor');
  const env = hostEnv(dataDir, '');
  let host: HostProcess;
  let reader: Database;
  let build: SimulatorBuild;
  let x: XServer;
  let linkPort: number;
  let mtmsUrl: string;
  const running: Simulator[] = [];

  const boot = (): Simulator => {
    const sim = startSimulator(build.library, x, join(root, 'mcsim'));
    running.push(sim);
    return sim;
  };
  const shoot = async (sim: Simulator, name: string): Promise<void> => {
    await new Promise((r) => setTimeout(r, 500)); // the window shows the frame a moment after the trace
    await sim.screenshot(join(screenshots, `simulator-${name}.png`));
  };
  /** The KCV of every key in the simulator's vault, read from its preference file with its root key. */
  const vaultKcvs = (): Record<string, string> => {
    const storage = readSimulatorStorage(build.preferences);
    const rootKey = readDeviceRootKey(storage);
    try {
      return Object.fromEntries(recoverVaultKeys(storage, rootKey, SERIAL, build.preferences).map((k) => [k.name, k.kcv]));
    } finally {
      rootKey.fill(0);
    }
  };

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    [linkPort] = await freeLoopbackPorts(1);
    host = startHostProcess({ ...env, PAYPAD_HOST: LOOPBACK, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1', LOG_LEVEL: 'info' });
    const ready = await host.waitForLog((l) => l.msg === 'paypad host ready', 'paypad host ready');
    const listeners = ready.listeners as { mtms: string; kms: Record<string, string> };
    mtmsUrl = listeners.mtms;
    reader = createDatabase(loadConfig(env).database);
    const caPem = readFileSync(join(caDirectory(dataDir), CA_CERT_FILE), 'utf8');
    const intake = (await httpsGetJson(`${mtmsUrl}/mtms/v1/intake-key`, caPem)).json as { publicKey: string };
    // The vendor's package-signing key, which the firmware is built to trust (B1, B4).
    const vendor = await paypadResult(['tms', 'vendor-key', '--name', 'SDK Test Vendor', '--out', vendorDir], env);
    if (vendor.code !== 0) throw new Error(`paypad tms vendor-key: ${vendor.stderr}`);
    // Manufacture: the identity a factory flashes, as mcconfig config (docs/firmware.md).
    build = await buildSimulator(root, {
      terminalSerial: SERIAL,
      mtmsKey: intake.publicKey,
      kmsUrl: listeners.kms.C001,
      caCertificate: toHex(new Uint8Array(new X509Certificate(caPem).raw)),
      linkPort: String(linkPort),
      model: MODEL,
      vendorKeys: readFileSync(join(vendorDir, 'vendor.pub'), 'utf8').trim(),
      updateSchedule: 'daily@03:00+08:00',
    });
    x = await startXvfb();
  }, 45 * 60_000);

  afterAll(async () => {
    await Promise.allSettled(running.map((s) => s.stop()));
    await x?.stop();
    await host?.stop('SIGTERM');
    await reader?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('X3: mcconfig reports no warning or error about the repository\'s own code', () => {
    expect(projectDiagnostics(build.log)).toEqual([]);
  });

  it('A1 A2 A5 A10 A11 A12: manufactured at first boot, onboarded through the operator CLI over the TCP link, keys loaded over Moddable TLS; every KCV equals the KMS\'s, and a restart keeps them', async () => {
    // First boot: manufacture, then the status screen, with the link listening.
    let sim = boot();
    await sim.waitForLine(/^paypad: local link TCP port \d+/, 'the local link');
    await sim.waitForLine(/^display: SN PP-1001 \| Waiting for operator/, 'the status screen');
    await shoot(sim, 'waiting-for-operator');

    // The production line enrols it (A8), then the operator reads the serial, confirms the customer
    // and uploads the TK envelope the device signed (A2-A5, A8, A10).
    await enrol(`${LOOPBACK}:${linkPort}`, mtmsUrl, stationFiles(operatorDirectory(dataDir))).catch((e: Error) => {
      throw new Error(`${e.message}\nthe simulator said:\n${sim.lines.join('\n')}`);
    });
    const receipt = await onboard(`${LOOPBACK}:${linkPort}`, mtmsUrl, stationFiles(operatorDirectory(dataDir))).catch((e: Error) => {
      throw new Error(`${e.message}\nthe simulator said:\n${sim.lines.join('\n')}`);
    });
    expect(receipt).toMatchObject({ serial: SERIAL, customerCode: 'C001' });
    await sim.waitForLine(/^display: SN PP-1001 \| TK issued, no TMK \| OK: load keys/, 'the TK-issued screen');
    await shoot(sim, 'tk-issued');
    await outboxRowWhen(createOutboxStore(reader.db, reader.dialect), receipt.deliveryId, (r) => r.state === 'delivered', 'delivered to the KMS');

    // Reboot: a terminal holding a TK without working keys loads them at boot (A11, A12).
    await sim.stop();
    sim = boot();
    await sim.waitForLine(/^display: SN PP-1001 \| Loading keys\.\.\./, 'the loading screen'); // too brief to capture reliably
    const signedOn = await sim.waitForLine(/^key loading: signed on, TMK KCV [0-9A-F]+/, 'the sign-on', 180_000);
    await sim.waitForLine(/^display: SN PP-1001 \| Ready: keys loaded \| TMK KCV /, 'the keys-loaded screen');
    await shoot(sim, 'keys-loaded');

    const [held] = (await kmsRowsOf(reader.db, SERIAL)).terminals;
    const intake = await createMtmsStore(reader.db, reader.dialect).latestIntake(SERIAL);
    const kcvs = vaultKcvs();
    expect(kcvs).toMatchObject({ TK: intake!.tkKcv, TMK: held.tmk_kcv, PIK: held.pik_kcv, MAK: held.mak_kcv, TDK: held.tdk_kcv, DMK: held.dmk_kcv });
    expect(held).toMatchObject({ customer_code: 'C001', tk_kcv: intake!.tkKcv });
    expect(signedOn).toContain(`TMK KCV ${held.tmk_kcv}`);

    // Power cut and boot again: the keys are still there, and the terminal says so.
    await sim.stop();
    sim = boot();
    await sim.waitForLine(/^display: SN PP-1001 \| Ready: keys loaded/, 'the status screen after the restart');
    await shoot(sim, 'ready-after-restart');
    expect(sim.lines.some((l) => /Loading keys/.test(l))).toBe(false);
    expect(vaultKcvs()).toEqual(kcvs);
    await sim.stop(); // one simulator at a time: the next one listens on the same link port
  }, 10 * 60_000);

  it('B1-B5: the simulator takes a program update on its schedule: signed package, B3 under its DMK, MAC\'d chunks into its slot file, the switch; it starts the new version on trial, confirms it, and the TMS records success', async () => {
    // The vendor packages a program for the simulator's model; the TMS deploys it to this serial.
    const image = new Uint8Array(randomBytes(48 * 1024));
    const imageFile = join(root, `${PROGRAM}-${NEW_VERSION}.bin`);
    writeFileSync(imageFile, image);
    const cli = async (args: string[]): Promise<string> => {
      const run = await paypadResult(args, env);
      if (run.code !== 0) throw new Error(`paypad ${args.join(' ')}: ${run.stderr}`);
      return run.stdout;
    };
    const packaged = await cli(['tms', 'package', '--image', imageFile, '--name', PROGRAM, '--version', NEW_VERSION, '--models', MODEL, '--minimum-version', FACTORY_VERSION, '--security-counter', '1', '--vendor-key', vendorDir]);
    const packageId = /^package (\d+):/.exec(packaged)![1];
    const deployed = await cli(['tms', 'deploy', '--package', packageId, '--serials', SERIAL, '--failure-threshold', '0', '--mode', 'attempt']);
    const deploymentId = Number(/^deployment (\d+):/.exec(deployed)![1]);

    // B5: the schedule's last run two days ago (the terminal was off at 03:00): the first look at it checks.
    writeSimulatorValue(build.preferences, UPDATE_NAMESPACE, 'schedule', encodeJson({ lastScheduledMs: Date.now() - 2 * 86_400_000 }));
    let sim = boot();
    await sim.waitForLine(new RegExp(`^paypad firmware ${FACTORY_VERSION} \\(normal start\\)`), 'the factory program');
    await sim.waitForLine(new RegExp(`^update: installed ${NEW_VERSION}`), 'the installed update', 240_000);
    await sim.waitForLine(/^paypad: restart requested/, 'the restart request');
    // The slot file holds the image, byte for byte, and the boot record names it, on trial.
    expect(new Uint8Array(readFileSync(join(root, 'nvs', 'paypad-slot-b.bin')))).toEqual(image);
    expect(JSON.parse(Buffer.from(readSimulatorStorage(build.preferences).get('boot', 'pointer')!).toString('utf8'))).toEqual({ active: 'b', a: FACTORY_VERSION, b: NEW_VERSION, trial: 'pending' });

    // The restart: the new version starts on trial, confirms itself and reports success (B4).
    await sim.stop();
    sim = boot();
    await sim.waitForLine(new RegExp(`^paypad firmware ${NEW_VERSION} \\(trial start\\)`), 'the new program on trial');
    await sim.waitForLine(/^display: SN PP-1001 \| Ready: keys loaded/, 'the status screen of the new program');
    await shoot(sim, 'updated');
    const tms = createTms(reader.db, dataDir);
    let report = await tms.report(deploymentId);
    for (let i = 0; i < 60 && report.terminals.find((t) => t.serial === SERIAL)?.status !== 'success'; i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      report = await tms.report(deploymentId);
    }
    expect(report.terminals.find((t) => t.serial === SERIAL)).toMatchObject({ status: 'success' });
    expect((await tms.inventory.entry(SERIAL))?.versions).toEqual({ [PROGRAM]: NEW_VERSION });

    // Confirmed: the next start is a normal one, of the new version.
    await sim.stop();
    sim = boot();
    await sim.waitForLine(new RegExp(`^paypad firmware ${NEW_VERSION} \\(normal start\\)`), 'the confirmed program');
    console.info(`simulator screenshots in ${screenshots}`);
  }, 10 * 60_000);
});
