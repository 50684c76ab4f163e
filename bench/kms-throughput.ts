/**
 * How many TMK downloads (A11) and sign-ons (A12) one KMS serves per second to concurrent
 * emulated terminals over its real HTTPS endpoints, on SQLite and on PostgreSQL, beside the rate
 * of a bare node:http and node:https server measured in the same run with the same client and
 * concurrency. The ratio KMS ÷ bare is the figure: absolute rates belong to this host and load.
 *
 * Terminals are the firmware's own code (firmware/core Terminal and KmsClient) over the Node HAL's
 * Http: every request is MAC'd (X2), every answer's MAC verified, every key unwrapped and its KCV
 * checked before it counts. Set-up is in kmsTestbed.ts; the load generator is closedLoop.ts.
 */
import { connect } from 'node:net';
import type { Terminal } from '../firmware/core/terminal';
import { createNodeHttp } from '../firmware/hal/node/http';
import { describeDatabase } from '../host/config';
import { bareRequest, startBareServers } from './bareServers';
import { type LoadResult, cpuMsPerOp, errorCodeOf, pooled, runClosedLoop } from './closedLoop';
import { type DatabaseTarget, type KmsTestbed, createStore, openKmsTestbed } from './kmsTestbed';
import { type BenchReport, type Benchmark, type Cell, throughputCells, throughputColumns } from './report';

/** Concurrent terminals, one request in flight each. */
const TERMINALS = 16;
/**
 * Each kind of request is measured in ROUNDS windows of WINDOW_MS, the kinds taking turns
 * (http, https, TMK, sign-on, then again), so load from other processes on the host falls on the
 * KMS and on its baseline alike. A window also ends after WINDOW_MAX_OPS requests.
 */
const ROUNDS = 3;
const WINDOW_MS = 1_000;
const WINDOW_MAX_OPS = 20_000;
/**
 * Load before each window (closedLoop.ts): longer than a typical KMS request at this concurrency,
 * and on the first round it also gets the JIT compiler through the code of both sides.
 */
const RAMP_MS = 500;
/** Where PostgreSQL is tried when DATABASE_URL is not set but something answers on its port. */
const LOCAL_POSTGRES = { host: '127.0.0.1', port: 5432, url: 'postgres://postgres@127.0.0.1:5432/postgres' };
const PROBE_TIMEOUT_MS = 500;

export const DIALECT_LABEL = { sqlite: 'SQLite', postgres: 'PostgreSQL' } as const;

interface Candidate {
  readonly target: DatabaseTarget;
  /** Found by probing the port, not asked for: a refusal skips it instead of failing the run. */
  readonly probed: boolean;
  /** Host, port and database, no credentials (host/config describeDatabase): for the report. */
  readonly where: string;
}

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: PROBE_TIMEOUT_MS });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** SQLite, and PostgreSQL when DATABASE_URL is set or something answers on its port (mobile-payments measures the same). */
export async function databaseCandidates(): Promise<{ list: Candidate[]; notes: string[] }> {
  const list: Candidate[] = [{ target: { dialect: 'sqlite' }, probed: false, where: 'temporary file' }];
  const asked = process.env.DATABASE_URL;
  if (asked) {
    list.push({ target: { dialect: 'postgres', adminUrl: asked }, probed: false, where: describeDatabase({ dialect: 'postgres', url: asked }) });
    return { list, notes: [] };
  }
  if (await portAnswers(LOCAL_POSTGRES.host, LOCAL_POSTGRES.port)) {
    list.push({ target: { dialect: 'postgres', adminUrl: LOCAL_POSTGRES.url }, probed: true, where: describeDatabase({ dialect: 'postgres', url: LOCAL_POSTGRES.url }) });
    return { list, notes: [] };
  }
  return { list, notes: [`PostgreSQL not measured: DATABASE_URL is not set and nothing answers on ${LOCAL_POSTGRES.host}:${LOCAL_POSTGRES.port}.`] };
}

type Row = Record<string, Cell>;
type Kind = 'http' | 'https' | 'tmk' | 'signOn';
const KINDS: readonly Kind[] = ['http', 'https', 'tmk', 'signOn'];
const KIND_LABEL: Readonly<Record<Kind, string>> = {
  http: 'bare node:http (baseline)',
  https: 'bare node:https, KMS TLS (baseline)',
  tmk: 'TMK download (A11)',
  signOn: 'sign-on, 4 working keys (A12)',
};

const closedLoop = (op: (worker: number) => Promise<void>) => runClosedLoop({ workers: TERMINALS, rampMs: RAMP_MS, durationMs: WINDOW_MS, maxOps: WINDOW_MAX_OPS, op });

function rows(database: string, rounds: readonly Record<Kind, LoadResult>[]): Row[] {
  const all = Object.fromEntries(KINDS.map((k) => [k, pooled(rounds.map((r) => r[k]))])) as Record<Kind, LoadResult>;
  return KINDS.map((kind) => {
    const result = all[kind];
    // The same ratio per round, against that round's own https window: how much the host's drift moved it.
    const perRound = rounds.map((r) => r[kind].opsPerSecond / r.https.opsPerSecond);
    return {
      database,
      requests: KIND_LABEL[kind],
      ...throughputCells(result),
      overHttps: result.opsPerSecond / all.https.opsPerSecond,
      overHttpsRounds: `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}`,
      overHttp: result.opsPerSecond / all.http.opsPerSecond,
      cpuMsPerOp: cpuMsPerOp(result),
      overHttpsByCpu: cpuMsPerOp(all.https) / cpuMsPerOp(result),
      ops: result.ops,
      windowMs: result.windowMs,
      cpuPerWall: result.cpuMs / result.wallMs,
      errorCodes: JSON.stringify(result.errorCodes),
    };
  });
}

/**
 * Against one testbed: every terminal loads its keys once, then ROUNDS rounds of the four kinds
 * of request. Failures name what went wrong; the numbers are still returned.
 */
async function measure(bed: KmsTestbed, label: string): Promise<{ rows: Row[]; failures: string[] }> {
  const failures: string[] = [];
  const http = createNodeHttp();
  const bare = await startBareServers(bed.kmsLikeIdentity);
  try {
    const bareOp = (url: string) => () => bareRequest(http, url, bed.caDer);
    const terminal = (worker: number): Terminal => bed.terminals[worker];
    const ops: Readonly<Record<Kind, (worker: number) => Promise<void>>> = {
      http: bareOp(bare.httpUrl),
      https: bareOp(bare.httpsUrl),
      tmk: async (w) => void (await terminal(w).downloadTmk()),
      signOn: async (w) => void (await terminal(w).signOn()),
    };

    // Each terminal loads its keys once before anything is timed: proves the path, warms the KMS.
    await Promise.all(
      bed.terminals.map(async (t) => {
        await t.downloadTmk();
        await t.signOn();
      }),
    );

    const rounds: Record<Kind, LoadResult>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const results = {} as Record<Kind, LoadResult>;
      for (const kind of KINDS) {
        results[kind] = await closedLoop(ops[kind]);
        const { errors, errorCodes } = results[kind];
        if (errors > 0) failures.push(`${label}, ${KIND_LABEL[kind]}, round ${round + 1}: ${errors} failed requests ${JSON.stringify(errorCodes)}`);
      }
      rounds.push(results);
    }

    // Every terminal must end signed on under the keys the KMS issued last (its MAK is current).
    for (const t of bed.terminals) {
      try {
        const { stage } = await t.status();
        if (stage !== 'signed-on') failures.push(`${label}: terminal ${t.serial} ended at stage ${stage}, not signed-on`);
      } catch (e) {
        failures.push(`${label}: terminal ${t.serial} status failed (${errorCodeOf(e)})`);
      }
    }
    return { rows: rows(label, rounds), failures };
  } finally {
    await bare.close();
  }
}

export const kmsThroughputBenchmark: Benchmark = {
  name: 'kms-throughput',
  async run(): Promise<BenchReport> {
    const { list, notes: skipped } = await databaseCandidates();
    const rows: Row[] = [];
    const failures: string[] = [];
    const environment: Record<string, string> = {};
    for (const candidate of list) {
      const label = DIALECT_LABEL[candidate.target.dialect];
      let store;
      try {
        store = await createStore(candidate.target);
      } catch (e) {
        if (!candidate.probed) throw e;
        skipped.push(`${label} not measured: ${candidate.where} answered but refused the benchmark's connection (${errorCodeOf(e)}: ${(e as Error).message.slice(0, 120)}); set DATABASE_URL.`);
        continue;
      }
      const bed = await openKmsTestbed(store, TERMINALS);
      try {
        environment[label] = `${bed.databaseVersion} (${candidate.where})`;
        const measured = await measure(bed, label);
        rows.push(...measured.rows);
        failures.push(...measured.failures);
      } finally {
        await bed.close();
      }
    }
    return {
      name: 'kms-throughput',
      title: 'KMS throughput: TMK downloads and sign-ons from concurrent emulated terminals',
      columns: [
        { key: 'database', label: 'Database' },
        { key: 'requests', label: 'Requests' },
        ...throughputColumns(0),
        { key: 'overHttps', label: '÷ bare https', digits: 3 },
        { key: 'overHttpsRounds', label: '÷ bare https, per round' },
        { key: 'overHttp', label: '÷ bare http', digits: 3 },
        { key: 'cpuMsPerOp', label: 'CPU ms / op', digits: 2 },
        { key: 'overHttpsByCpu', label: '÷ bare https, by CPU', digits: 3 },
      ],
      rows,
      notes: [
        `Closed loop: ${TERMINALS} clients, one request in flight each. Per database, ${ROUNDS} rounds of four ${WINDOW_MS / 1000} s windows (bare http, bare https, TMK download, sign-on), so drift in the host's load falls on the KMS and its baseline alike; a row pools its ${ROUNDS} windows. Each window opens after ${RAMP_MS} ms of the same load and closes when requests stop starting; ops/s counts the successful requests that completed inside the windows, over their length (ramp and drain are checked for errors but not counted); p50/p99 are nearest-rank latencies of the counted requests. Any error makes the run invalid.`,
        `÷ bare https / ÷ bare http: the row's ops/s over the pooled baseline's; per round: the same ratio against each round's own https window, lowest to highest.`,
        "Client, every row: the emulated terminal's HTTP HAL (firmware/hal/node/http): TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 on P-256 as the PIN pad's Moddable TLS, a new connection (full handshake) per request as on the device.",
        `bare node:http / node:https: a server that reads the body and answers a fixed 7-byte JSON; the https one presents a certificate made as the KMS's (same CA, role, P-256 key) with host/tls serverTlsOptions, as the KMS.`,
        "TMK download (A11): firmware/core Terminal.downloadTmk against POST /kms/v1/terminals/<serial>/tmk: MAC'd under K_tkmac, sequence reserved; the KMS verifies the MAC, advances the sequence, makes a TMK in its software HSM, wraps it under TK (TR-31) and stores it; the terminal verifies the answer's MAC, unwraps the block, checks the KCV and seals the TMK in its vault.",
        "sign-on (A12): Terminal.signOn against POST .../sign-on: the same envelope (under K_tkmac on the first sign-on after a TMK, under MAK after), four working keys (PIK, MAK, TDK, DMK) made, wrapped under TMK and stored by the KMS, each unwrapped and KCV-checked by the terminal. Every terminal must end at stage signed-on.",
        "One process: the terminals, the KMS (Express on node:https) and the database client share one JS thread, so the KMS rates are lower bounds; CPU ms / op is this whole process's CPU per successful request, ramp and drain included (a PostgreSQL server's own CPU is not in it). ÷ bare https, by CPU is bare https's CPU ms / op over the row's: the ratio of rates one core would give, which other load on the host does not move as it moves wall-clock rates. KMS logging is off (silent logger).",
        "Set-up, not timed: a fresh database (SQLite file in WAL mode with synchronous=FULL; PostgreSQL in a new schema, dropped afterwards), the CA (ensureCa), one KMS (startKms) on a loopback port, and each terminal's TK delivered as in the field: the terminal's local-link tk answer, MTMS intake, MTMS outbox worker over mutual TLS with its mtms certificate; MTMS is stopped before timing. Terminals keep their HAL Storage in memory (the emulator's file storage fsyncs synchronously, which would stall the KMS in this process); each loads its keys once before timing.",
        ...skipped,
        ...(failures.length === 0 ? ['Errors: none in any phase.'] : []),
      ],
      environment: {
        terminals: `${TERMINALS} emulated (firmware/core Terminal, KmsClient, KeyVault; firmware/hal/node Http and Rng; in-memory Storage)`,
        ...environment,
      },
      failures,
    };
  },
};
