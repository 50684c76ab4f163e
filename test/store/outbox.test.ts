/**
 * The transactional outbox (ARCHITECTURE §5, SPEC A7: delivered at least once, applied once by the
 * receiver) on every dialect: enqueue commits with the caller's transaction, retries back off,
 * a crashed worker's row is taken over after its lease, concurrent workers never send one row
 * twice, and a message that keeps failing ends dead and visible.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { enqueue, createOutboxStore, MAX_PAYLOAD_BYTES } from '../../host/outbox/outboxStore';
import { createOutboxWorker, type OutboxDelivery, type OutboxHandler, permanentFailure } from '../../host/outbox/outboxWorker';
import { retryDelayMs, retryPolicy } from '../../host/outbox/retryPolicy';
import { PaypadError } from '../../shared/errors';
import { captureLogger } from '../unit/host/helpers/captureLogger';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

let topicCounter = 0;
/** Each test queues under its own topic, so workers of one test never see another's rows. */
const freshTopic = () => `test.t${++topicCounter}`;

function manualClock(start = Date.UTC(2025, 0, 1, 12, 0, 0)) {
  let now = start;
  return { clock: () => new Date(now), advance: (ms: number) => (now += ms), now: () => now };
}

const failure = () => new PaypadError('HTTP_FAILED', 'receiver unreachable');

describe.each(DIALECTS)('outbox on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  const connect = database.connect;
  const db = () => database().db;
  const store = () => createOutboxStore(db(), dialect);

  const queue = async (topic: string, key: string, payload = { n: 1 }, at = new Date()) => {
    const { row } = await enqueue(db(), { topic, destination: 'ACME', payload, idempotencyKey: key }, at);
    return row;
  };

  it('ARCH5 enqueue commits with the caller transaction, and a rolled-back transaction leaves no message', async () => {
    const topic = freshTopic();
    await expect(
      db().transaction().execute(async (trx) => {
        await enqueue(trx, { topic, destination: 'ACME', payload: { serial: 'PP0001' }, idempotencyKey: 'rolled-back' });
        throw new Error('the business change failed');
      }),
    ).rejects.toThrow('the business change failed');
    expect(await store().byKey('rolled-back')).toBeUndefined();

    await db().transaction().execute((trx) => enqueue(trx, { topic, destination: 'ACME', payload: { serial: 'PP0001' }, idempotencyKey: 'committed' }));
    expect(await store().byKey('committed')).toMatchObject({ topic, state: 'pending', attempts: 0, payload: { serial: 'PP0001' } });
  });

  it('A7 one row per idempotency key: enqueueing it again returns that row; other content under the key is refused', async () => {
    const topic = freshTopic();
    const first = await enqueue(db(), { topic, destination: 'ACME', payload: { a: 1 }, idempotencyKey: 'same-key' });
    const again = await enqueue(db(), { topic, destination: 'ACME', payload: { a: 1 }, idempotencyKey: 'same-key' });
    expect(first.created).toBe(true);
    expect(again).toEqual({ row: first.row, created: false });
    for (const changed of [{ payload: { a: 2 } }, { destination: 'OTHER' }, { topic: freshTopic() }]) {
      const error = await enqueue(db(), { topic, destination: 'ACME', payload: { a: 1 }, idempotencyKey: 'same-key', ...changed }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'DELIVERY_CONFLICT' });
    }
  });

  it('refuses malformed messages, and X1 payloads that carry a secret field', async () => {
    const topic = freshTopic();
    const ok = { topic, destination: 'ACME', payload: { n: 1 }, idempotencyKey: 'k-ok' };
    const bad: Record<string, unknown>[] = [
      { topic: 'Has Spaces' },
      { topic: '' },
      { idempotencyKey: 'bad key!' },
      { idempotencyKey: 'k'.repeat(65) },
      { destination: '' },
      { destination: 'x'.repeat(201) },
      { payload: [1, 2] },
      { payload: null },
      { payload: new Date() },
      { payload: { big: 'x'.repeat(MAX_PAYLOAD_BYTES) } },
      { payload: { intake: { TK: '00112233445566778899AABBCCDDEEFF' } } },
      { payload: { n: 1n } },
    ];
    for (const change of bad) {
      const error = await enqueue(db(), { ...ok, ...change } as never).catch((e: unknown) => e);
      expect(error, JSON.stringify(Object.keys(change))).toMatchObject({ code: 'BAD_ARGUMENT' });
      expect((error as Error).message).not.toContain('00112233');
    }
    expect(await store().byKey('k-ok')).toBeUndefined();
  });

  it('ARCH5 retries a failing receiver with exponential backoff and jitter, then delivers once it recovers', async () => {
    const topic = freshTopic();
    const time = manualClock();
    const random = () => 0.5;
    const policy = { baseMs: 100, capMs: 1_000, maxAttempts: 5 };
    const attempts: number[] = [];
    const handler: OutboxHandler = async (d) => {
      attempts.push(d.attempt);
      if (d.attempt < 3) throw failure();
      return { outcome: 'delivered' };
    };
    const worker = createOutboxWorker({ db: db(), dialect, handlers: { [topic]: handler }, retry: policy, clock: time.clock, random });
    const row = await queue(topic, 'retry-1', { n: 1 }, time.clock());

    expect(await worker.runOnce()).toBe(1);
    const firstDelay = retryDelayMs(retryPolicy(policy), 1, random);
    expect(firstDelay).toBe(75); // half of 100 ms kept, half scaled by 0.5
    expect(await store().byId(row.id)).toMatchObject({ state: 'pending', attempts: 1, lastError: 'HTTP_FAILED: receiver unreachable', nextAttemptAt: new Date(time.now() + firstDelay) });

    // Not due yet: nothing is claimed, nothing is sent.
    time.advance(firstDelay - 1);
    expect(await worker.runOnce()).toBe(0);
    time.advance(1);
    expect(await worker.runOnce()).toBe(1);
    const secondDelay = retryDelayMs(retryPolicy(policy), 2, random);
    expect(secondDelay).toBe(150);
    expect(await store().byId(row.id)).toMatchObject({ attempts: 2, nextAttemptAt: new Date(time.now() + secondDelay) });

    time.advance(secondDelay);
    expect(await worker.runOnce()).toBe(1);
    expect(attempts).toEqual([1, 2, 3]);
    const done = await store().byId(row.id);
    expect(done).toMatchObject({ state: 'delivered', attempts: 3, finishedAt: time.clock() });
    expect(done?.leaseUntil).toBeUndefined();
    time.advance(1_000_000);
    expect(await worker.runOnce()).toBe(0);
    expect(attempts).toHaveLength(3);
  });

  it('ARCH5 the running worker retries in real time (ms backoff) and delivers after the receiver recovers', async () => {
    const topic = freshTopic();
    let failuresLeft = 3;
    const delivered: string[] = [];
    const worker = createOutboxWorker({
      db: db(),
      dialect,
      handlers: {
        [topic]: async (d) => {
          if (failuresLeft-- > 0) throw failure();
          delivered.push(d.idempotencyKey);
          return { outcome: 'delivered' };
        },
      },
      retry: { baseMs: 5, capMs: 20, maxAttempts: 10 },
      pollMs: 5,
    });
    await queue(topic, 'live-1');
    worker.start();
    try {
      await expect.poll(async () => (await store().byKey('live-1'))?.state, { timeout: 10_000, interval: 10 }).toBe('delivered');
    } finally {
      await worker.stop();
    }
    expect(delivered).toEqual(['live-1']);
    expect(await store().byKey('live-1')).toMatchObject({ attempts: 4 });
  });

  it('ARCH5 a row claimed by a worker that crashed is delivered exactly once by another after the lease expires', async () => {
    const topic = freshTopic();
    const time = manualClock();
    const leaseMs = 30_000;
    const row = await queue(topic, 'crash-1', { n: 1 }, time.clock());
    // Worker A claims and "dies": it never records an outcome.
    const claimedByA = await store().claim({ topics: [topic], now: time.clock(), leaseMs });
    expect(claimedByA?.id).toBe(row.id);

    const sent: OutboxDelivery[] = [];
    const workerB = createOutboxWorker({ db: db(), dialect, handlers: { [topic]: async (d) => (sent.push(d), { outcome: 'delivered' }) }, leaseMs, clock: time.clock });
    time.advance(leaseMs - 1);
    expect(await workerB.runOnce()).toBe(0);
    time.advance(1);
    expect(await workerB.runOnce()).toBe(1);
    expect(sent.map((d) => [d.idempotencyKey, d.attempt])).toEqual([['crash-1', 2]]);
    expect(await store().byId(row.id)).toMatchObject({ state: 'delivered', attempts: 2 });

    // A comes back late with a failure: its lease is gone, so it changes nothing.
    expect(await store().recordFailure(claimedByA!, 'HTTP_FAILED: late', new Date(time.now() + 1_000), time.clock())).toBe(false);
    time.advance(10 * leaseMs);
    expect(await workerB.runOnce()).toBe(0);
    expect(sent).toHaveLength(1);
    expect(await store().byId(row.id)).toMatchObject({ state: 'delivered' });
  });

  it('ARCH5/X4 two workers on separate connections never deliver one row twice', async () => {
    const topic = freshTopic();
    const keys = Array.from({ length: 40 }, (_, i) => `race-${i}`);
    for (const key of keys) await queue(topic, key);
    const deliveries = new Map<string, number>();
    const byWorker = [0, 0];
    const handler =
      (worker: number): OutboxHandler =>
      async (d) => {
        deliveries.set(d.idempotencyKey, (deliveries.get(d.idempotencyKey) ?? 0) + 1);
        byWorker[worker]++;
        await new Promise((r) => setTimeout(r, 2));
        return { outcome: 'delivered' };
      };
    const workers = [connect(), connect()].map((conn, i) => createOutboxWorker({ db: conn.db, dialect, handlers: { [topic]: handler(i) }, batchSize: 3 }));
    const drain = async (w: (typeof workers)[number]) => {
      while ((await w.runOnce()) > 0);
    };
    await Promise.all(workers.map(drain));
    expect([...deliveries.keys()].sort()).toEqual([...keys].sort());
    expect([...deliveries.values()].every((n) => n === 1)).toBe(true);
    // Both workers really took part.
    expect(byWorker[0]).toBeGreaterThan(0);
    expect(byWorker[1]).toBeGreaterThan(0);
  });

  it('ARCH5 a message that keeps failing is dead after maxAttempts, visible in the status, and can be re-armed', async () => {
    const topic = freshTopic();
    const time = manualClock();
    let calls = 0;
    const worker = createOutboxWorker({
      db: db(),
      dialect,
      handlers: { [topic]: async () => (calls++, Promise.reject(failure())) },
      retry: { baseMs: 10, capMs: 10, maxAttempts: 3 },
      clock: time.clock,
    });
    const row = await queue(topic, 'dead-1', { n: 1 }, time.clock());
    await worker.runOnce();
    // Pending after a failed attempt: the status lists it with the error, so an operator sees why it waits.
    expect((await store().status()).retrying.find((r) => r.id === row.id)).toMatchObject({ state: 'pending', attempts: 1, lastError: 'HTTP_FAILED: receiver unreachable' });
    for (let i = 0; i < 10; i++) {
      time.advance(10);
      await worker.runOnce();
    }
    expect(calls).toBe(3);
    expect((await store().status()).retrying.find((r) => r.id === row.id)).toBeUndefined();
    const dead = await store().byId(row.id);
    expect(dead).toMatchObject({ state: 'dead', attempts: 3, lastError: 'HTTP_FAILED: receiver unreachable' });
    const status = await store().status();
    expect(status.dead.map((d) => d.idempotencyKey)).toContain('dead-1');
    expect(status.counts).toContainEqual({ topic, state: 'dead', count: 1 });

    await expect(store().requeue(row.id + 1_000_000, time.clock())).rejects.toMatchObject({ code: 'OUTBOX_ROW_UNKNOWN' });
    const requeued = await store().requeue(row.id, time.clock());
    expect(requeued).toMatchObject({ state: 'pending', attempts: 0 });
    expect(requeued.finishedAt).toBeUndefined();
    await expect(store().requeue(row.id, time.clock())).rejects.toMatchObject({ code: 'OUTBOX_ROW_STATE' });
    await worker.runOnce();
    expect(calls).toBe(4);
  });

  it('a permanent failure is dead at once; a discarded message is finished without a send', async () => {
    const topic = freshTopic();
    const worker = createOutboxWorker({
      db: db(),
      dialect,
      handlers: {
        [topic]: async (d) => {
          if (d.idempotencyKey === 'perm-1') throw permanentFailure(new PaypadError('DELIVERY_CONFLICT', 'receiver refuses this message'));
          return { outcome: 'discarded', reason: 'obsolete' };
        },
      },
    });
    await queue(topic, 'perm-1');
    await queue(topic, 'discard-1');
    expect(await worker.runOnce()).toBe(2);
    expect(await store().byKey('perm-1')).toMatchObject({ state: 'dead', attempts: 1, lastError: 'DELIVERY_CONFLICT: receiver refuses this message' });
    expect(await store().byKey('discard-1')).toMatchObject({ state: 'discarded', lastError: 'obsolete' });
  });

  it('X1 an unexpected handler error is recorded by class only, never by its message', async () => {
    const topic = freshTopic();
    const worker = createOutboxWorker({ db: db(), dialect, handlers: { [topic]: async () => Promise.reject(new TypeError('key 00112233445566778899AABBCCDDEEFF')) } });
    await queue(topic, 'x1-1');
    await worker.runOnce();
    const row = await store().byKey('x1-1');
    expect(row?.lastError).toBe('INTERNAL: unexpected TypeError (see the host log)');
  });

  it('logs each outcome with the idempotency key readable (not censored as a secret-named field)', async () => {
    const topic = freshTopic();
    const log = captureLogger('info');
    const worker = createOutboxWorker({ db: db(), dialect, handlers: { [topic]: async () => ({ outcome: 'delivered' }) }, logger: log.logger });
    const row = await queue(topic, 'tk-logged-1');
    await worker.runOnce();
    expect(log.entries().filter((e) => e.msg === 'outbox message delivered')).toEqual([expect.objectContaining({ outboxId: row.id, idempotencyKey: 'tk-logged-1', destination: 'ACME' })]);
    expect(log.lines.join('\n')).not.toContain('[REDACTED]');
  });

  it('a worker claims only the topics it has handlers for', async () => {
    const mine = freshTopic();
    const theirs = freshTopic();
    await queue(theirs, 'theirs-1');
    const worker = createOutboxWorker({ db: db(), dialect, handlers: { [mine]: async () => ({ outcome: 'delivered' }) } });
    expect(await worker.runOnce()).toBe(0);
    expect(await store().byKey('theirs-1')).toMatchObject({ state: 'pending', attempts: 0 });
  });

  it('gives up without sending when the last allowed attempt was cut short by a crash', async () => {
    const topic = freshTopic();
    const time = manualClock();
    const row = await queue(topic, 'last-crash', { n: 1 }, time.clock());
    await store().claim({ topics: [topic], now: time.clock(), leaseMs: 10 });
    time.advance(10);
    let calls = 0;
    const worker = createOutboxWorker({ db: db(), dialect, handlers: { [topic]: async () => (calls++, { outcome: 'delivered' }) }, retry: { maxAttempts: 1 }, leaseMs: 10, clock: time.clock });
    await worker.runOnce();
    expect(calls).toBe(0);
    expect(await store().byId(row.id)).toMatchObject({ state: 'dead', attempts: 2 });
  });

  it('the table refuses inconsistent rows (a finished row with a lease, an unknown state)', async () => {
    const topic = freshTopic();
    const row = await queue(topic, 'constraint-1');
    await expect(sql`update outbox set state = 'lost' where id = ${row.id}`.execute(db())).rejects.toThrow();
    await expect(sql`update outbox set state = 'delivered', finished_at = 'x', lease_until = 'y', lease_token = 'z' where id = ${row.id}`.execute(db())).rejects.toThrow();
    await expect(sql`insert into outbox (topic, destination, idempotency_key, payload, state, attempts, next_attempt_at, created_at, updated_at) values (${topic}, 'A', 'constraint-1', '{}', 'pending', 0, 'x', 'x', 'x')`.execute(db())).rejects.toThrow();
  });
});

describe('outbox retry policy (exponential backoff with equal jitter)', () => {
  const policy = retryPolicy({ baseMs: 100, capMs: 1_000, maxAttempts: 10 });

  it('doubles from baseMs up to capMs, keeping half of each step and jittering the other half', () => {
    const low = [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(policy, n, () => 0));
    const high = [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(policy, n, () => 1));
    expect(low).toEqual([50, 100, 200, 400, 500, 500]);
    expect(high).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(policy, 3, Math.random);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
    // A broken random source cannot shorten or stretch a delay past its bounds.
    expect(retryDelayMs(policy, 1, () => Number.NaN)).toBe(50);
    expect(retryDelayMs(policy, 1, () => 7)).toBe(100);
    expect(retryDelayMs(policy, 1_000_000, () => 1)).toBe(1_000);
  });

  it('defaults span about a day before a message is dead (ANCHORS: Hyperswitch 16 tries over ~24 h)', () => {
    const defaults = retryPolicy();
    let longest = 0;
    let shortest = 0;
    for (let n = 1; n < defaults.maxAttempts; n++) {
      longest += retryDelayMs(defaults, n, () => 1);
      shortest += retryDelayMs(defaults, n, () => 0);
    }
    expect(shortest).toBeGreaterThan(12 * 3_600_000);
    expect(longest).toBeLessThan(48 * 3_600_000);
  });

  it('refuses policies out of range and attempt numbers below 1', () => {
    for (const bad of [{ baseMs: 0 }, { baseMs: 1.5 }, { capMs: 10, baseMs: 20 }, { maxAttempts: 0 }, { maxAttempts: 1_001 }, { capMs: Number.POSITIVE_INFINITY }]) {
      expect(() => retryPolicy(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
    expect(() => retryDelayMs(policy, 0, Math.random)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});
