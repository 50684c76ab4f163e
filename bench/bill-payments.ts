/**
 * Bills pushed to phones (docs/bill-payments.md, SPEC D2-D5): how many orders per second the whole
 * path serves, and how long a bill takes to reach a phone with many phones connected.
 *
 * - Whole path, N phones (default 16), one order in flight each: the demo merchant signs an order
 *   for the phone's number (RSA, RFC 9421 profile) and sends it over HTTP; the platform verifies
 *   it, stores the bill and pushes it; the phone's client checks the pushed frame's MAC, then pays
 *   with its bound card and PIN (fields under K_enc, PIN block under K_pin, the request MAC'd);
 *   the gateway translates the PIN block in the HSM; the platform debits the card over the ISO
 *   8583 link at the simulated bank, posts the ledger, and its outbox delivers the signed
 *   notification to the merchant, who verifies it. An operation ends when the merchant has
 *   `bill.paid`. Beside it, the signed order alone (sent to 201), same phones and concurrency.
 * - Push latency with C phones connected (default 1,000): from the platform committing the bill
 *   (its onBill) to the frame arriving at the phone's socket, orders sent by a few workers to
 *   phones picked at random. Beside it, in the same run, a bare WebSocket echo server (package
 *   ws) with as many clients connected: a frame of a push frame's size sent by a random client
 *   and echoed back, same concurrency.
 *
 * Everything runs in this process (host, merchant, phones), so the rates are lower bounds.
 * `npm run bench -- bill-payments`, or `npx tsx bench/bill-payments.ts --clients 5000 --phones 32`
 * to scale (writes the same result files).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { loadConfig } from '../host/config';
import { createLogger } from '../host/log';
import { createLedger } from '../host/payments/ledger/ledger';
import { startHost } from '../host/server';
import type { MerchantSimulator } from '../host/simulators/merchantSimulator';
import { TEST_PIN } from '../host/simulators/testCards';
import { echo, startBareEcho } from './bareWebSocket';
import { Arrivals, ARRIVAL_TIMEOUT_MS, connectPhone, helloesAccepted, inBatches } from './benchPhones';
import { type LoadResult, cpuMsPerOp, percentile, runClosedLoop } from './closedLoop';
import { type BenchReport, type Benchmark, type Cell, runAsScript, throughputCells, throughputColumns } from './report';

export interface BillBenchOptions {
  /** Phones paying, one order in flight each (the whole path). */
  readonly phones: number;
  /** Phones connected to the push channel while push latency is measured. */
  readonly clients: number;
}

export const DEFAULT_BILL_BENCH: BillBenchOptions = Object.freeze({ phones: 16, clients: 1_000 });
/** Orders in flight while push latency is measured: few, so the figure is latency, not queueing. */
const PUSH_WORKERS = 4;
const WINDOW_MS = 5_000;
const RAMP_MS = 1_000;
const WINDOW_MAX_OPS = 50_000;
/** Enrolments at once while the phones are made (not timed). */
const ENROL_CONCURRENCY = 8;
/** One fen an order (benchPhones BENCH_CARD pays). */
const AMOUNT = 1;
const NOTIFY_POLL_MS = 2;
/** Connections beyond the push channels: the merchant's, the phones' and the notifier's HTTP requests. */
const CONNECTION_HEADROOM = 512;

type Row = Record<string, Cell>;


/** `bill.paid` notifications the merchant verified and accepted, by bill id: one poll of its received list for every waiter. */
function merchantPaid(merchant: MerchantSimulator): { paid(billId: string): Promise<void>; stop(): void } {
  const arrivals = new Arrivals<true>();
  let seen = 0;
  const timer = setInterval(() => {
    for (; seen < merchant.received.length; seen++) {
      const n = merchant.received[seen];
      if (n.event === 'bill.paid') arrivals.deliver(n.billId, true);
    }
  }, NOTIFY_POLL_MS);
  return { paid: (id) => arrivals.next(id, ARRIVAL_TIMEOUT_MS, 'merchant notification of bill').then(() => undefined), stop: () => clearInterval(timer) };
}

async function placeOrder(merchant: MerchantSimulator, e164: string): Promise<string> {
  const answer = await merchant.placeOrder({ orderId: `BENCH-${randomUUID()}`, amountMinor: AMOUNT, currency: 'CNY', goods: 'Benchmark goods', designatedMobile: e164, buyerMobile: e164 });
  if (answer.status !== 201) throw new Error(`order answered ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
  return (answer.body.bill as { id: string }).id;
}


const loadAverages = () => loadavg().map((l) => l.toFixed(2)).join(' / ');

export async function runBillPaymentsBench(options: BillBenchOptions = DEFAULT_BILL_BENCH): Promise<BenchReport> {
  const loadBefore = loadAverages();
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'paypad-bench-bills-'));
  // Every push channel is an open connection of the host's listener: room for all of them, and the HTTP requests beside.
  const maxConnections = String(options.clients + CONNECTION_HEADROOM);
  const config = loadConfig({ PAYPAD_HOST: '127.0.0.1', PAYPAD_DATA_DIR: join(dir, 'data'), PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1', PAYPAD_MAX_CONNECTIONS: maxConnections, DATABASE_URL: '' });
  const host = await startHost(config, { logger: createLogger({ level: 'silent' }) });
  const failures: string[] = [];
  const rows: Row[] = [];
  const sockets: WebSocket[] = [];
  try {
    const merchant = host.bills.demoMerchant();
    if (merchant === undefined) throw new Error('the host runs no demo merchant');

    // Whole path: `phones` phones with a card each.
    const setup0 = performance.now();
    const payers = await inBatches(options.phones, ENROL_CONCURRENCY, (i) => connectPhone(host, join(dir, `payer-${i}`), true));
    sockets.push(...payers.map((p) => p.socket));
    await helloesAccepted(host, payers);
    const notified = merchantPaid(merchant);
    const wholePath = async (w: number) => {
      const phone = payers[w];
      const billId = await placeOrder(merchant, phone.e164);
      const { bill } = await phone.pushed(billId);
      const answer = await phone.client.pay(bill, phone.cardRef, TEST_PIN);
      if (answer.outcome !== 'paid') throw new Error(`payment ${answer.outcome} ${answer.responseCode ?? ''}`);
      await notified.paid(billId);
    };
    const orderOnly = async (w: number) => void (await placeOrder(merchant, payers[w].e164));
    const loop = (op: (w: number) => Promise<void>) => runClosedLoop({ workers: options.phones, rampMs: RAMP_MS, durationMs: WINDOW_MS, maxOps: WINDOW_MAX_OPS, op });
    const whole = await loop(wholePath);
    // The open bills the order-only window leaves are never paid: measured after the whole path.
    const orders = await loop(orderOnly);
    notified.stop();
    for (const [label, r] of [['whole path', whole], ['signed order', orders]] as const) {
      if (r.errors > 0) failures.push(`${label}: ${r.errors} failed ${JSON.stringify(r.errorCodes)}`);
    }
    const books = await createLedger(host.database).verify();
    if (!books.ok) failures.push(`the ledger does not verify: ${books.problems.slice(0, 3).join('; ')}`);
    rows.push(
      { measure: `whole path: signed order -> bill -> push -> pay -> merchant notified (D2-D5), ${options.phones} phones`, ...throughputCells(whole), ratio: whole.opsPerSecond / orders.opsPerSecond, cpuMsPerOp: cpuMsPerOp(whole), ops: whole.ops },
      { measure: `signed order alone, sent -> 201 (D2), ${options.phones} phones`, ...throughputCells(orders), ratio: null, cpuMsPerOp: cpuMsPerOp(orders), ops: orders.ops },
    );
    const payersSetupS = (performance.now() - setup0) / 1000;

    // Push latency: `clients` phones connected (the payers among them).
    const setup1 = performance.now();
    const others = await inBatches(Math.max(0, options.clients - payers.length), ENROL_CONCURRENCY, (i) => connectPhone(host, join(dir, `phone-${i}`), false));
    sockets.push(...others.map((p) => p.socket));
    for (let i = 0; i < others.length; i += 500) await helloesAccepted(host, others.slice(i, i + 500));
    const connected = [...payers, ...others];
    const connectSetupS = (performance.now() - setup1) / 1000;
    const committedAt = new Map<string, number>();
    const unsubscribe = host.bills.bills.onBill((bill) => void committedAt.set(bill.id, performance.now()));
    let frameBytes = 0;
    const pushSamples: { end: number; latency: number }[] = [];
    const pushOp = async () => {
      const phone = connected[Math.floor(Math.random() * connected.length)];
      const billId = await placeOrder(merchant, phone.e164);
      const { arrivedAt } = await phone.pushed(billId);
      const committed = committedAt.get(billId);
      if (committed === undefined) throw new Error(`bill ${billId}: the platform did not announce it`);
      pushSamples.push({ end: arrivedAt, latency: arrivedAt - committed });
      committedAt.delete(billId);
    };
    const frameProbe = connected[0];
    frameProbe.socket.once('message', (data) => void (frameBytes = String(data).length));
    await frameProbe.pushed(await placeOrder(merchant, frameProbe.e164));
    const t0 = performance.now();
    const push = await runClosedLoop({ workers: PUSH_WORKERS, rampMs: RAMP_MS, durationMs: WINDOW_MS, maxOps: WINDOW_MAX_OPS, op: pushOp });
    unsubscribe();
    const inWindow = pushSamples.filter((s) => s.end > t0 + RAMP_MS && s.end <= t0 + RAMP_MS + push.windowMs).map((s) => s.latency).sort((a, b) => a - b);
    if (push.errors > 0) failures.push(`push latency: ${push.errors} failed ${JSON.stringify(push.errorCodes)}`);

    // The baseline: a bare ws echo server, as many clients, a frame of the push frame's size.
    const bare = await startBareEcho(options.clients);
    let echoResult: LoadResult;
    try {
      const frame = 'x'.repeat(frameBytes || 1_000);
      echoResult = await runClosedLoop({ workers: PUSH_WORKERS, rampMs: RAMP_MS, durationMs: WINDOW_MS, maxOps: WINDOW_MAX_OPS, op: () => echo(bare.sockets[Math.floor(Math.random() * bare.sockets.length)], frame) });
    } finally {
      await bare.close();
    }
    if (echoResult.errors > 0) failures.push(`bare echo: ${echoResult.errors} failed ${JSON.stringify(echoResult.errorCodes)}`);
    const pushP50 = percentile(inWindow, 50);
    const pushP99 = percentile(inWindow, 99);
    rows.push(
      { measure: `push latency: bill committed -> frame at the phone, ${connected.length} phones connected (D3)`, opsPerSecond: push.opsPerSecond, p50Ms: pushP50, p99Ms: pushP99, errors: push.errors, ratio: pushP50 / echoResult.p50Ms, ratioP99: pushP99 / echoResult.p99Ms, cpuMsPerOp: cpuMsPerOp(push), ops: inWindow.length },
      { measure: `bare ws echo round trip, ${options.clients} clients connected (baseline)`, ...throughputCells(echoResult), ratio: 1, ratioP99: 1, cpuMsPerOp: cpuMsPerOp(echoResult), ops: echoResult.ops },
    );

    return {
      name: 'bill-payments',
      title: 'Bills pushed to phones: orders per second through the whole path, and push latency with many phones connected',
      columns: [
        { key: 'measure', label: 'Measure' },
        ...throughputColumns(1),
        { key: 'ratio', label: 'ratio (notes)', digits: 3 },
        { key: 'cpuMsPerOp', label: 'CPU ms / op', digits: 2 },
        { key: 'ops', label: 'samples' },
      ],
      rows,
      notes: [
        `Whole path: closed loop, ${options.phones} phones with one order in flight each, ${WINDOW_MS / 1000} s window after ${RAMP_MS} ms of the same load. One operation: the demo merchant (host/simulators/merchantSimulator) signs an order of ${AMOUNT} fen for the phone's number and POSTs it; the platform verifies digest and RSA signature, stores the bill and pushes it; the phone's client core (shared/client, the CLI's element) verifies the frame's MAC and pays with its bound UnionPay test card and PIN (fields under K_enc, PIN block under K_pin, request MAC'd); the gateway checks the MAC and translates the PIN block in the software HSM; the platform holds the amount, sends the 0200 over the ISO 8583 link to the simulated bank, posts the ledger, and its outbox POSTs the platform-signed notification to the merchant, who verifies it. The operation ends when the merchant holds bill.paid (its list polled every ${NOTIFY_POLL_MS} ms).`,
        `Signed order alone: the same orders, each done when answered 201; the platform still pushes every bill to its connected phone, which the operation does not wait for. ratio, whole path: its ops/s ÷ the signed order alone's ops/s (same phones, same run).`,
        `Push latency: ${connected.length} phones enrolled and connected to /bills/client/push (hello accepted), ${PUSH_WORKERS} orders in flight to phones picked at random; from the platform's onBill (the bill committed) to the frame arriving at the phone's socket (each frame then verified by the client; a frame that does not verify is an error). ratio: push ÷ bare echo, p50 (and p99 in the JSON as ratioP99).`,
        `Baseline: a ws WebSocketServer that echoes every frame, ${options.clients} ws clients connected, ${PUSH_WORKERS} round trips in flight from clients picked at random, a frame of the push frame's size (${frameBytes} characters). A round trip crosses loopback twice; the push once, after the HSM's MAC.`,
        `Setup, not timed: ${payers.length} paying phones enrolled, card bound and connected in ${payersSetupS.toFixed(1)} s; ${others.length} more enrolled and connected in ${connectSetupS.toFixed(1)} s (${ENROL_CONCURRENCY} at a time).`,
        `The host listens with PAYPAD_MAX_CONNECTIONS=${maxConnections}: each connected phone holds one of its connections (the default, 512, would refuse the rest).`,
        'One process: host (every role, SQLite), merchant, phones and their sockets share one JS thread, so the rates are lower bounds; CPU ms / op is the whole process per successful operation. Host logging is off. PostgreSQL is not measured here (the payment path on PostgreSQL is in mobile-payments).',
        `Load average (1 / 5 / 15 min): ${loadBefore} before the run, ${loadAverages()} after.`,
        ...(failures.length === 0 ? ['Errors: none in any window; the ledger verifies.'] : []),
      ],
      environment: { phones: String(options.phones), clients: String(options.clients), 'wall time (setup included)': `${((performance.now() - started) / 1000).toFixed(0)} s`, 'load average before (1/5/15 min)': loadBefore, 'load average after (1/5/15 min)': loadAverages() },
      failures,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await host.close({ graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  }
}

export const billPaymentsBenchmark: Benchmark = { name: 'bill-payments', run: () => runBillPaymentsBench() };

/** `npx tsx bench/bill-payments.ts [--clients N] [--phones N]`. */
function parseArgs(argv: readonly string[]): BillBenchOptions {
  const out = { ...DEFAULT_BILL_BENCH };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if ((flag !== '--clients' && flag !== '--phones') || !Number.isInteger(value) || value < 1) {
      throw new Error(`usage: bench/bill-payments.ts [--clients N] [--phones N] (got ${argv.slice(i, i + 2).join(' ')})`);
    }
    out[flag === '--clients' ? 'clients' : 'phones'] = value;
  }
  if (out.clients < out.phones) throw new Error('--clients counts the paying phones too: at least --phones');
  return out;
}

await runAsScript(import.meta.url, parseArgs, runBillPaymentsBench);
