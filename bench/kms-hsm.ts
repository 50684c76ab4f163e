/**
 * What the PKCS#11 HSM costs the KMS against the software HSM: TMK downloads (A11) and sign-ons
 * (A12) from concurrent emulated terminals over the KMS's real HTTPS endpoints, one KMS on each
 * backend, measured in the same run with windows taking turns, so the figure is a ratio
 * (PKCS#11 ÷ software) that the host's own speed and load largely cancel out of.
 *
 * The PKCS#11 HSM runs on SoftHSM2 (a token this run initialises in a temporary SOFTHSM2_CONF
 * directory): a software token behind the PKCS#11 interface, so the ratio is the cost of the
 * interface and of keeping keys in the token (session objects, wrap and unwrap per command), not
 * of a hardware device's latency. Set-up is kmsTestbed.ts (SQLite), the load closedLoop.ts.
 */
import { execFileSync } from 'node:child_process';
import type { Terminal } from '../firmware/core/terminal';
import type { HsmBackend } from '../host/hsm/index';
import { SOFTHSM_LIBRARY, disposeSoftHsmToken, softHsmHostEnv, softHsmMissing } from '../test/support/softHsmToken';
import { type LoadResult, cpuMsPerOp, pooled, runClosedLoop } from './closedLoop';
import { type KmsTestbed, createStore, openKmsTestbed } from './kmsTestbed';
import { type BenchReport, type Benchmark, type Cell, throughputCells, throughputColumns } from './report';

const TERMINALS = 16;
const ROUNDS = 3;
const WINDOW_MS = 1_000;
const WINDOW_MAX_OPS = 20_000;
const RAMP_MS = 500;

type Backend = 'software' | 'pkcs11';
type Kind = 'tmk' | 'signOn';
const KINDS: readonly Kind[] = ['tmk', 'signOn'];
const KIND_LABEL: Readonly<Record<Kind, string>> = { tmk: 'TMK download (A11)', signOn: 'sign-on, 4 working keys (A12)' };
const BACKEND_LABEL: Readonly<Record<Backend, string>> = { software: 'software HSM', pkcs11: 'PKCS#11 HSM (SoftHSM2)' };

const closedLoop = (op: (worker: number) => Promise<void>) => runClosedLoop({ workers: TERMINALS, rampMs: RAMP_MS, durationMs: WINDOW_MS, maxOps: WINDOW_MAX_OPS, op });

async function pkcs11Backend(): Promise<HsmBackend> {
  const env = await softHsmHostEnv();
  return { kind: 'pkcs11', library: env.PAYPAD_PKCS11_LIBRARY, tokenLabel: env.PAYPAD_PKCS11_TOKEN_LABEL, pin: { value: env.PAYPAD_PKCS11_PIN } };
}

const softHsmVersion = (): string => execFileSync('softhsm2-util', ['--version'], { encoding: 'utf8' }).trim();

export const kmsHsmBenchmark: Benchmark = {
  name: 'kms-hsm',
  async run(): Promise<BenchReport> {
    const missing = softHsmMissing();
    const failures: string[] = [];
    const beds = new Map<Backend, KmsTestbed>();
    const results = new Map<string, LoadResult[]>();
    try {
      beds.set('software', await openKmsTestbed(await createStore({ dialect: 'sqlite' }), TERMINALS));
      if (missing === undefined) beds.set('pkcs11', await openKmsTestbed(await createStore({ dialect: 'sqlite' }), TERMINALS, await pkcs11Backend()));

      const ops = (bed: KmsTestbed): Readonly<Record<Kind, (worker: number) => Promise<void>>> => {
        const terminal = (worker: number): Terminal => bed.terminals[worker];
        return { tmk: async (w) => void (await terminal(w).downloadTmk()), signOn: async (w) => void (await terminal(w).signOn()) };
      };
      // Each terminal loads its keys once before anything is timed: proves the path, warms the KMS.
      for (const bed of beds.values()) {
        await Promise.all(
          bed.terminals.map(async (t) => {
            await t.downloadTmk();
            await t.signOn();
          }),
        );
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of KINDS) {
          for (const [backend, bed] of beds) {
            const result = await closedLoop(ops(bed)[kind]);
            if (result.errors > 0) failures.push(`${BACKEND_LABEL[backend]}, ${KIND_LABEL[kind]}, round ${round + 1}: ${result.errors} failed requests ${JSON.stringify(result.errorCodes)}`);
            const key = `${backend}/${kind}`;
            results.set(key, [...(results.get(key) ?? []), result]);
          }
        }
      }
      for (const [backend, bed] of beds) {
        for (const t of bed.terminals) {
          const { stage } = await t.status();
          if (stage !== 'signed-on') failures.push(`${BACKEND_LABEL[backend]}: terminal ${t.serial} ended at stage ${stage}, not signed-on`);
        }
      }
    } finally {
      for (const bed of beds.values()) await bed.close();
      await disposeSoftHsmToken();
    }

    const rows: Record<string, Cell>[] = [];
    for (const kind of KINDS) {
      const software = results.get(`software/${kind}`) ?? [];
      const base = pooled(software);
      for (const backend of beds.keys()) {
        const rounds = results.get(`${backend}/${kind}`) ?? [];
        const result = pooled(rounds);
        // The same ratio per round, against that round's own software window.
        const perRound = rounds.map((r, i) => r.opsPerSecond / software[i].opsPerSecond);
        rows.push({
          requests: KIND_LABEL[kind],
          hsm: BACKEND_LABEL[backend],
          ...throughputCells(result),
          overSoftware: result.opsPerSecond / base.opsPerSecond,
          overSoftwareRounds: `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}`,
          cpuMsPerOp: cpuMsPerOp(result),
          overSoftwareByCpu: cpuMsPerOp(base) / cpuMsPerOp(result),
          ops: result.ops,
        });
      }
    }
    return {
      name: 'kms-hsm',
      title: 'KMS on the PKCS#11 HSM (SoftHSM2) against the software HSM: TMK downloads and sign-ons',
      columns: [
        { key: 'requests', label: 'Requests' },
        { key: 'hsm', label: 'HSM' },
        ...throughputColumns(0),
        { key: 'overSoftware', label: '÷ software', digits: 3 },
        { key: 'overSoftwareRounds', label: '÷ software, per round' },
        { key: 'cpuMsPerOp', label: 'CPU ms / op', digits: 2 },
        { key: 'overSoftwareByCpu', label: '÷ software, by CPU', digits: 3 },
      ],
      rows,
      notes: [
        `Closed loop: ${TERMINALS} emulated terminals (firmware/core Terminal over the Node HAL's Http, a new TLS connection per request), one request in flight each, against one KMS per HSM backend, both on SQLite. ${ROUNDS} rounds; in each, a ${WINDOW_MS / 1000} s window per request kind and backend, taking turns (software TMK, PKCS#11 TMK, software sign-on, PKCS#11 sign-on), each after ${RAMP_MS} ms of the same load; a row pools its ${ROUNDS} windows.`,
        '÷ software: the row\'s ops/s over the software HSM\'s for the same requests; per round: against that round\'s own software window, lowest to highest; by CPU: the software HSM\'s CPU ms / op over the row\'s (the ratio one core would give, which other load on the host moves less).',
        'What each request costs the HSM: a TMK download has the HSM compute the request\'s MAC under K_tkmac (derived from TK; shared/protocol compares it), make a TMK, export it under TK as a TR-31 block and MAC the answer; a sign-on the same under K_tkmac or MAK, with four working keys made and exported under TMK. On the PKCS#11 HSM every command checks the stored block\'s CMAC in the token and unwraps the key into a session object; docs/host.md lists what SoftHSM2 cannot do inside the token.',
        'SoftHSM2 is a software token: the ratio is the cost of the PKCS#11 interface and of keeping keys in the token, not the latency of a network or PCIe HSM.',
        ...(missing === undefined ? [] : [`PKCS#11 not measured: ${missing}.`]),
        ...(failures.length === 0 ? ['Errors: none in any phase.'] : []),
      ],
      environment: { terminals: `${TERMINALS} emulated`, softhsm: missing ?? `SoftHSM2 ${softHsmVersion()} (${SOFTHSM_LIBRARY}), a token initialised by this run` },
      failures,
    };
  },
};
