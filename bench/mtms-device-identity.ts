/**
 * What the device identity check costs MTMS at TK intake (A8; docs/key-loading.md "Device
 * identity"): before it takes a TK, MTMS issues a single-use challenge, checks the device
 * certificate against the CA (chain, serial, the register) and the device's ECDSA P-256 signature
 * over the challenge and the envelope, and uses the challenge up. The intake itself opens the TK
 * envelope in the HSM (ECDH, KDF, key unwrap) and records it.
 *
 * One run, in one process on SQLite, the two measured turn about, one operation at a time:
 *   with     MTMS's whole TK intake as the operator drives it: the TK challenge, then the upload
 *            (host/mtms mtmsService deviceChallenge + intakeTk, the service without HTTP or TLS);
 *   checks   the device identity part alone, through the same modules intakeTk uses: a challenge
 *            issued, the certificate checked, the signature verified, the challenge used up.
 * Without the checks is `with` less `checks`; the figure is with ÷ without. What the terminal
 * does between (making the envelope, signing) is not timed. Each terminal's TK is taken once
 * before timing; the timed uploads are the same TK exported anew (MTMS answers the first receipt,
 * as for an operator's retry), so no delivery is queued and no repair authorisation is needed.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fromHex, toHex } from '../shared/bytes';
import { tkIntakeSignedBytes } from '../shared/protocol/deviceIdentity';
import { createNodeHttp } from '../firmware/hal/node/http';
import { createNodeRng } from '../firmware/hal/node/rng';
import { ensureCa } from '../host/ca/caStorage';
import { migrateToLatest } from '../host/db/migrate';
import { createLogger } from '../host/log';
import { assertDeviceSignature, createDeviceCertificates } from '../host/mtms/deviceCertificates';
import { createDeviceChallenges } from '../host/mtms/deviceChallenges';
import { startMtms } from '../host/mtms/mtmsInstance';
import { percentile } from './closedLoop';
import { BENCH_STATION, CUSTOMER_CODE, createStore, type EnrolledTerminal, enrolledTerminal } from './kmsTestbed';
import type { BenchReport, Benchmark, Cell } from './report';

const TERMINALS = 8;
const ROUNDS = 5;
const PER_ROUND = 60;
const WARM_UP = 20;
/** Nobody listens here: the first intakes' deliveries wait in the outbox, untouched by the timing. */
const UNREACHABLE_KMS = 'https://127.0.0.1:9';

interface Samples {
  with: number[];
  checks: number[];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const nearestRank = (xs: readonly number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);

export const mtmsDeviceIdentityBenchmark: Benchmark = {
  name: 'mtms-device-identity',
  async run(): Promise<BenchReport> {
    const failures: string[] = [];
    const store = await createStore({ dialect: 'sqlite' });
    const dataDir = await mkdtemp(join(tmpdir(), 'paypad-bench-mtms-'));
    const rounds: Samples[] = [];
    try {
      const database = store.open();
      await migrateToLatest(database);
      const ca = await ensureCa({ dataDir, db: database.db });
      const mtms = await startMtms({ dataDir, db: database.db, dialect: database.dialect, ca, port: 0, host: '127.0.0.1', logger: createLogger({ level: 'silent' }), outbox: { pollMs: 60_000 } });
      try {
        await mtms.store.addCustomer({ code: CUSTOMER_CODE, name: 'Benchmark Bank', kmsUrl: UNREACHABLE_KMS }, 'admin:bench');
        const serials = Array.from({ length: TERMINALS }, (_, i) => `PP-BENCH-${String(i + 1).padStart(4, '0')}`);
        await mtms.store.addSerials(serials, CUSTOMER_CODE, 'admin:bench');
        const caDer = new Uint8Array(new X509Certificate(ca.caCertificatePem).raw);
        const http = createNodeHttp();
        const rng = createNodeRng();
        const terminals: EnrolledTerminal[] = [];
        for (const serial of serials) terminals.push(await enrolledTerminal(mtms, serial, { http, rng, kmsUrl: UNREACHABLE_KMS, caDer }));

        // The device identity checks as intakeTk makes them (mtmsService authenticateDevice), on their own.
        const challenges = createDeviceChallenges(database.db, () => new Date());
        const certificates = createDeviceCertificates(ca.caCertificatePem, ca);
        const withChecks = async (t: EnrolledTerminal): Promise<number> => {
          const serial = t.terminal.serial;
          let start = performance.now();
          const { nonce } = await mtms.service.deviceChallenge(serial, 'tk', BENCH_STATION);
          const ms = performance.now() - start;
          const upload = await t.tkUpload(nonce);
          start = performance.now();
          await mtms.service.intakeTk(upload, BENCH_STATION);
          return ms + (performance.now() - start);
        };
        const checksAlone = async (t: EnrolledTerminal): Promise<number> => {
          const serial = t.terminal.serial;
          let start = performance.now();
          const challenge = await challenges.issue(serial, 'tk', BENCH_STATION);
          const ms = performance.now() - start;
          const upload = await t.tkUpload(toHex(challenge.nonce));
          start = performance.now();
          const device = await certificates.check(fromHex(upload.deviceCertificate as string, 'deviceCertificate'), serial, new Date());
          const envelope = fromHex(upload.tkEnvelope, 'tkEnvelope');
          assertDeviceSignature(device.publicKey, tkIntakeSignedBytes(serial, challenge.nonce, envelope), fromHex(upload.deviceSignature as string, 'deviceSignature'), serial);
          await challenges.consume(serial, 'tk', challenge.nonce, BENCH_STATION);
          return ms + (performance.now() - start);
        };

        // Each terminal's first TK is taken (and queued) before anything is timed; then a warm-up.
        for (const t of terminals) await withChecks(t);
        for (let i = 0; i < WARM_UP; i++) {
          await withChecks(terminals[i % TERMINALS]);
          await checksAlone(terminals[i % TERMINALS]);
        }
        for (let round = 0; round < ROUNDS; round++) {
          const samples: Samples = { with: [], checks: [] };
          for (let i = 0; i < PER_ROUND; i++) {
            const t = terminals[i % TERMINALS];
            // Turn about, starting with the other each time, so drift falls on both alike.
            if (i % 2 === 0) {
              samples.with.push(await withChecks(t));
              samples.checks.push(await checksAlone(t));
            } else {
              samples.checks.push(await checksAlone(t));
              samples.with.push(await withChecks(t));
            }
          }
          rounds.push(samples);
        }
      } finally {
        await mtms.close({ graceMs: 0 });
      }
    } catch (e) {
      failures.push(`the run failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await store.destroy();
      await rm(dataDir, { recursive: true, force: true });
    }

    const all: Samples = { with: rounds.flatMap((r) => r.with), checks: rounds.flatMap((r) => r.checks) };
    const ratio = (s: Samples) => mean(s.with) / (mean(s.with) - mean(s.checks));
    const perRound = rounds.map(ratio);
    const row = (what: string, xs: readonly number[] | undefined, meanMs: number, extra: Record<string, Cell> = {}): Record<string, Cell> => ({
      what,
      meanMs,
      p50Ms: xs ? nearestRank(xs, 50) : null,
      p99Ms: xs ? nearestRank(xs, 99) : null,
      ops: xs ? xs.length : null,
      ...extra,
    });
    const rows = rounds.length === 0 ? [] : [
      row('TK intake with the device identity checks (challenge + upload)', all.with, mean(all.with), { withOverWithout: ratio(all), withOverWithoutRounds: `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}` }),
      row('the device identity checks alone (challenge issued and used, certificate, signature)', all.checks, mean(all.checks), { share: mean(all.checks) / mean(all.with) }),
      row('TK intake without them (the difference)', undefined, mean(all.with) - mean(all.checks)),
    ];
    return {
      name: 'mtms-device-identity',
      title: 'What the device identity check costs MTMS at TK intake (A8)',
      columns: [
        { key: 'what', label: 'MTMS work per TK intake' },
        { key: 'meanMs', label: 'mean ms', digits: 2 },
        { key: 'p50Ms', label: 'p50 ms', digits: 2 },
        { key: 'p99Ms', label: 'p99 ms', digits: 2 },
        { key: 'ops', label: 'ops' },
        { key: 'share', label: 'share of the intake', digits: 2 },
        { key: 'withOverWithout', label: 'with ÷ without', digits: 2 },
        { key: 'withOverWithoutRounds', label: 'with ÷ without, per round' },
      ],
      rows,
      notes: [
        `One process, SQLite, the software HSM; ${TERMINALS} emulated terminals (firmware/core Terminal, HAL Storage in memory) enrolled at MTMS. ${ROUNDS} rounds of ${PER_ROUND} operations of each kind, turn about, after ${WARM_UP} of each to warm up; wall clock per operation (performance.now; p50/p99 nearest-rank), MTMS's part only: the terminal making its envelope and signature is not timed.`,
        'with: mtmsService.deviceChallenge then intakeTk (the service as the router calls it, without HTTP and TLS, which cost the same with or without the checks). checks: the same modules intakeTk runs for them (deviceChallenges issue and consume, deviceCertificates check against the CA register, assertDeviceSignature: ECDSA P-256 over the challenge and SHA-256 of the envelope). without = with − checks.',
        'The timed uploads are the TK each terminal gave first, exported anew (each envelope has its own ephemeral key): MTMS opens each in its HSM and answers the first receipt, as for an operator\'s retry, so no delivery is queued.',
        ...(failures.length === 0 ? ['Errors: none.'] : []),
      ],
      environment: { terminals: `${TERMINALS} emulated`, database: 'SQLite (temporary file)', hsm: 'software HSM' },
      failures,
    };
  },
};
