/**
 * SPEC X1 for the onboarding runs of onboarding.test.ts: everything the runs wrote or sent, and
 * every key the terminals ended up with, for keyLeakScan.findKeys.
 *
 * Sources: the host's log (written at trace level to a file), stdout and stderr of every CLI
 * process the scenario ran (the operator's --json answers, which carry MTMS's responses, among
 * them), every row of the host database as text, every file under the host's data directory and
 * the terminals' directories (the SQLite database with its -wal and -shm, after a checkpoint), and
 * the bytes every listener of the host sent (httpCapture.ts: KMS answers to terminals and to MTMS,
 * MTMS answers to the operator).
 *
 * Not scanned, and listed instead: the files that are keys by design, each terminal's root key
 * (firmware/hal/node/rootKey.ts) and each HSM's master key (host/hsm/lmkFile.ts).
 *
 * A canary proves the search can fail: a fresh random key, written to the host log in each text
 * encoding and as raw bytes to a file of the scanned tree, must be found exactly there.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { OnboardingScenarioResult } from '../../../bin/demo/onboardingScenario';
import type { PaypadTranscript } from '../../../bin/demo/paypadProcess';
import { LMK_FILE_NAME } from '../../../host/kms/kmsInstance';
import type { Logger } from '../../../host/log';
import type { RunningHost } from '../../../host/server';
import { ROOT_KEY_FILE } from '../../../firmware/hal/node/rootKey';
import type { HttpCapture } from './httpCapture';
import { ENCODINGS, type LeakHit, type ScanSource, type SecretKey, findKeys, keyEncodings, scanTotals } from './keyLeakScan';
import { databaseRows, filesUnder } from './runArtifacts';
import { type RecoveredKey, recoverTerminalKeys } from './vaultKeys';

export interface CompletedRun {
  readonly engine: 'node' | 'xs';
  /** The scenario's workDir: the terminals' state directories are in it. */
  readonly workDir: string;
  readonly result: OnboardingScenarioResult;
}

export interface X1Inputs {
  readonly host: RunningHost;
  /** The host's logger, writing to logFile: the canary goes through it. */
  readonly logger: Logger;
  readonly logFile: string;
  readonly http: HttpCapture;
  readonly transcripts: readonly PaypadTranscript[];
  readonly runs: readonly CompletedRun[];
  /**
   * More secrets to look for beside the terminals' keys (X1 for payments: card numbers, track 2,
   * PIN blocks), each searched for in the same encodings; a hit is a leak like a key's.
   */
  readonly secrets?: readonly SecretKey[];
}

export interface X1Report {
  /** The keys searched for, without their bytes (wiped after the search). */
  readonly keys: readonly Omit<RecoveredKey, 'key'>[];
  readonly sources: readonly ScanSource[];
  /** Files not scanned because they are key material, as "<tree>/<path>". */
  readonly keyMaterial: readonly string[];
  /** Hits of the terminals' keys: must be none. */
  readonly leaks: readonly LeakHit[];
  /** Where the canary was put and where the search found it, as "<source kind> <encoding>". */
  readonly canaryPlanted: readonly string[];
  readonly canaryFound: readonly string[];
  /** For a person reading the test output: what was scanned, and what was not. */
  readonly summary: string;
}

const CANARY = 'canary';
const CANARY_FILE = 'x1-canary.bin';

export async function scanRunForKeys(inputs: X1Inputs): Promise<X1Report> {
  const { host, runs } = inputs;
  const keys = runs.flatMap((run) => run.result.terminals.map((t) => recoverTerminalKeys(t.stateDir, t.serial))).flat();
  const canaryPlanted = plantCanary(inputs.logger, runs[0].workDir);

  // The database first: on SQLite its checkpoint must precede reading the files.
  const sources: ScanSource[] = [
    ...(await databaseRows(host.database)),
    logSource(inputs.logFile),
    ...inputs.transcripts.flatMap(cliSources),
    ...httpSources(inputs),
  ];
  const keyMaterial: string[] = [];
  const isKeyMaterial = (path: string) => [ROOT_KEY_FILE, LMK_FILE_NAME].includes(basename(path));
  for (const [dir, label] of [[host.config.dataDir, 'data'], ...runs.map((r) => [r.workDir, `terminals-${r.engine}`])]) {
    const tree = filesUnder(dir, label, isKeyMaterial);
    sources.push(...tree.sources);
    keyMaterial.push(...tree.keyMaterial.map((path) => `${label}/${path}`));
  }

  const secrets = inputs.secrets ?? [];
  const hits = findKeys([...keys.map((k) => ({ label: `${k.serial} ${k.name}`, key: k.key })), ...secrets, { label: CANARY, key: canaryPlanted.key }], sources);
  const leaks = hits.filter((h) => h.key !== CANARY);
  const kindOf = new Map(sources.map((s) => [s.name, s.kind]));
  const canaryFound = [...new Set(hits.filter((h) => h.key === CANARY).map((h) => `${kindOf.get(h.source)} ${h.encoding}`))].sort();
  for (const k of keys) k.key.fill(0);
  const summary = summarize(keys, sources, keyMaterial, leaks, canaryFound) + (secrets.length ? `\n  and ${secrets.length} card secrets (${[...new Set(secrets.map((s) => s.label.split(' ')[0]))].join(', ')})` : '');
  return { keys: keys.map(({ serial, name, kcv }) => ({ serial, name, kcv })), sources, keyMaterial, leaks, canaryPlanted: canaryPlanted.where, canaryFound, summary };
}

/** A random key in every text encoding on its own log line, and raw in a file; returns where, as canaryFound spells it. */
function plantCanary(logger: Logger, dir: string): { key: Uint8Array; where: string[] } {
  const key = new Uint8Array(randomBytes(16));
  for (const { encoding, needle } of keyEncodings(key)) {
    if (encoding !== 'raw') logger.info(`X1 scan canary (${encoding}): ${Buffer.from(needle).toString('ascii')}`);
  }
  writeFileSync(join(dir, CANARY_FILE), key);
  // A padded base64 line holds the unpadded form too, and base64url equals base64 without '+' or '/':
  // every text encoding is expected in the log, whichever line it is found on.
  return { key, where: [...ENCODINGS.filter((e) => e !== 'raw').map((e) => `log ${e}`), 'file raw'].sort() };
}

function logSource(logFile: string): ScanSource {
  const bytes = new Uint8Array(readFileSync(logFile));
  const lines = Buffer.from(bytes).toString('utf8').split('\n').filter(Boolean).length;
  return { name: `log host.log (${lines} lines)`, kind: 'log', bytes };
}

function cliSources(t: PaypadTranscript, index: number): ScanSource[] {
  const command = `paypad ${t.args.slice(0, 2).join(' ')} #${index + 1}`;
  return (['stdout', 'stderr'] as const).map((stream) => ({ name: `cli ${command} ${stream}`, kind: 'cli', bytes: new Uint8Array(Buffer.from(t[stream], 'utf8')) }));
}

/** What each listener of the host sent, named by its role. */
function httpSources({ host, http }: X1Inputs): ScanSource[] {
  const roles = new Map<number, string>([[Number(new URL(host.url).port), 'host app'], [Number(new URL(host.mtms.url).port), 'MTMS']]);
  for (const kms of host.kms.running()) roles.set(Number(new URL(kms.url).port), `KMS ${kms.customerCode}`);
  return http.ports().map((port) => ({ name: `http ${roles.get(port) ?? 'other listener'} :${port}`, kind: 'http', bytes: http.sentBy(port) }));
}

function summarize(keys: readonly Omit<RecoveredKey, 'key'>[], sources: readonly ScanSource[], keyMaterial: readonly string[], leaks: readonly LeakHit[], canaryFound: readonly string[]): string {
  const terminals = new Set(keys.map((k) => k.serial)).size;
  const lines = [`X1 scan: ${keys.length} keys of ${terminals} terminals (${[...new Set(keys.map((k) => k.name))].join(', ')}), each as ${ENCODINGS.join(', ')}`];
  for (const [kind, total] of Object.entries(scanTotals(sources))) lines.push(`  ${kind.padEnd(9)} ${String(total.sources).padStart(4)} sources ${String(total.bytes).padStart(10)} bytes`);
  for (const source of sources.filter((s) => s.kind === 'http' || s.kind === 'log')) lines.push(`    ${source.name}: ${source.bytes.byteLength} bytes`);
  lines.push(`  not scanned, key material by design: ${keyMaterial.join(', ')}`);
  lines.push(`  hits of terminal keys: ${leaks.length}; canary found as: ${canaryFound.join(', ')}`);
  return lines.join('\n');
}
