/**
 * host/tokenBuckets.ts on every dialect, beyond what A14's lookup buckets test: `check` answers
 * without changing anything (no row made, nothing spent), `give` refunds up to the bucket's size,
 * and the limits are checked when the buckets are made. C5's payee lookups rely on all three.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createTokenBuckets, HIT_COST } from '../../host/tokenBuckets';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const WHERE = { table: 'mobile_lookup_buckets', keyColumn: 'bucket_key' };
const LIMITS = { bucketSize: 5, refillPerMinute: 6, missCost: 5 };

describe.each(DIALECTS)('C5 token buckets on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let n = 0;
  const key = () => `test:${dialect}:${++n}`;
  const rows = async (k: string) => (await sql`select * from mobile_lookup_buckets where bucket_key = ${k}`.execute(database().db)).rows;

  it('C5: check changes nothing: a bucket nobody used is full and gets no row; an empty one says when', async () => {
    let now = Date.parse('2026-12-06T08:00:00.000Z');
    const buckets = createTokenBuckets(database().db, WHERE, LIMITS, () => new Date(now));
    const k = key();
    expect(await buckets.check(k)).toEqual({ allowed: true });
    expect(await rows(k)).toEqual([]);
    expect(await buckets.take(k, LIMITS.missCost)).toMatchObject({ allowed: true, tokensLeft: 0 });
    const before = await rows(k);
    expect(await buckets.check(k)).toEqual({ allowed: false, retryAfterS: 10 });
    expect(await rows(k)).toEqual(before);
    now += 10_000;
    expect(await buckets.check(k)).toEqual({ allowed: true });
  });

  it('C5: give refunds a spent token, never beyond the size, and creates the bucket full if it had none', async () => {
    const now = Date.parse('2026-12-06T08:00:00.000Z');
    const buckets = createTokenBuckets(database().db, WHERE, LIMITS, () => new Date(now));
    const k = key();
    await buckets.take(k, HIT_COST);
    await buckets.take(k, HIT_COST);
    await buckets.give(k, 1);
    expect(await buckets.take(k, 0)).toMatchObject({ tokensLeft: 4 });
    await buckets.give(k, 10);
    expect(await buckets.take(k, 0)).toMatchObject({ tokensLeft: 5 });
    const fresh = key();
    await buckets.give(fresh, 1);
    expect(await buckets.take(fresh, 0)).toMatchObject({ tokensLeft: 5 });
  });

  it('C5: limits that are not whole numbers from 1, or a miss dearer than the bucket, are CONFIG_INVALID', () => {
    for (const limits of [{ ...LIMITS, bucketSize: 0 }, { ...LIMITS, refillPerMinute: 0.5 }, { ...LIMITS, missCost: 6 }]) {
      expect(() => createTokenBuckets(database().db, WHERE, limits, () => new Date())).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
  });
});
