/**
 * A14: how many lookups an operator station may make at MTMS. Each operator certificate has a
 * token bucket (as the PIX directory limits its lookups per payer, docs/key-loading.md "Lookup
 * limits"): a lookup that finds what it asked for costs `HIT_COST`, one that finds nothing (an
 * unknown serial or customer code) costs `missCost`, the bucket refills continuously up to its
 * size, and an operator whose bucket is empty gets 429 MTMS_LOOKUP_RATE_LIMITED with the seconds
 * until one more lookup is possible.
 *
 * The buckets are rows of mtms_lookup_buckets, so every host process sharing the database draws
 * on the same bucket. Each change is a compare-and-set on the row's version: two processes that
 * take from one bucket at once cannot both spend the same token; the loser reads again. The
 * lookup is answered first and charged after, by what it found; the refusal itself does not
 * depend on what was found, so a 429 tells nothing about the serial asked for.
 */
import type { ColumnType, Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';

export type LookupBucketTables = {
  mtms_lookup_buckets: {
    operator_cert_serial: ColumnType<string, string, never>;
    /** Tokens × UNITS_PER_TOKEN: refilling refillPerMinute units per ms keeps every value a whole number. */
    credit: number;
    refilled_at: IsoTimestamp;
    /** Lookups refused since the last one answered: the first of a run is audited, the rest counted. */
    refused: number;
    version: number;
  };
};

export interface LookupLimits {
  /** Tokens a full bucket holds: the burst a station may look up at once. */
  readonly bucketSize: number;
  /** Tokens added per minute, continuously, up to bucketSize. */
  readonly refillPerMinute: number;
  /** What a lookup that finds nothing costs; a hit costs HIT_COST. */
  readonly missCost: number;
}

export const HIT_COST = 1;
/** PIX DICT's bucket for a person: 100 tokens, 2 per minute, 20 for a lookup that finds nothing. */
export const DEFAULT_LOOKUP_LIMITS: LookupLimits = { bucketSize: 100, refillPerMinute: 2, missCost: 20 };

export type BucketDecision =
  | { readonly allowed: true; readonly tokensLeft: number; readonly refusedBefore: number }
  | { readonly allowed: false; readonly retryAfterS: number; readonly firstRefusal: boolean };

export interface LookupBuckets {
  /** Refills the bucket of `operatorCertSerial`, then spends `cost` unless it holds less than HIT_COST. */
  take(operatorCertSerial: string, cost: number): Promise<BucketDecision>;
}

/** 429 with the seconds to wait (the router sends them as Retry-After, RFC 9110 §10.2.3). */
export class LookupRateLimited extends PaypadError {
  readonly retryAfterS: number;
  constructor(retryAfterS: number) {
    super('MTMS_LOOKUP_RATE_LIMITED', `too many lookups from this operator certificate; the next one is possible in ${retryAfterS} s`);
    this.retryAfterS = retryAfterS;
  }
}

/** A token in stored units: a bucket refilling R tokens a minute gains exactly R units a millisecond. */
const UNITS_PER_TOKEN = 60_000;
/**
 * Compare-and-set rounds for one lookup. Each round some request wins, so only a station sending
 * more lookups at once than this loses every round: it is told to wait a second, like an empty bucket.
 */
const MAX_ROUNDS = 32;

export function createLookupBuckets(schemaDb: Kysely<Schema>, limits: LookupLimits, clock: () => Date): LookupBuckets {
  const db = schemaDb.withTables<LookupBucketTables>();
  const size = limits.bucketSize * UNITS_PER_TOKEN;
  const hit = HIT_COST * UNITS_PER_TOKEN;

  const read = (serial: string) => db.selectFrom('mtms_lookup_buckets').selectAll().where('operator_cert_serial', '=', serial).executeTakeFirst();

  return {
    async take(serial, cost) {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const now = clock();
        let row = await read(serial);
        if (row === undefined) {
          await db
            .insertInto('mtms_lookup_buckets')
            .values({ operator_cert_serial: serial, credit: size, refilled_at: isoTimestamp(now), refused: 0, version: 0 })
            .onConflict((oc) => oc.column('operator_cert_serial').doNothing())
            .execute();
          row = await read(serial);
          if (row === undefined) throw new PaypadError('INTERNAL', 'the lookup bucket was not stored');
        }
        const elapsedMs = Math.max(0, now.getTime() - Date.parse(row.refilled_at));
        const credit = Math.min(size, row.credit + elapsedMs * limits.refillPerMinute);
        const allowed = credit >= hit;
        const next = allowed ? { credit: credit - cost * UNITS_PER_TOKEN, refused: 0 } : { credit, refused: row.refused + 1 };
        const updated = await db
          .updateTable('mtms_lookup_buckets')
          .set({ ...next, refilled_at: isoTimestamp(now), version: row.version + 1 })
          .where('operator_cert_serial', '=', serial)
          .where('version', '=', row.version)
          .executeTakeFirst();
        if (updated.numUpdatedRows !== 1n) continue;
        if (allowed) return { allowed, tokensLeft: next.credit / UNITS_PER_TOKEN, refusedBefore: row.refused };
        return { allowed, retryAfterS: Math.max(1, Math.ceil((hit - credit) / limits.refillPerMinute / 1000)), firstRefusal: row.refused === 0 };
      }
      return { allowed: false, retryAfterS: 1, firstRefusal: false };
    },
  };
}
