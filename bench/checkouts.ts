/**
 * Online card payments through the gateway's checkout (docs/online-payments.md, SPEC E1-E9): how
 * many checkouts per second complete with many shoppers paying at once, beside bare https and
 * bare http in the same run.
 *
 * One checkout, per shopper, one in flight each: the merchant (bin/demo/onlinePaymentActors, the
 * demo's and the browser test's merchant) signs an order and POSTs it to /gateway/orders (E1,
 * E2); the checkout opens it by its transaction code with the shopper's reader paired (E3, E4);
 * Pay: the gateway asks the shopper's emulated PIN pad (firmware core over the Node HAL, its own
 * AES DUKPT keys) for a read; the swipe comes back enciphered and MAC'd under that transaction's
 * keys and opens in the gateway's HSM (E4); the gateway calls the shopper's mobile number, the
 * voice simulator's phone answers at once and keys the PIN, which becomes a PIN block in the HSM
 * (E5); the debit goes over ISO 8583 to the simulated bank with the PIN block translated to the
 * zone PIN key (E6); the ledger posts, the card data is deleted (E7), the merchant's notification
 * and the text are queued (E8, E9). An operation ends when the pay request is answered `paid`.
 *
 * Everything runs in this process (host, merchant, readers, phones), so the rates are lower
 * bounds. `npm run bench -- checkouts`, or `npx tsx bench/checkouts.ts --shoppers 32`.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectEmulatedReader, type EmulatedReader, type GatewayMerchant, loadReaderBdk, startGatewayMerchant, track2Of } from '../bin/demo/onlinePaymentActors';
import { PaypadError } from '../shared/errors';
import { createNodeHttp } from '../firmware/hal/node/http';
import { loadConfig } from '../host/config';
import { createLogger } from '../host/log';
import { createLedger } from '../host/payments/ledger/ledger';
import { type RunningHost, startHost } from '../host/server';
import { TEST_CARDS, TEST_PIN } from '../host/simulators/testCards';
import { MemoryStorage } from '../test/support/memoryStorage';
import { BARE_PATH, bareRequest, startBareServers } from './bareServers';
import { type LoadResult, cpuMsPerOp, pooled, runClosedLoop } from './closedLoop';
import { type BenchReport, type Benchmark, type Cell, runAsScript, throughputCells, throughputColumns } from './report';

export interface CheckoutBenchOptions {
  /** Shoppers paying at once, each with a reader of their own and one checkout in flight. */
  readonly shoppers: number;
}

export const DEFAULT_CHECKOUT_BENCH: CheckoutBenchOptions = Object.freeze({ shoppers: 16 });
const ROUNDS = 2;
const WINDOW_MS = 5_000;
const RAMP_MS = 1_000;
const WINDOW_MAX_OPS = 50_000;
/** One fen a checkout: the UnionPay test card's balance outlasts any run. */
const AMOUNT = 1;
const CARD = TEST_CARDS.unionPay;
/** How long the outbox may take, after the last window, to deliver every paid order's notification. */
const NOTIFY_DRAIN_MS = 30_000;

type Kind = 'https' | 'http' | 'checkout';
const KINDS: readonly Kind[] = ['https', 'http', 'checkout'];
type Row = Record<string, Cell>;

/** The shopper's own mobile number: 139 and eight digits. */
const mobileOf = (i: number) => `139${String(10_000_000 + i).slice(-8)}`;

/** The pay answer's error code as a PaypadError, so the load generator counts failures by code. */
async function answered<T>(response: Response, what: string): Promise<T> {
  const body = (await response.json()) as T & { error?: { code?: string; message?: string } };
  if (!response.ok) throw new PaypadError((body.error?.code as never) ?? 'HTTP_FAILED', `${what}: HTTP ${response.status} ${body.error?.message ?? ''}`);
  return body;
}

/** One whole checkout for shopper `reader`: order, checkout opened with the reader, paid by reader and voice PIN. */
async function checkout(host: RunningHost, merchant: GatewayMerchant, reader: EmulatedReader, mobile: string): Promise<void> {
  const order = await merchant.createOrder({ amount: AMOUNT, description: 'Benchmark tea' });
  const base = `${host.url}/gateway/checkout`;
  const json = { 'content-type': 'application/json' };
  const opened = await answered<{ checkoutId: string; reader: string }>(await fetch(`${base}/sessions`, { method: 'POST', headers: json, body: JSON.stringify({ code: order.transactionCode, readerId: reader.readerId }) }), 'open checkout');
  if (opened.reader !== 'connected') throw new PaypadError('CARD_READER_DISCONNECTED', `reader ${reader.readerId} is ${opened.reader}`);
  const paid = await answered<{ status: string }>(
    await fetch(`${base}/sessions/${opened.checkoutId}/pay`, { method: 'POST', headers: json, body: JSON.stringify({ requestId: randomUUID(), mobile, card: { kind: 'reader', pinOnPad: false } }) }),
    'pay',
  );
  if (paid.status !== 'paid') throw new PaypadError('HTTP_FAILED', `pay answered ${paid.status}`);
}

/** The bare http baseline through the shoppers' own client (fetch, kept-alive connections): one small POST answered 200. */
async function bareFetch(url: string): Promise<void> {
  const response = await fetch(url + BARE_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"v":1}' });
  await response.arrayBuffer();
  if (response.status !== 200) throw new PaypadError('HTTP_FAILED', `bare server answered ${response.status}`);
}

const loadAverages = () => loadavg().map((l) => l.toFixed(2)).join(' / ');

export async function runCheckoutsBench(options: CheckoutBenchOptions = DEFAULT_CHECKOUT_BENCH): Promise<BenchReport> {
  const loadBefore = loadAverages();
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'paypad-bench-checkouts-'));
  const config = loadConfig({ PAYPAD_HOST: '127.0.0.1', PAYPAD_DATA_DIR: join(dir, 'data'), PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '0', DATABASE_URL: '' });
  const host = await startHost(config, { logger: createLogger({ level: 'silent' }) });
  const failures: string[] = [];
  const readers: EmulatedReader[] = [];
  let merchant: GatewayMerchant | undefined;
  try {
    const setup0 = performance.now();
    merchant = await startGatewayMerchant(host, 'Benchmark Tea House');
    const bdk = await loadReaderBdk(host);
    for (let i = 0; i < options.shoppers; i++) {
      readers.push(await connectEmulatedReader(host, bdk, `bench-till-${i + 1}`, track2Of(CARD), TEST_PIN, new MemoryStorage()));
      // The shopper's phone answers the gateway's call at once and keys the PIN at the first prompt.
      host.mobile.voice.phone(`+86${mobileOf(i)}`, { answer: { afterSeconds: 0 }, steps: [`${TEST_PIN}#`] });
    }
    bdk.fill(0);
    const setupS = (performance.now() - setup0) / 1000;

    const issued = await host.ca.issue({ subject: { role: 'kms', name: 'checkout-bare-baseline', customerCode: 'C001' } });
    const bare = await startBareServers({ certPem: issued.certPem, keyPem: issued.keyPem as string, caPem: issued.caPem });
    const rounds: Record<Kind, LoadResult>[] = [];
    try {
      const caDer = new Uint8Array(new X509Certificate(host.ca.caCertificatePem).raw);
      const http = createNodeHttp();
      const ops: Readonly<Record<Kind, (worker: number) => Promise<void>>> = {
        https: () => bareRequest(http, bare.httpsUrl, caDer),
        http: () => bareFetch(bare.httpUrl),
        checkout: (w) => checkout(host, merchant as GatewayMerchant, readers[w], mobileOf(w)),
      };
      for (let round = 0; round < ROUNDS; round++) {
        const results = {} as Record<Kind, LoadResult>;
        for (const kind of KINDS) {
          results[kind] = await runClosedLoop({ workers: options.shoppers, rampMs: RAMP_MS, durationMs: WINDOW_MS, maxOps: WINDOW_MAX_OPS, op: ops[kind] });
          if (results[kind].errors > 0) failures.push(`${kind}, round ${round + 1}: ${results[kind].errors} failed ${JSON.stringify(results[kind].errorCodes)}`);
        }
        rounds.push(results);
      }
    } finally {
      await bare.close();
    }
    const all = Object.fromEntries(KINDS.map((k) => [k, pooled(rounds.map((r) => r[k]))])) as Record<Kind, LoadResult>;

    // Every checkout paid is one the merchant hears of (E8), once; the books balance.
    const paidOrders = all.checkout.completed;
    const drainEnd = performance.now() + NOTIFY_DRAIN_MS;
    const paidNotified = () => merchant!.received.filter((n) => n.status === 'paid').length;
    while (paidNotified() < paidOrders && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 50));
    if (paidNotified() !== paidOrders) failures.push(`the merchant was notified of ${paidNotified()} paid orders, ${paidOrders} were paid`);
    if (merchant.refused > 0) failures.push(`${merchant.refused} notifications did not verify at the merchant`);
    const books = await createLedger(host.database).verify();
    if (!books.ok) failures.push(`the ledger does not verify: ${books.problems.slice(0, 3).join('; ')}`);

    const label: Readonly<Record<Kind, string>> = {
      checkout: `checkout: signed order -> checkout opened -> reader read (DUKPT) -> PIN by voice call -> ISO 8583 debit -> paid (E1-E7), ${options.shoppers} shoppers`,
      https: `bare node:https POST, a TLS connection each (baseline), ${options.shoppers} clients`,
      http: `bare node:http POST through fetch, kept-alive connections (baseline), ${options.shoppers} clients`,
    };
    const rows: Row[] = (['checkout', 'https', 'http'] as const).map((kind) => ({
      measure: label[kind],
      ...throughputCells(all[kind]),
      overHttps: all[kind].opsPerSecond / all.https.opsPerSecond,
      overHttp: all[kind].opsPerSecond / all.http.opsPerSecond,
      cpuMsPerOp: cpuMsPerOp(all[kind]),
      ops: all[kind].ops,
    }));
    return {
      name: 'checkouts',
      title: 'Online card payments: completed checkouts per second with many shoppers at once, beside bare https',
      columns: [
        { key: 'measure', label: 'Measure' },
        ...throughputColumns(1),
        { key: 'overHttps', label: '÷ bare https', digits: 4 },
        { key: 'overHttp', label: '÷ bare http', digits: 4 },
        { key: 'cpuMsPerOp', label: 'CPU ms / op', digits: 2 },
        { key: 'ops', label: 'samples' },
      ],
      rows,
      notes: [
        `Closed loop: ${options.shoppers} shoppers, one checkout in flight each. ${ROUNDS} rounds of three ${WINDOW_MS / 1000} s windows (bare https, bare http, checkouts), each after ${RAMP_MS} ms of the same load; a row pools its rounds. p50/p99 are nearest-rank latencies of the operations completed inside the windows. Any error makes the run invalid.`,
        `One checkout: the merchant signs an order of ${AMOUNT} fen (RSA, RFC 9421 profile) and POSTs it to /gateway/orders with an Idempotency-Key; POST /gateway/checkout/sessions with its transaction code and the shopper's reader; POST .../pay (card on the reader, PIN by phone), done when answered paid. Inside the pay: the read request to the shopper's emulated PIN pad over its WebSocket; the swipe enciphered under the next DUKPT data key, MAC'd, and opened in the gateway's software HSM (MAC verified, track deciphered, 3 working keys derived from the BDK); the outbound call to the shopper's number, answered at once by the voice simulator's phone, which keys ${TEST_PIN.length} digits and # at the first prompt; the keyed PIN made a format 4 block in the HSM; the 0200 with the PIN translated to the zone PIN key over the ISO 8583 link to the simulated bank; the ledger's hold and post; the track and PIN block deleted from the sensitive data vault; the merchant notification and the text queued in the outbox. The page's event stream is not opened (a browser would follow it; the pay answer carries the same result).`,
        'Each shopper has a reader of its own (firmware/core SecureCardReader over the Node HAL, in-memory storage, its initial key injected from the BDK loaded by two components, its initial key ID registered) and a mobile number of its own, all paying with the UnionPay test card.',
        `Baselines in the same run, same concurrency: bare https is one POST to a node:https server with the KMS's TLS settings through the terminal HAL's client, a new TLS connection each (as in mobile-payments and kms-throughput); bare http is one POST to a node:http server through fetch, the shoppers' own client, on kept-alive connections. The host's listener is plain HTTP on loopback here (TLS in front of it in production), so ÷ bare http is the like-for-like ratio; ÷ bare https is the one asked for beside the other benchmarks. A checkout is 3 HTTP requests from the merchant and the page, plus the reader's WebSocket frames and the call.`,
        `After the windows: every paid order's signed notification reached the merchant and verified (waited for up to ${NOTIFY_DRAIN_MS / 1000} s; paid orders ramp and drain included), and the ledger verifies.`,
        `Setup, not timed: the merchant enrolled, the BDK loaded and ${options.shoppers} readers injected and connected, in ${setupS.toFixed(1)} s.`,
        'One process: host (every role, SQLite), merchant, readers and the simulated phones share one JS thread, so the rates are lower bounds; CPU ms / op is the whole process per successful operation. Host logging is off. PostgreSQL is not measured here (the payment path on PostgreSQL is in mobile-payments).',
        `Load average (1 / 5 / 15 min): ${loadBefore} before the run, ${loadAverages()} after.`,
        ...(failures.length === 0 ? ['Errors: none in any window; every paid order notified; the ledger verifies.'] : []),
      ],
      environment: { shoppers: String(options.shoppers), 'wall time (setup included)': `${((performance.now() - started) / 1000).toFixed(0)} s`, 'load average before (1/5/15 min)': loadBefore, 'load average after (1/5/15 min)': loadAverages() },
      failures,
    };
  } finally {
    for (const reader of readers) reader.link.close();
    await merchant?.close();
    await host.close({ graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  }
}

export const checkoutsBenchmark: Benchmark = { name: 'checkouts', run: () => runCheckoutsBench() };

/** `npx tsx bench/checkouts.ts [--shoppers N]`. */
function parseArgs(argv: readonly string[]): CheckoutBenchOptions {
  if (argv.length === 0) return DEFAULT_CHECKOUT_BENCH;
  const shoppers = Number(argv[1]);
  if (argv.length !== 2 || argv[0] !== '--shoppers' || !Number.isInteger(shoppers) || shoppers < 1 || shoppers > 1_000) {
    throw new Error(`usage: bench/checkouts.ts [--shoppers N] (1 to 1000; got ${argv.join(' ')})`);
  }
  return { shoppers };
}

await runAsScript(import.meta.url, parseArgs, runCheckoutsBench);
