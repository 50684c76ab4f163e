/**
 * E1 idempotency keys on every dialect: the same key and request get the stored answer and
 * nothing runs again; the same key with another request is IDEMPOTENCY_KEY_REUSED; of concurrent
 * requests with one key one runs and the others get IDEMPOTENCY_KEY_IN_PROGRESS; a refusal is
 * stored like an answer; an unexpected failure stores nothing and frees the key; keys are purged
 * after 24 hours, not before.
 */
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Schema } from '../../host/db/schema';
import { describe, expect, it } from 'vitest';
import { GatewayOrderExists } from '../../host/gateway/gatewayErrors';
import { createIdempotencyKeys, KEY_RETENTION_MS, LOCK_MS, type StoredAnswer } from '../../host/gateway/idempotencyKeys';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const T0 = new Date('2026-12-06T08:00:00.000Z');
const MERCHANT = '898300000000001';

function testClock(start = T0) {
  let now = start.getTime();
  return Object.assign(() => new Date(now), { advance: (ms: number) => void (now += ms) });
}

const freshKey = () => randomBytes(16).toString('hex');
const digestOf = (text: string) => Buffer.from(text).toString('hex').padEnd(64, '0').slice(0, 64);

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

for (const dialect of DIALECTS) {
  describe(`gateway idempotency keys on ${dialect}`, () => {
    const database = useMigratedDatabase(dialect);

    /** Work that writes a row in its transaction (rolled back with it) and counts its runs. */
    const counted = () => {
      const runs: string[] = [];
      const work = (label: string, answer: StoredAnswer = { status: 201, body: { label } }) => async (trx: Kysely<Schema>) => {
        runs.push(label);
        await sql`insert into audit_log (at, actor, action, subject, detail) values (${T0.toISOString()}, ${'test'}, ${'work'}, ${label}, ${'{}'})`.execute(trx);
        return answer;
      };
      return { runs, work };
    };
    const rowsFor = async (label: string) => Number((await sql<{ n: number | string }>`select count(*) as n from audit_log where subject = ${label}`.execute(database().db)).rows[0].n);

    it('E1: the same key and body get the first answer again, and the work ran once', async () => {
      const keys = createIdempotencyKeys({ database: database() });
      const { runs, work } = counted();
      const request = { merchantNo: MERCHANT, key: freshKey(), digest: digestOf('order A') };
      const first = await keys.run(request, work('A'));
      const again = await keys.run(request, work('A-again'));
      expect(first).toEqual({ answer: { status: 201, body: { label: 'A' } }, replayed: false });
      expect(again).toEqual({ answer: { status: 201, body: { label: 'A' } }, replayed: true });
      expect(runs).toEqual(['A']);
      expect(await rowsFor('A-again')).toBe(0);
      // Keys belong to a merchant: another merchant's same key is its own.
      expect((await keys.run({ ...request, merchantNo: '898300000000002' }, work('B'))).replayed).toBe(false);
    });

    it('E1: the same key with another body is IDEMPOTENCY_KEY_REUSED and runs nothing', async () => {
      const keys = createIdempotencyKeys({ database: database() });
      const { runs, work } = counted();
      const key = freshKey();
      await keys.run({ merchantNo: MERCHANT, key, digest: digestOf('order A') }, work('A2'));
      expect(await refusal(keys.run({ merchantNo: MERCHANT, key, digest: digestOf('order B') }, work('B2')))).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(runs).toEqual(['A2']);
    });

    it('E1: concurrent requests with one key: exactly one runs; the others are IDEMPOTENCY_KEY_IN_PROGRESS or wait for its answer', async () => {
      const connections = dialect === 'postgres' ? [database(), database.connect(), database.connect()] : [database()];
      const keysets = connections.map((db) => createIdempotencyKeys({ database: db }));
      // Connections open before the race, so none arrives late because it was still connecting.
      await Promise.all(connections.flatMap((db) => [1, 2].map(() => sql`select 1`.execute(db.db))));
      const { runs, work } = counted();
      const request = { merchantNo: MERCHANT, key: freshKey(), digest: digestOf('order C') };
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const slow = (label: string) => async (trx: Kysely<Schema>) => {
        await gate;
        return work(label)(trx);
      };
      const racing = Promise.allSettled(Array.from({ length: 6 }, (_, i) => keysets[i % keysets.length].run(request, slow(`C${i}`))));
      // Let every request reach the key before the first one finishes.
      await new Promise((r) => setTimeout(r, 500));
      release();
      const results = await racing;
      const outcomes = results.map((r) => (r.status === 'fulfilled' ? (r.value.replayed ? 'replayed' : 'ran') : (r.reason as { code: string }).code));
      expect(runs).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'ran')).toHaveLength(1);
      expect(outcomes.every((o) => ['ran', 'replayed', 'IDEMPOTENCY_KEY_IN_PROGRESS'].includes(o))).toBe(true);
      // PostgreSQL: requests on other connections find the key held and are refused at once. SQLite:
      // the host's one connection runs one transaction at a time, so they wait and get the answer.
      if (dialect === 'postgres') expect(outcomes).toContain('IDEMPOTENCY_KEY_IN_PROGRESS');
      else expect(outcomes.filter((o) => o === 'replayed')).toHaveLength(5);
      const first = results.find((r) => r.status === 'fulfilled' && !r.value.replayed) as PromiseFulfilledResult<{ answer: StoredAnswer }>;
      for (const r of results) if (r.status === 'fulfilled') expect(r.value.answer).toEqual(first.value.answer);
      expect(await keysets[0].run(request, work('late'))).toEqual({ answer: first.value.answer, replayed: true });
    });

    it('E1: a refusal reached while working is stored and replayed; its work is rolled back', async () => {
      const keys = createIdempotencyKeys({ database: database() });
      const request = { merchantNo: MERCHANT, key: freshKey(), digest: digestOf('order D') };
      const { runs, work } = counted();
      const refusing = async (trx: Kysely<Schema>) => {
        await work('D')(trx);
        throw new GatewayOrderExists(MERCHANT, 'MO-1');
      };
      expect(await refusal(keys.run(request, refusing))).toBeUndefined();
      const replay = await keys.run(request, work('D-again'));
      expect(replay.replayed).toBe(true);
      expect(replay.answer).toEqual({ status: 409, body: { error: { code: 'GATEWAY_ORDER_EXISTS', message: expect.stringContaining('MO-1') } } });
      expect(runs).toEqual(['D']);
      expect(await rowsFor('D')).toBe(0);
    });

    it('E1: an unexpected failure stores nothing and frees the key: the same request then runs', async () => {
      const keys = createIdempotencyKeys({ database: database() });
      const request = { merchantNo: MERCHANT, key: freshKey(), digest: digestOf('order E') };
      const { runs, work } = counted();
      await expect(
        keys.run(request, async (trx) => {
          await work('E-broken')(trx);
          throw new Error('connection reset');
        }),
      ).rejects.toThrow('connection reset');
      expect(await rowsFor('E-broken')).toBe(0);
      expect(await keys.run(request, work('E'))).toMatchObject({ replayed: false });
      expect(runs).toEqual(['E-broken', 'E']);
    });

    it('E1: a key held by a request that died is taken over after the lock time, not before', async () => {
      const clock = testClock();
      const keys = createIdempotencyKeys({ database: database(), clock });
      const request = { merchantNo: MERCHANT, key: freshKey(), digest: digestOf('order F') };
      const { runs, work } = counted();
      // A request took the key and its process died: the row it left, as it left it.
      await sql`insert into gateway_idempotency_keys (merchant_no, idempotency_key, request_digest, state, locked_until, created_at)
                values (${MERCHANT}, ${request.key}, ${request.digest}, 'in_progress', ${new Date(T0.getTime() + LOCK_MS).toISOString()}, ${T0.toISOString()})`.execute(database().db);
      expect(await refusal(keys.run(request, work('F1')))).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      clock.advance(LOCK_MS - 1);
      expect(await refusal(keys.run(request, work('F1')))).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      clock.advance(1);
      expect(await keys.run(request, work('F2'))).toMatchObject({ replayed: false, answer: { body: { label: 'F2' } } });
      expect(await keys.run(request, work('F3'))).toMatchObject({ replayed: true, answer: { body: { label: 'F2' } } });
      expect(runs).toEqual(['F2']);
    });

    it('E1: keys are kept 24 hours and purged after', async () => {
      const clock = testClock(new Date('2026-12-10T00:00:00.000Z'));
      const keys = createIdempotencyKeys({ database: database(), clock });
      const request = { merchantNo: MERCHANT, key: freshKey(), digest: digestOf('order G') };
      const { runs, work } = counted();
      await keys.run(request, work('G'));
      clock.advance(KEY_RETENTION_MS - 1_000);
      await keys.purge();
      expect((await keys.run(request, work('G-kept'))).replayed).toBe(true);
      clock.advance(2_000);
      expect(await keys.purge()).toBeGreaterThanOrEqual(1);
      expect((await keys.run(request, work('G-after'))).replayed).toBe(false);
      expect(runs).toEqual(['G', 'G-after']);
    });

    it('E1: a malformed key is IDEMPOTENCY_KEY_INVALID', async () => {
      const keys = createIdempotencyKeys({ database: database() });
      const { runs, work } = counted();
      for (const key of ['', 'with space', 'x'.repeat(256), 'ключ']) expect(await refusal(keys.run({ merchantNo: MERCHANT, key, digest: digestOf('x') }, work('H')))).toBe('IDEMPOTENCY_KEY_INVALID');
      expect(runs).toEqual([]);
    });
  });
}
