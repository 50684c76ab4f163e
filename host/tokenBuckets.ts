/**
 * Token buckets kept in the database, for lookups that must not be repeated at will: an operator's
 * serial and customer lookups at MTMS (A14, host/mtms/lookupLimits.ts) and a payer's, terminal's
 * and merchant's payee lookups on the mobile payment platform (C5, host/payments/mobile). The
 * model is the PIX directory's anti-scan bucket: a lookup that finds what it asked for costs a
 * little, one that finds nothing costs more, the bucket refills continuously up to its size, and
 * an empty bucket refuses with the seconds until one more lookup is possible.
 *
 * Each bucket is a row of its table, so every host process sharing the database draws on the same
 * bucket. Each change is a compare-and-set on the row's version: two processes that take from one
 * bucket at once cannot both spend the same token; the loser reads again. A bucket with no row is
 * full. The table is named by its owner (different roles keep different tables, each created by
 * its own migration with the columns below); the statements are raw SQL for that reason.
 */
import { type Kysely, sql } from 'kysely';
import { PaypadError } from '../shared/errors';
import { isoTimestamp, type Schema } from './db/schema';

export interface TokenBucketLimits {
  /** Tokens a full bucket holds: the burst allowed at once. */
  readonly bucketSize: number;
  /** Tokens added per minute, continuously, up to bucketSize. */
  readonly refillPerMinute: number;
  /** What a lookup that finds nothing costs; a hit costs HIT_COST. */
  readonly missCost: number;
}

export const HIT_COST = 1;

/**
 * Where a family of buckets lives: a table with `keyColumn` (text primary key), credit (bigint),
 * refilled_at (ISO text), refused (integer) and version (integer).
 */
export interface BucketTable {
  readonly table: string;
  readonly keyColumn: string;
}

export type BucketDecision =
  | { readonly allowed: true; readonly tokensLeft: number; readonly refusedBefore: number }
  | { readonly allowed: false; readonly retryAfterS: number; readonly firstRefusal: boolean };

export interface TokenBuckets {
  /** Refills the bucket of `key`, then spends `cost` unless it holds less than HIT_COST (a refusal, counted). */
  take(key: string, cost: number): Promise<BucketDecision>;
  /**
   * Whether `key` could look up now, changing nothing: for a lookup charged to several buckets,
   * which asks each before it charges any, so one empty bucket does not drain the others.
   */
  check(key: string): Promise<{ readonly allowed: true } | { readonly allowed: false; readonly retryAfterS: number }>;
  /** Gives `tokens` back (a lookup that led to a completed payment), up to the bucket's size. */
  give(key: string, tokens: number): Promise<void>;
}

/** A token in stored units: a bucket refilling R tokens a minute gains exactly R units a millisecond. */
const UNITS_PER_TOKEN = 60_000;
/**
 * Compare-and-set rounds for one change. Each round some request wins, so only a caller sending
 * more changes at once than this loses every round: it is told to wait a second, like an empty bucket.
 */
const MAX_ROUNDS = 32;

interface BucketRow {
  credit: number;
  refilled_at: string;
  refused: number;
  version: number;
}

export function createTokenBuckets(db: Kysely<Schema>, where: BucketTable, limits: TokenBucketLimits, clock: () => Date): TokenBuckets {
  assertLimits(limits);
  const size = limits.bucketSize * UNITS_PER_TOKEN;
  const hit = HIT_COST * UNITS_PER_TOKEN;
  const table = sql.table(where.table);
  const key = sql.ref(where.keyColumn);

  const read = async (k: string): Promise<BucketRow | undefined> => {
    const { rows } = await sql<BucketRow>`select credit, refilled_at, refused, version from ${table} where ${key} = ${k}`.execute(db);
    return rows[0] === undefined ? undefined : { ...rows[0], credit: Number(rows[0].credit) };
  };
  const readOrCreate = async (k: string, now: Date): Promise<BucketRow> => {
    const row = await read(k);
    if (row !== undefined) return row;
    await sql`insert into ${table} (${key}, credit, refilled_at, refused, version) values (${k}, ${size}, ${isoTimestamp(now)}, 0, 0) on conflict (${key}) do nothing`.execute(db);
    const created = await read(k);
    if (created === undefined) throw new PaypadError('INTERNAL', 'the token bucket was not stored');
    return created;
  };
  const refilled = (row: BucketRow, now: Date) => Math.min(size, row.credit + Math.max(0, now.getTime() - Date.parse(row.refilled_at)) * limits.refillPerMinute);
  const retryAfterS = (credit: number) => Math.max(1, Math.ceil((hit - credit) / limits.refillPerMinute / 1000));
  /** Sets the row to `next` if nobody changed it since it was read; false when someone did. */
  const compareAndSet = async (k: string, row: BucketRow, next: { credit: number; refused: number }, now: Date) => {
    const result = await sql`update ${table} set credit = ${next.credit}, refused = ${next.refused}, refilled_at = ${isoTimestamp(now)}, version = ${row.version + 1} where ${key} = ${k} and version = ${row.version}`.execute(db);
    return result.numAffectedRows === 1n;
  };

  return {
    async take(k, cost) {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const now = clock();
        const row = await readOrCreate(k, now);
        const credit = refilled(row, now);
        const allowed = credit >= hit;
        const next = allowed ? { credit: credit - cost * UNITS_PER_TOKEN, refused: 0 } : { credit, refused: row.refused + 1 };
        if (!(await compareAndSet(k, row, next, now))) continue;
        if (allowed) return { allowed, tokensLeft: next.credit / UNITS_PER_TOKEN, refusedBefore: row.refused };
        return { allowed, retryAfterS: retryAfterS(credit), firstRefusal: row.refused === 0 };
      }
      return { allowed: false, retryAfterS: 1, firstRefusal: false };
    },

    async check(k) {
      const now = clock();
      const row = await read(k);
      const credit = row === undefined ? size : refilled(row, now);
      return credit >= hit ? { allowed: true } : { allowed: false, retryAfterS: retryAfterS(credit) };
    },

    async give(k, tokens) {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const now = clock();
        const row = await readOrCreate(k, now);
        if (await compareAndSet(k, row, { credit: Math.min(size, refilled(row, now) + tokens * UNITS_PER_TOKEN), refused: row.refused }, now)) return;
      }
      // A refund lost to contention costs the payer one token at most; the lookup itself went through.
    },
  };
}

/** CONFIG_INVALID for sizes that are not positive whole numbers or a miss dearer than a full bucket. */
function assertLimits(limits: TokenBucketLimits): void {
  const { bucketSize, refillPerMinute, missCost } = limits;
  if (![bucketSize, refillPerMinute, missCost].every((n) => Number.isSafeInteger(n) && n >= 1) || missCost > bucketSize) {
    throw new PaypadError('CONFIG_INVALID', 'token bucket: size, refill per minute and miss cost must be whole numbers from 1, the miss cost at most the size');
  }
}
