/**
 * A14: the operators' lookup buckets (host/mtms/lookupLimits.ts) on every dialect: a hit costs 1,
 * a miss costs more, an empty bucket refuses with the seconds until the next lookup, buckets
 * refill with time (an injected clock: no sleeping), and two host processes on one database
 * draw on one bucket without spending a token twice.
 */
import { describe, expect, it } from 'vitest';
import { createLookupBuckets, HIT_COST, type LookupLimits } from '../../host/mtms/lookupLimits';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const LIMITS: LookupLimits = { bucketSize: 10, refillPerMinute: 6, missCost: 4 };

/** A clock the test moves by hand. */
function manualClock(start = Date.parse('2026-12-01T08:00:00.000Z')) {
  let now = start;
  return { clock: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

describe.each(DIALECTS)('A14 lookup buckets on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let operatorNo = 0;
  const newOperator = () => `0A${String(++operatorNo).padStart(4, '0')}${dialect === 'sqlite' ? '01' : '02'}`;

  it('A14 a full bucket allows bucketSize hits, then refuses with Retry-After seconds; only the first refusal of a run is marked', async () => {
    const { clock } = manualClock();
    const buckets = createLookupBuckets(database().db, LIMITS, clock);
    const operator = newOperator();
    for (let i = 1; i <= LIMITS.bucketSize; i++) expect(await buckets.take(operator, HIT_COST)).toEqual({ allowed: true, tokensLeft: LIMITS.bucketSize - i, refusedBefore: 0 });
    // 6 per minute: one token every 10 s.
    expect(await buckets.take(operator, HIT_COST)).toEqual({ allowed: false, retryAfterS: 10, firstRefusal: true });
    expect(await buckets.take(operator, HIT_COST)).toEqual({ allowed: false, retryAfterS: 10, firstRefusal: false });
    // Another certificate has a bucket of its own.
    expect(await buckets.take(newOperator(), HIT_COST)).toMatchObject({ allowed: true, tokensLeft: LIMITS.bucketSize - 1 });
  });

  it('A14 a miss costs missCost and may leave a debt that the refill pays back first; buckets refill with time up to their size', async () => {
    const { clock, advance } = manualClock();
    const buckets = createLookupBuckets(database().db, LIMITS, clock);
    const operator = newOperator();
    expect(await buckets.take(operator, LIMITS.missCost)).toMatchObject({ allowed: true, tokensLeft: 6 });
    expect(await buckets.take(operator, LIMITS.missCost)).toMatchObject({ allowed: true, tokensLeft: 2 });
    expect(await buckets.take(operator, LIMITS.missCost)).toMatchObject({ allowed: true, tokensLeft: -2 });
    // 3 tokens short of one lookup: 30 s.
    expect(await buckets.take(operator, HIT_COST)).toEqual({ allowed: false, retryAfterS: 30, firstRefusal: true });
    advance(29_000);
    expect(await buckets.take(operator, HIT_COST)).toEqual({ allowed: false, retryAfterS: 1, firstRefusal: false });
    advance(1_000);
    // The two refusals are reported with the next answered lookup.
    expect(await buckets.take(operator, HIT_COST)).toEqual({ allowed: true, tokensLeft: 0, refusedBefore: 2 });
    // A day later the bucket is full, not fuller.
    advance(86_400_000);
    expect(await buckets.take(operator, HIT_COST)).toEqual({ allowed: true, tokensLeft: LIMITS.bucketSize - 1, refusedBefore: 0 });
  });

  it('A14 two host processes on one database share the bucket: concurrent lookups never spend a token twice', async () => {
    const { clock } = manualClock();
    const other = database.connect();
    const here = createLookupBuckets(database().db, LIMITS, clock);
    const there = createLookupBuckets(other.db, LIMITS, clock);
    const operator = newOperator();
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? here : there).take(operator, HIT_COST)));
    expect(results.filter((r) => r.allowed)).toHaveLength(LIMITS.bucketSize);
    expect(results.filter((r) => !r.allowed)).toHaveLength(16 - LIMITS.bucketSize);
    expect(await here.take(operator, HIT_COST)).toMatchObject({ allowed: false });
  });
});
