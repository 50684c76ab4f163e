/**
 * How many mobile-number payments per second the whole path serves to concurrent emulated
 * terminals (docs/mobile-payments.md, docs/payments.md): each one the terminal's payee lookup
 * (C3-C5) and its payment (C6-C8): POSP checks the MAC, deciphers the card under TDK, translates
 * the PIN block from PIK to the zone PIN key in the HSM, holds the amount in the ledger, sends the
 * 0200 over the ISO 8583 acquirer link to the simulated bank, verifies the 0210, records the
 * payment with the platform and settles the hold. Beside it, in the same run and with the same
 * client and concurrency, a bare node:https server with the KMS's TLS: the ratio is the figure.
 * SQLite and PostgreSQL, as kms-throughput.
 *
 * The host is `paypad serve`'s own (host/server startHost, demo data: the customers' KMSs with
 * POSP, the simulated acquirer and the mobile platform with its demo payees) in this process.
 * Terminals are the firmware's code (firmware/core Terminal) over the Node HAL's Http, their TK
 * handed to the KMS as MTMS's delivery would (the onboarding's own cost is kms-throughput's).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asciiToBytes, toHex } from '../shared/bytes';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../shared/crypto/keyTransport';
import { Terminal } from '../firmware/core/terminal';
import { provisionTerminal } from '../firmware/core/terminalIdentity';
import { createNodeHttp } from '../firmware/hal/node/http';
import { createNodeRng } from '../firmware/hal/node/rng';
import { loadConfig } from '../host/config';
import { createLogger } from '../host/log';
import { createLedger } from '../host/payments/ledger/ledger';
import { type RunningHost, startHost } from '../host/server';
import { TEST_CARDS, TEST_PIN } from '../host/simulators/testCards';
import { makeMtmsKey, openTkEnvelope } from '../test/unit/terminal/support';
import { MemoryStorage } from '../test/support/memoryStorage';
import { measurePaymentApp } from '../test/xs/payment/paymentAppBudget';
import { bareRequest, startBareServers } from './bareServers';
import { type LoadResult, cpuMsPerOp, pooled, runClosedLoop } from './closedLoop';
import { DIALECT_LABEL, databaseCandidates } from './kms-throughput';
import { createStore } from './kmsTestbed';
import { type BenchReport, type Benchmark, type Cell, throughputCells, throughputColumns } from './report';

/** Concurrent terminals, one payment in flight each. */
const TERMINALS = 16;
const ROUNDS = 3;
const WINDOW_MS = 2_000;
const WINDOW_MAX_OPS = 20_000;
const RAMP_MS = 500;
/** The demo payee every terminal pays (host/payments/mobile/mobileRole DEMO_PAYEES). */
const PAYEE = '13800138000';
/** One fen a payment: the UnionPay test card's 10 000.00 CNY outlasts any run. */
const AMOUNT = 1;
const TRACK2 = `${TEST_CARDS.unionPay.pan}=${TEST_CARDS.unionPay.expiry}1011234`;

type Kind = 'https' | 'payment';
const KINDS: readonly Kind[] = ['https', 'payment'];
const KIND_LABEL: Readonly<Record<Kind, string>> = {
  https: 'bare node:https, KMS TLS (baseline)',
  payment: 'payment by mobile number: lookup + authorisation (C3-C8)',
};
type Row = Record<string, Cell>;

/** A host of its own on `databaseUrl` ('' = SQLite in its data directory), and TERMINALS signed-on terminals of customer C001. */
async function openBed(databaseUrl: string): Promise<{ host: RunningHost; terminals: Terminal[]; caDer: Uint8Array; close(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'paypad-bench-pay-'));
  const config = loadConfig({ PAYPAD_HOST: '127.0.0.1', PAYPAD_DATA_DIR: dataDir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1', DATABASE_URL: databaseUrl });
  const host = await startHost(config, { logger: createLogger({ level: 'silent' }) });
  const close = async () => {
    await host.close({ graceMs: 0 });
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const kms = host.kms.get('C001');
    if (kms === undefined) throw new Error('the demo customer C001 has no KMS');
    const caDer = new Uint8Array(new X509Certificate(host.ca.caCertificatePem).raw);
    const mtms = makeMtmsKey();
    const rng = createNodeRng();
    const http = createNodeHttp();
    const terminals: Terminal[] = [];
    for (let i = 0; i < TERMINALS; i++) {
      const serial = `PP-BENCH-${String(i + 1).padStart(4, '0')}`;
      // In-memory storage: the emulator's file storage fsyncs synchronously and would stall the host in this process.
      const storage = new MemoryStorage();
      provisionTerminal(storage, { serial, mtmsPublicKey: mtms.publicKey, kmsUrl: kms.url, trustAnchor: caDer });
      const terminal = Terminal.open({ storage, rng, http, rootKey: rng(32) });
      const answer = await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
      if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
      const tk = openTkEnvelope(mtms, answer.tkEnvelope, serial);
      const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, tk, asciiToBytes(`paypad-tk|${serial}`), rng));
      tk.fill(0);
      await kms.service.receiveTk({ v: 1, deliveryId: `bench-${serial}`, serial, envelope: toHex(envelope), customerCode: kms.customerCode, intakeSequence: i + 1 });
      await terminal.downloadTmk();
      await terminal.signOn();
      terminals.push(terminal);
    }
    return { host, terminals, caDer, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** One payment: the payee looked up, then paid; anything but '00' is an error. */
async function pay(terminal: Terminal): Promise<void> {
  const { lookupId } = await terminal.lookupPayee(PAYEE);
  const track2 = asciiToBytes(TRACK2);
  try {
    const answer = await terminal.payByMobile({ lookupId, amount: AMOUNT, currency: 'CNY', track2, pin: TEST_PIN });
    if (answer.responseCode !== '00') throw new Error(`response code ${answer.responseCode}`);
  } finally {
    track2.fill(0);
  }
}

async function measure(label: string, databaseUrl: string): Promise<{ rows: Row[]; failures: string[] }> {
  const bed = await openBed(databaseUrl);
  const failures: string[] = [];
  const issued = await bed.host.ca.issue({ subject: { role: 'kms', name: 'kms-bare-baseline', customerCode: 'C001' } });
  const bare = await startBareServers({ certPem: issued.certPem, keyPem: issued.keyPem as string, caPem: issued.caPem });
  try {
    const http = createNodeHttp();
    const ops: Readonly<Record<Kind, (worker: number) => Promise<void>>> = {
      https: () => bareRequest(http, bare.httpsUrl, bed.caDer),
      payment: (w) => pay(bed.terminals[w]),
    };
    const rounds: Record<Kind, LoadResult>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const results = {} as Record<Kind, LoadResult>;
      for (const kind of KINDS) {
        results[kind] = await runClosedLoop({ workers: TERMINALS, rampMs: RAMP_MS, durationMs: WINDOW_MS, maxOps: WINDOW_MAX_OPS, op: ops[kind] });
        if (results[kind].errors > 0) failures.push(`${label}, ${KIND_LABEL[kind]}, round ${round + 1}: ${results[kind].errors} failed ${JSON.stringify(results[kind].errorCodes)}`);
      }
      rounds.push(results);
    }
    // No payment lost or doubled: the books still balance after every window.
    const books = await createLedger(bed.host.database).verify();
    if (!books.ok) failures.push(`${label}: the ledger does not verify: ${books.problems.slice(0, 3).join('; ')}`);
    const all = Object.fromEntries(KINDS.map((k) => [k, pooled(rounds.map((r) => r[k]))])) as Record<Kind, LoadResult>;
    const rows = KINDS.map((kind) => ({
      database: label,
      requests: KIND_LABEL[kind],
      ...throughputCells(all[kind]),
      overHttps: all[kind].opsPerSecond / all.https.opsPerSecond,
      cpuMsPerOp: cpuMsPerOp(all[kind]),
      ops: all[kind].ops,
    }));
    return { rows, failures };
  } finally {
    await bare.close();
    await bed.close();
  }
}

export const mobilePaymentsBenchmark: Benchmark = {
  name: 'mobile-payments',
  async run(): Promise<BenchReport> {
    const { list, notes: skipped } = await databaseCandidates();
    const rows: Row[] = [];
    const failures: string[] = [];
    for (const candidate of list) {
      const label = DIALECT_LABEL[candidate.target.dialect];
      if (candidate.target.dialect === 'sqlite') {
        const measured = await measure(label, '');
        rows.push(...measured.rows);
        failures.push(...measured.failures);
        continue;
      }
      const store = await createStore(candidate.target);
      try {
        if (store.config.dialect !== 'postgres') throw new Error('expected a PostgreSQL store');
        const measured = await measure(label, store.config.url);
        rows.push(...measured.rows);
        failures.push(...measured.failures);
      } finally {
        await store.destroy();
      }
    }
    // The terminal's side: the payment app's whole flow in XS, in the ESP32 creation.
    const app = await measurePaymentApp();
    if (!app.done) failures.push('XS: the payment app did not reach its result');
    rows.push({ database: 'terminal, XS (ESP32 creation)', requests: `payment app: one payment, ${app.inputs} key presses and swipes`, compute: app.compute, chunks: app.chunks, slots: app.slots, stack: app.stack });
    return {
      name: 'mobile-payments',
      title: 'Mobile-number payments per second through the whole path, from concurrent emulated terminals',
      columns: [
        { key: 'database', label: 'Database' },
        { key: 'requests', label: 'Requests' },
        ...throughputColumns(1),
        { key: 'overHttps', label: '÷ bare https', digits: 3 },
        { key: 'cpuMsPerOp', label: 'CPU ms / op', digits: 2 },
        { key: 'compute', label: 'XS compute' },
        { key: 'chunks', label: 'XS chunk bytes' },
        { key: 'slots', label: 'XS slots' },
        { key: 'stack', label: 'XS stack slots' },
      ],
      rows,
      notes: [
        `Closed loop: ${TERMINALS} terminals, one payment in flight each. Per database, ${ROUNDS} rounds of two ${WINDOW_MS / 1000} s windows (bare https, then payments), each after ${RAMP_MS} ms of the same load; a row pools its rounds. p50/p99 are nearest-rank latencies of the counted operations. Any error makes the run invalid.`,
        'One payment is two HTTPS requests from the terminal, each a new TLS connection as on the device: the lookup (mobileLookupRequest, MAC under MAK; the platform checks the number, the payer, terminal and merchant buckets and masks the name) and the payment (card under TDK, PIN block under PIK; POSP: MAC, TDK decipher and PIK-to-ZPK translation in the software HSM, ledger hold, 0200/0210 over the ISO 8583 link on loopback to the simulated bank with the zone MAC, payment recorded, hold settled, answer MAC\'d). The bare https row is one request: a payment costs at least two of them.',
        `Each payment is ${AMOUNT} fen from the UnionPay test card to the demo payee ${PAYEE}. Terminals: firmware/core Terminal over the Node HAL's Http (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 on P-256), in-memory storage; TK handed to the KMS as MTMS's delivery does, then TMK download and sign-on, not timed.`,
        'One process: the terminals, the host (every role, the simulated bank and its link) and the database client share one JS thread, so the rates are lower bounds; CPU ms / op is the whole process per successful operation (a PostgreSQL server\'s own CPU is not in it). Host logging is off.',
        "Terminal, XS: the POS payment app (firmware/core/mobilePaymentApp) and its screens through one whole payment (a bad number re-entered, the name confirmed, the amount, an unreadable swipe, a swipe, a PIN cleared and keyed again) against a scripted terminal, in xs-budget with the manifest's ESP32 creation: XS's deterministic compute count, and the peaks above what loading left (chunk bytes, slots; the 60% targets are 47,308 bytes, 2,956 slots and 307 stack slots). The payment's cryptography on the terminal (card data under TDK, the PIN block, the MACs) is measured by test/xs/terminal.paymentBudget.test.ts: 272 of 512 stack slots for the lookup and for the payment (docs/payments.md).",
        ...skipped,
        ...(failures.length === 0 ? ['Errors: none in any window.'] : []),
      ],
      environment: { terminals: `${TERMINALS} emulated (firmware/core Terminal over firmware/hal/node Http and Rng; in-memory Storage)` },
      failures,
    };
  },
};
