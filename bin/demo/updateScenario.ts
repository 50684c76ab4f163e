/**
 * System B unattended, on a running host (host/server startHost: every KMS with POSP and the TMS
 * beside it). What `npm run demo:update` prints and test/e2e/programUpdate.test.ts checks:
 *
 *   1. two emulated terminals of customer C001 get their keys (their TK handed to the KMS as
 *      MTMS's outbox would; demo:onboarding shows that path), then start their factory program 1.0.0;
 *   2. the vendor makes a key and signs a package of 1.1.0 with the real CLI (`paypad tms
 *      vendor-key`, `paypad tms package`), and the operator deploys it to both (`paypad tms deploy`);
 *   3. terminal 1 checks on its schedule (B5, daily 17:00 +08:00) and installs; terminal 2 pays a
 *      demo payee and its MAC'd answer carries the TMS's notice (B6), so it checks and installs;
 *   4. both restart into 1.1.0, which confirms itself and reports its version;
 *   5. `paypad tms status` and `paypad tms inventory` show what the terminals did.
 *
 * Each terminal runs the firmware's own update code (firmware/core/updateClient, updateTriggers)
 * on the Node HAL and its two program slots.
 */
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asciiToBytes, fromHex, toHex } from '../../shared/bytes';
import { decodeKeyEnvelope, encodeKeyEnvelope, generateP256KeyPair, unwrapKeyAsRecipient, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { PaypadError } from '../../shared/errors';
import { Terminal } from '../../firmware/core/terminal';
import { provisionTerminal } from '../../firmware/core/terminalIdentity';
import type { UpdateCheckResult } from '../../firmware/core/updateClient';
import { openNodeDevice } from '../../firmware/hal/node/nodeDevice';
import { openNodeUpdates } from '../../firmware/hal/node/nodeUpdates';
import { createNodeRng } from '../../firmware/hal/node/rng';
import type { RunningHost } from '../../host/server';
import { databaseEnv } from './onboardingScenario';
import { runPaypad } from './paypadProcess';

export const UPDATE_MODEL = 'PP-ESP32';
export const UPDATE_PROGRAM = 'paypad-firmware';
export const UPDATE_SERIALS = ['PP-UPD-0001', 'PP-UPD-0002'] as const;
export const FACTORY_VERSION = '1.0.0';
export const NEW_VERSION = '1.1.0';
export const DEMO_PAYEE = '13800138000';
/** A test image: five 8 KiB chunks and a short one. */
const IMAGE_BYTES = 5 * 8192 + 77;
const SCHEDULE = { every: 'day', at: '17:00', utcOffsetMinutes: 480 } as const;

export interface UpdateStep {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface UpdateScenarioResult {
  readonly ok: boolean;
  readonly steps: readonly UpdateStep[];
  /** The deployment `paypad tms deploy` made. */
  readonly deploymentId: number;
  /** What `paypad tms status --deployment` and `paypad tms inventory` printed at the end. */
  readonly status: string;
  readonly inventory: string;
}

export interface UpdateScenarioOptions {
  readonly host: RunningHost;
  readonly workDir: string;
  readonly progress?: (line: string) => void;
}

export async function runUpdateScenario(options: UpdateScenarioOptions): Promise<UpdateScenarioResult> {
  const { host, workDir } = options;
  const say = options.progress ?? (() => undefined);
  const env = { env: databaseEnv(host) };
  const steps: UpdateStep[] = [];
  const step = (name: string, ok: boolean, detail: string) => {
    steps.push({ name, ok, detail });
    say(`${ok ? 'ok' : 'FAIL'}: ${name}: ${detail}`);
  };
  await mkdir(workDir, { recursive: true });
  const mtms = generateP256KeyPair(createNodeRng());

  // 1. Keys, then the factory program's first start.
  const stateDirs: string[] = [];
  for (const [i, serial] of UPDATE_SERIALS.entries()) stateDirs.push(await manufactureUpdateTerminal({ host, workDir, serial, intakeSequence: i + 1, mtms }));
  step('keys', true, `${UPDATE_SERIALS.join(' and ')} hold TMK and working keys (DMK included) from the KMS of C001`);

  // 2. The vendor and the operator, with the CLI.
  const vendorDir = join(workDir, 'vendor');
  say((await runPaypad(['tms', 'vendor-key', '--name', 'Paypad Demo Vendor', '--out', vendorDir], env)).stdout.trim());
  const vendorKey = fromHex((await readFile(join(vendorDir, 'vendor.pub'), 'utf8')).trim());
  const boot = (stateDir: string) => bootUpdateTerminal(stateDir, vendorKey);
  const [first, second] = stateDirs.map(boot);
  for (const t of [first, second]) await t.client.start();

  const imageFile = join(workDir, 'paypad-firmware-1.1.0.bin');
  const image = new Uint8Array(randomBytes(IMAGE_BYTES));
  await writeFile(imageFile, image);
  const packaged = (await runPaypad(['tms', 'package', '--image', imageFile, '--name', UPDATE_PROGRAM, '--version', NEW_VERSION, '--models', UPDATE_MODEL, '--minimum-version', FACTORY_VERSION, '--security-counter', '1', '--vendor-key', vendorDir], env)).stdout.trim();
  say(packaged);
  const packageId = /^package (\d+):/.exec(packaged)?.[1];
  if (packageId === undefined) throw new PaypadError('DEMO_STEP_FAILED', `paypad tms package printed no package id: ${packaged}`);
  step('package', packaged.includes(createHash('sha256').update(image).digest('hex').toUpperCase()), packaged);
  const deployed = (await runPaypad(['tms', 'deploy', '--package', packageId, '--serials', UPDATE_SERIALS.join(','), '--failure-threshold', '0', '--mode', 'attempt'], env)).stdout.trim();
  const deploymentId = Number(/^deployment (\d+):/.exec(deployed)?.[1] ?? Number.NaN);
  step('deploy', Number.isSafeInteger(deploymentId), deployed);

  // 3. B5 on terminal 1: the first tick starts the count; the next due time (17:00 +08:00) checks.
  const now = Date.now();
  first.triggers.tick(now);
  const due = first.triggers.due(now) ?? Number.NaN;
  const scheduled = await first.triggers.tick(due + 1);
  step('B5 schedule', scheduled?.outcome === 'installed' && first.restarts.n === 1, `terminal 1 checked at its due time ${new Date(due).toISOString()}: ${JSON.stringify(scheduled)}, restarts ${first.restarts.n}`);

  // B6 on terminal 2: a payee lookup through POSP; the notice rides in its MAC'd answer, and the
  // terminal hands it to its update triggers itself.
  const lookup = await second.terminal.lookupPayee(DEMO_PAYEE);
  const noticed = (await second.noticeChecked) as UpdateCheckResult | Error;
  step('B6 notice', !(noticed instanceof Error) && noticed.outcome === 'installed' && second.restarts.n === 1, `the lookup answer carried ${JSON.stringify(lookup.updateNotice)}; the check: ${JSON.stringify(noticed)}, restarts ${second.restarts.n}`);

  // 4. Each restarts into the new program, which confirms itself and reports its version.
  for (const [i, stateDir] of stateDirs.entries()) {
    const next = boot(stateDir);
    await next.client.start();
    const again = await next.client.check('manual');
    step(`restart ${i + 1}`, next.updater.currentVersion === NEW_VERSION && again.outcome === 'none', `terminal ${i + 1} runs ${next.updater.currentVersion} (${next.updater.startKind} start), confirmed; a new check finds nothing`);
  }

  // 5. What the TMS shows.
  const status = (await runPaypad(['tms', 'status', '--deployment', String(deploymentId)], env)).stdout.trim();
  step('status', /completed/.test(status.split('\n')[0]) && (status.match(/ success /g) ?? []).length === UPDATE_SERIALS.length, status);
  const inventory = (await runPaypad(['tms', 'inventory'], env)).stdout.trim();
  step('inventory', UPDATE_SERIALS.every((s) => new RegExp(`${s}.*${UPDATE_PROGRAM} ${NEW_VERSION.replace(/\./g, '\\.')}`).test(inventory)), inventory);
  return { ok: steps.every((s) => s.ok), steps, deploymentId, status, inventory };
}

export interface UpdateTerminalManufacture {
  readonly host: RunningHost;
  readonly workDir: string;
  readonly serial: string;
  /** The KMS intake's sequence for this terminal's TK delivery. */
  readonly intakeSequence: number;
  /** MTMS's key pair: the terminal wraps its TK to it, and it rewraps the TK for the KMS. */
  readonly mtms: { readonly privateKey: Uint8Array; readonly publicKey: Uint8Array };
}

/**
 * An emulated terminal of C001 in `workDir/serial`, manufactured and provisioned, its TK handed
 * to the KMS as MTMS's outbox would, then TMK downloaded and signed on. Returns its state directory.
 */
export async function manufactureUpdateTerminal(options: UpdateTerminalManufacture): Promise<string> {
  const { host, serial, mtms } = options;
  const rng = createNodeRng();
  const kms = host.kms.get('C001');
  if (kms === undefined) throw new PaypadError('DEMO_STEP_FAILED', 'the demo customer C001 has no KMS');
  const caDer = new Uint8Array(new X509Certificate(host.ca.caCertificatePem).raw);
  const stateDir = join(options.workDir, serial);
  await mkdir(stateDir, { recursive: true });
  const device = openNodeDevice(stateDir, { manufacture: true });
  provisionTerminal(device.storage, { serial, mtmsPublicKey: mtms.publicKey, kmsUrl: kms.url, trustAnchor: caDer });
  const terminal = Terminal.open(device);
  const answer = await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
  if (!('tkEnvelope' in answer)) throw new PaypadError('DEMO_STEP_FAILED', `terminal ${serial} gave no TK envelope`);
  const context = asciiToBytes(`paypad-tk|${serial}`);
  const tk = unwrapKeyAsRecipient(mtms.privateKey, decodeKeyEnvelope(fromHex(answer.tkEnvelope)), context);
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, tk, context, rng));
  await kms.service.receiveTk({ v: 1, deliveryId: `demo-update-${serial}`, serial, envelope: toHex(envelope), customerCode: 'C001', intakeSequence: options.intakeSequence });
  await terminal.downloadTmk();
  await terminal.signOn();
  return stateDir;
}

/**
 * One start of the program in `stateDir`: its update client and triggers (openNodeUpdates) with
 * the demo's model, program, factory version and schedule; `restarts` counts the restarts it asked
 * for, `noticeChecked` settles with the first check a POSP notice started.
 */
export function bootUpdateTerminal(stateDir: string, vendorKey: Uint8Array) {
  const restarts = { n: 0 };
  let noticeCheck: (outcome: unknown) => void = () => undefined;
  const noticeChecked = new Promise<unknown>((resolve) => (noticeCheck = resolve));
  const updates = openNodeUpdates(stateDir, {
    model: UPDATE_MODEL,
    programName: UPDATE_PROGRAM,
    vendorKeys: [vendorKey],
    factoryVersion: FACTORY_VERSION,
    restart: () => void restarts.n++,
    schedule: SCHEDULE,
    onNoticeCheck: (outcome) => noticeCheck(outcome),
  });
  return { ...updates, restarts, noticeChecked };
}
