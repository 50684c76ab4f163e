/**
 * Phones for the bill benchmarks: the client core (shared/client) with the CLI's element and its
 * state in memory, enrolled through the host by the texted code, a card bound if asked, and
 * connected to the push channel; each push verified by the client and kept by bill id with the
 * moment its frame reached the socket.
 */
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { mobileNumberToE164 } from '../shared/mobileNumber';
import { createPhoneClient, type PhoneClient, type PhoneState } from '../shared/client/phoneClient';
import type { PhoneBill, PushMessage } from '../shared/protocol/phoneClient';
import { openFileElement } from '../bin/commands/phoneElement';
import { fetchTransport, openPushSocket } from '../bin/commands/phoneTransport';
import type { BillClientTables } from '../host/bills/client/tables';
import type { RunningHost } from '../host/server';
import { TEST_CARDS } from '../host/simulators/testCards';

/** The card every paying phone binds: the UnionPay test card's 10 000.00 CNY outlasts any run at one fen an order. */
export const BENCH_CARD = TEST_CARDS.unionPay;

/** A phone connected to the push channel: its pushes recorded by bill id as they arrive. */
export interface ConnectedPhone {
  readonly client: PhoneClient;
  readonly e164: string;
  readonly cardRef: string;
  readonly socket: WebSocket;
  /** The sequence of its push channel's hello. */
  readonly helloSeq: number;
  /** Resolves once the bill's frame arrived and verified: the bill, and when the frame reached the socket (performance.now()). */
  pushed(billId: string): Promise<{ bill: PhoneBill; arrivedAt: number }>;
}

/** Waiters keyed by an id, for values that may arrive before anyone waits for them. */
export class Arrivals<T> {
  readonly #values = new Map<string, T>();
  readonly #waiters = new Map<string, (value: T) => void>();
  deliver(id: string, value: T): void {
    const waiter = this.#waiters.get(id);
    if (waiter) {
      this.#waiters.delete(id);
      waiter(value);
    } else this.#values.set(id, value);
  }
  next(id: string, timeoutMs: number, what: string): Promise<T> {
    const value = this.#values.get(id);
    if (value !== undefined) {
      this.#values.delete(id);
      return Promise.resolve(value);
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new Error(`${what} ${id} did not arrive within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }
}

export const ARRIVAL_TIMEOUT_MS = 30_000;

/** The client core with the CLI's element (a key file) and its state in memory: a state file's fsync per message would measure the disk. */
async function newClient(dir: string, url: string): Promise<PhoneClient> {
  let saved: PhoneState | undefined;
  const element = await openFileElement(dir, true);
  return createPhoneClient({ element, store: { load: async () => saved, save: async (s) => void (saved = s) }, transport: fetchTransport(url) });
}

let numbers = 0;
/** 135 and eight digits, distinct in this run. */
function benchNumber(): string {
  return `135${String(++numbers + (process.pid % 100) * 1_000_000).padStart(8, '0')}`;
}

/** Enrolled by the texted code, the card bound when `bindCard`, connected to the push channel with its hello accepted. */
export async function connectPhone(host: RunningHost, dir: string, bindCard: boolean): Promise<ConnectedPhone> {
  const client = await newClient(dir, host.url);
  const mobile = benchNumber();
  const e164 = mobileNumberToE164(mobile);
  await client.startEnrolment(mobile);
  const code = host.mobile.sms.sent(e164).flatMap((m) => /code is (\d{6})/.exec(m.text)?.[1] ?? []).at(-1);
  if (code === undefined) throw new Error(`no code texted to ${e164}`);
  await client.finishEnrolment(code);
  const cardRef = bindCard ? (await client.bindCard({ pan: BENCH_CARD.pan, expiry: BENCH_CARD.expiry, holder: BENCH_CARD.holderName })).cardRef : '';
  const socket = openPushSocket(host.url);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  // A channel that fails later shows as a bill that never arrives (an error of its operation).
  socket.on('error', () => socket.terminate());
  const hello = await client.pushHello();
  const arrivals = new Arrivals<{ bill: PhoneBill; arrivedAt: number }>();
  let lastN = 0;
  let reading = Promise.resolve();
  socket.on('message', (data) => {
    const arrivedAt = performance.now();
    const frame = String(data);
    reading = reading.then(async () => {
      const message: PushMessage = await client.readPush(frame, hello.hello, lastN);
      lastN = message.n;
      arrivals.deliver(message.bill.id, { bill: message.bill, arrivedAt });
    });
  });
  socket.send(hello.frame);
  return { client, e164, cardRef, socket, helloSeq: hello.hello, pushed: (id) => arrivals.next(id, ARRIVAL_TIMEOUT_MS, 'pushed bill') };
}

/**
 * Until the platform accepted every phone's hello (its sequence for the phone reached the hello's:
 * it registers the socket right after), with one query per round, not one per phone.
 */
export async function helloesAccepted(host: RunningHost, phones: readonly ConnectedPhone[]): Promise<void> {
  const db = host.database.db.withTables<BillClientTables>();
  const wanted = new Map(phones.map((p) => [p.e164, p.helloSeq]));
  for (let round = 0; wanted.size > 0; round++) {
    if (round > 600) throw new Error(`the push channel did not accept the hello of ${wanted.size} phones`);
    const rows = await db.selectFrom('bill_client_phones').select(['mobile', 'last_seq']).where('mobile', 'in', [...wanted.keys()]).execute();
    for (const r of rows) if (r.last_seq >= (wanted.get(r.mobile) ?? Infinity)) wanted.delete(r.mobile);
    if (wanted.size > 0) await new Promise((r) => setTimeout(r, 50));
  }
}

export async function inBatches<T>(count: number, concurrency: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await make(i);
    }
  }));
  return out;
}
