/**
 * System A end to end (docs/onboarding.md, SPEC A1-A14): two terminals onboarded through the real
 * CLIs against a running host, then compared key by key as each party sees it.
 *
 *   first:      the production line enrols each terminal (`paypad mtms device enrol`: A8), so MTMS
 *               takes a TK for its serial only signed by that device
 *   terminal 1: its serial is registered for customer 1; the operator confirms the customer MTMS
 *               shows (`paypad operator onboard --yes`: A2-A5)
 *   terminal 2: its serial is registered for customer 1 too, but it was built for customer 2: the
 *               operator rejects the customer shown and enters customer 2's code
 *               (`--customer CODE`: A6), and MTMS re-associates the serial
 *   each:       MTMS's outbox delivers the TK to the right KMS (A7), the terminal loads its TMK
 *               (A11) and working keys (A12) from that KMS (`paypad terminal load-keys`)
 *
 * The host runs in this process (the caller starts it); terminals and the operating terminal are
 * child processes over loopback. Nothing here reads a key: the parties are compared by their key
 * check values (TK: terminal, MTMS, KMS; TMK and working keys: terminal, KMS).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { CA_CERT_FILE, caDirectory } from '../../host/ca/caStorage';
import { operatorDirectory } from '../../host/demoData';
import { createKmsStore } from '../../host/kms/kmsStore';
import { createOutboxStore } from '../../host/outbox/outboxStore';
import type { RunningHost } from '../../host/server';
import { IDENTITY_FILES } from '../../host/tls/identity';
import { type PaypadRunOptions, type PaypadTranscript, runPaypad, runPaypadJson } from './paypadProcess';
import { cliTerminalDriver, type RunningTerminal, type TerminalDriver } from './terminalDriver';

export const KEY_NAMES = ['TK', 'TMK', 'PIK', 'MAK', 'TDK', 'DMK'] as const;
export type KeyName = (typeof KEY_NAMES)[number];

export interface OnboardingScenarioOptions {
  /** A running host (startHost) whose KMSs include both customers'. */
  readonly host: RunningHost;
  /** Where the terminals' state directories go; the caller removes it. */
  readonly workDir: string;
  /** Customer 1 (the serials are registered for it) and customer 2. Default the demo data's C001, C002. */
  readonly customers?: readonly [string, string];
  /** The two terminals' serials, registered for customer 1 already. Default: two new ones, registered here with `paypad mtms serial add`. */
  readonly serials?: readonly [string, string];
  /** Default: the emulated terminal through bin/paypad (terminalDriver.ts). */
  readonly terminals?: TerminalDriver;
  /** Holds cert.pem, key.pem, ca.pem of an operator certificate. Default <dataDir>/operator (demo data). */
  readonly operatorDir?: string;
  /** How long MTMS's outbox may take to deliver a TK. Default 30 s. */
  readonly deliveryTimeoutMs?: number;
  /** One line per step, for a person watching. */
  readonly progress?: (line: string) => void;
  /**
   * Hears of every `paypad` process the scenario runs once it exited, with what it printed (the
   * default terminal driver's too; another driver reports its own). Tests scan these for keys (X1).
   */
  readonly onPaypadExit?: (transcript: PaypadTranscript) => void;
}

/** One key as each party sees it; `agree` when every party that holds it has it and all match. */
export interface KeyView {
  readonly terminal?: string;
  readonly kms?: string;
  /** TK only: MTMS records the check value of the TK it received (A5). */
  readonly mtms?: string;
  readonly agree: boolean;
}

export interface TerminalOutcome {
  readonly serial: string;
  /** Where everything the terminal knows is kept (its root key and vault included). */
  readonly stateDir: string;
  /** The customer MTMS showed the operator first (A3/A4). */
  readonly shownCustomer: string;
  readonly customerCode: string;
  readonly customerName: string;
  /** Set when the operator chose another customer than the one shown (A6). */
  readonly reassociatedFrom?: string;
  readonly deliveryId: string;
  readonly keys: Readonly<Record<KeyName, KeyView>>;
  /** Everything that is not as the requirements say; empty when all is well. */
  readonly problems: readonly string[];
}

export interface OnboardingScenarioResult {
  readonly terminalDriver: string;
  readonly customers: readonly { readonly code: string; readonly name: string; readonly kmsUrl: string }[];
  readonly terminals: readonly TerminalOutcome[];
  /** True when every terminal has no problem. */
  readonly ok: boolean;
}

/** What the operating terminal CLI prints with --json (host/operator/onboarding OnboardingResult). */
interface OperatorResult {
  serial: string;
  customerCode: string;
  customerName: string;
  deliveryId: string;
  reassociatedFrom?: string;
}

const DEFAULT_DELIVERY_TIMEOUT_MS = 30_000;
const POLL_MS = 100;

/**
 * Runs the scenario. @throws PaypadError DEMO_STEP_FAILED when a step cannot be carried out (a CLI
 * failed, a delivery did not arrive); a step that completes with the wrong result is reported in
 * the outcome's problems instead.
 */
export async function runOnboardingScenario(options: OnboardingScenarioOptions): Promise<OnboardingScenarioResult> {
  const { host } = options;
  const say = options.progress ?? (() => {});
  const commands: PaypadRunOptions = { onExit: options.onPaypadExit };
  const driver = options.terminals ?? cliTerminalDriver(commands);
  const [first, second] = options.customers ?? ['C001', 'C002'];
  const customers = await Promise.all([first, second].map(async (code) => {
    const record = await host.mtms.store.customer(code);
    const kms = host.kms.get(code);
    if (record === undefined || kms === undefined) throw new PaypadError('DEMO_STEP_FAILED', `customer ${code} is not known to MTMS with a KMS running in this host`);
    return { code, name: record.name, kmsUrl: kms.url };
  }));

  await mkdir(options.workDir, { recursive: true, mode: 0o700 });
  const serials = options.serials ?? (await registerSerials(host, first, commands, say));
  const caFile = join(caDirectory(host.config.dataDir), CA_CERT_FILE);
  const mtmsPublicKeyHex = toHex(host.mtms.intakePublicKey.publicKey);
  const mtmsKeyFile = join(options.workDir, 'mtms-intake-key.hex');
  await writeFile(mtmsKeyFile, `${mtmsPublicKeyHex}\n`);
  const shared = { caFile, caPem: await readFile(caFile, 'utf8'), mtmsKeyFile, mtmsPublicKeyHex };
  const flags = operatorFlags(host, options.operatorDir);

  const plans = [
    { serial: serials[0], builtFor: customers[0], operatorAnswer: ['--yes'] },
    { serial: serials[1], builtFor: customers[1], operatorAnswer: ['--customer', customers[1].code] },
  ];
  const outcomes: TerminalOutcome[] = [];
  for (const plan of plans) {
    say(`terminal ${plan.serial}: manufactured for ${plan.builtFor.code}'s KMS ${plan.builtFor.kmsUrl}`);
    const stateDir = join(options.workDir, `terminal-${plan.serial}`);
    const terminal = await driver.start({ ...shared, stateDir, serial: plan.serial, kmsUrl: plan.builtFor.kmsUrl });
    try {
      outcomes.push({ ...(await onboardOne(options, terminal, plan, customers, flags, commands, say)), stateDir });
    } finally {
      await terminal.stop();
    }
  }
  return { terminalDriver: driver.name, customers, terminals: outcomes, ok: outcomes.every((o) => o.problems.length === 0) };
}

async function onboardOne(
  options: OnboardingScenarioOptions,
  terminal: RunningTerminal,
  plan: { serial: string; builtFor: { code: string; name: string }; operatorAnswer: string[] },
  customers: readonly { code: string; name: string }[],
  flags: readonly string[],
  commands: PaypadRunOptions,
  say: (line: string) => void,
): Promise<Omit<TerminalOutcome, 'stateDir'>> {
  const { host } = options;
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => void (ok || problems.push(problem));
  const shownCustomer = (await host.mtms.store.serial(plan.serial))?.customerCode ?? '(none)';
  expect(shownCustomer === customers[0].code, `serial ${plan.serial} is registered for ${shownCustomer}, not customer 1 (${customers[0].code}): the scenario needs it there`);

  say(`terminal ${plan.serial}: local link on ${terminal.link}; paypad mtms device enrol (A8: the production line certifies its identity key)`);
  const enrolled = await runPaypadJson<{ serial: string; deviceCertSerial: string }>(['mtms', 'device', 'enrol', '--link', terminal.link, ...flags], commands);
  expect(enrolled.serial === plan.serial, `the production line enrolled serial ${enrolled.serial}, not ${plan.serial}`);
  const deviceCert = (await host.ca.current({ role: 'device', name: plan.serial }, new Date())).map((c) => c.serial);
  expect(deviceCert.length === 1 && deviceCert[0] === enrolled.deviceCertSerial, `the CA holds device certificate(s) ${deviceCert.join(', ') || 'none'} for ${plan.serial}, not ${enrolled.deviceCertSerial}`);

  say(`terminal ${plan.serial}: paypad operator onboard ${plan.operatorAnswer.join(' ')}`);
  const onboarded = await runPaypadJson<OperatorResult>(['operator', 'onboard', '--link', terminal.link, ...flags, ...plan.operatorAnswer], commands);
  expect(onboarded.serial === plan.serial, `the operator onboarded serial ${onboarded.serial}, not ${plan.serial}`);
  expect(onboarded.customerCode === plan.builtFor.code, `MTMS took the TK for ${onboarded.customerCode}, not ${plan.builtFor.code}`);
  const reassociated = shownCustomer !== plan.builtFor.code;
  expect(onboarded.reassociatedFrom === (reassociated ? shownCustomer : undefined), `re-association reported as ${onboarded.reassociatedFrom ?? 'none'}, expected ${reassociated ? shownCustomer : 'none'} (A6)`);
  const nowRegistered = (await host.mtms.store.serial(plan.serial))?.customerCode;
  expect(nowRegistered === plan.builtFor.code, `MTMS's serial table has ${plan.serial} under ${nowRegistered}, not ${plan.builtFor.code} (A6)`);

  say(`terminal ${plan.serial}: MTMS queued delivery ${onboarded.deliveryId} for ${onboarded.customerCode}; waiting for the outbox`);
  await waitForDelivery(host, onboarded.deliveryId, options.deliveryTimeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS);

  say(`terminal ${plan.serial}: paypad terminal load-keys`);
  const loaded = await terminal.loadKeys();
  const status = await terminal.status();
  expect(status.stage === 'signed-on', `the terminal's stage is ${status.stage}, not signed-on`);

  const kmsStore = createKmsStore(host.database.db);
  const atKms = await kmsStore.terminal(plan.builtFor.code, plan.serial);
  for (const other of customers.filter((c) => c.code !== plan.builtFor.code)) {
    expect((await kmsStore.terminal(other.code, plan.serial)) === undefined, `the KMS of ${other.code} holds keys for ${plan.serial} too (A7, A8)`);
  }
  const intake = await host.mtms.store.latestIntake(plan.serial);
  const tkSlot = status.slots.find((s) => s.slot === 'TK');
  const keys = compareKeys({
    TK: { terminal: tkSlot && 'kcv' in tkSlot ? tkSlot.kcv : undefined, kms: atKms?.tk.kcv, mtms: intake?.tkKcv },
    TMK: { terminal: loaded.TMK, kms: atKms?.tmk?.kcv },
    PIK: { terminal: loaded.PIK, kms: atKms?.workingKeys?.PIK.kcv },
    MAK: { terminal: loaded.MAK, kms: atKms?.workingKeys?.MAK.kcv },
    TDK: { terminal: loaded.TDK, kms: atKms?.workingKeys?.TDK.kcv },
    DMK: { terminal: loaded.DMK, kms: atKms?.workingKeys?.DMK.kcv },
  });
  for (const name of KEY_NAMES) expect(keys[name].agree, `${name}: the parties' check values disagree or one is missing`);
  expect(atKms?.tkDeliveryId === onboarded.deliveryId, `the KMS's TK came with delivery ${atKms?.tkDeliveryId ?? 'none'}, not ${onboarded.deliveryId}`);

  return {
    serial: plan.serial,
    shownCustomer,
    customerCode: onboarded.customerCode,
    customerName: onboarded.customerName,
    ...(onboarded.reassociatedFrom === undefined ? {} : { reassociatedFrom: onboarded.reassociatedFrom }),
    deliveryId: onboarded.deliveryId,
    keys,
    problems,
  };
}

function compareKeys(views: Record<KeyName, Omit<KeyView, 'agree'>>): Record<KeyName, KeyView> {
  const out = {} as Record<KeyName, KeyView>;
  for (const name of KEY_NAMES) {
    const seen = Object.values(views[name]);
    out[name] = { ...views[name], agree: seen.every((v) => typeof v === 'string' && v.length > 0 && v === seen[0]) };
  }
  return out;
}

/** The operating terminal's MTMS address and certificate flags, answers as JSON; `operatorDir` defaults to the demo data's operator. */
export function operatorFlags(host: RunningHost, operatorDir: string = operatorDirectory(host.config.dataDir)): string[] {
  return ['--mtms', host.mtms.url, '--cert', join(operatorDir, IDENTITY_FILES.cert), '--key', join(operatorDir, IDENTITY_FILES.key), '--ca', join(operatorDir, IDENTITY_FILES.ca), '--json'];
}

/** The MTMS administrator registers two new serials for `customer` (A3), as a person would. */
async function registerSerials(host: RunningHost, customer: string, commands: PaypadRunOptions, say: (line: string) => void): Promise<[string, string]> {
  const serials: [string, string] = [newSerial(), newSerial()];
  say(`paypad mtms serial add --serial ${serials.join(',')} --customer ${customer}`);
  await runPaypad(['mtms', 'serial', 'add', '--serial', serials.join(','), '--customer', customer], { ...commands, env: databaseEnv(host) });
  return serials;
}

/** PP- and 6 random hex digits: a serial no earlier run used. */
function newSerial(): string {
  return `PP-${randomBytes(3).toString('hex').toUpperCase()}`;
}

/** The host's data directory and database for an admin CLI; an empty DATABASE_URL means SQLite (host/config). */
export function databaseEnv(host: RunningHost): Record<string, string> {
  const { config } = host;
  return { PAYPAD_DATA_DIR: config.dataDir, DATABASE_URL: config.database.dialect === 'postgres' ? config.database.url : '' };
}

/** A7: the outbox row of the delivery is delivered. @throws DEMO_STEP_FAILED when it died, was dropped, or took too long. */
export async function waitForDelivery(host: RunningHost, deliveryId: string, timeoutMs: number = DEFAULT_DELIVERY_TIMEOUT_MS): Promise<void> {
  const outbox = createOutboxStore(host.database.db, host.database.dialect);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await outbox.byKey(deliveryId);
    if (row?.state === 'delivered') return;
    if (row?.state === 'dead' || row?.state === 'discarded') {
      throw new PaypadError('DEMO_STEP_FAILED', `delivery ${deliveryId} is ${row.state}: ${row.lastError ?? 'no error recorded'}`);
    }
    if (Date.now() > deadline) {
      throw new PaypadError('DEMO_STEP_FAILED', `delivery ${deliveryId} was not delivered within ${timeoutMs} ms (${row ? `${row.state}, ${row.attempts} attempts, last error ${row.lastError ?? 'none'}` : 'no outbox row'})`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
