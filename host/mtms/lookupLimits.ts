/**
 * A14: how many lookups an operator station may make at MTMS. Each operator certificate has a
 * token bucket (as the PIX directory limits its lookups per payer, docs/key-loading.md "Lookup
 * limits"): a lookup that finds what it asked for costs `HIT_COST`, one that finds nothing (an
 * unknown serial or customer code) costs `missCost`, the bucket refills continuously up to its
 * size, and an operator whose bucket is empty gets 429 MTMS_LOOKUP_RATE_LIMITED with the seconds
 * until one more lookup is possible.
 *
 * The buckets are rows of mtms_lookup_buckets, kept by host/tokenBuckets.ts (shared with the
 * mobile payment platform's payee lookups), so every host process sharing the database draws on
 * the same bucket. The lookup is answered first and charged after, by what it found; the refusal
 * itself does not depend on what was found, so a 429 tells nothing about the serial asked for.
 */
import type { ColumnType, Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import type { IsoTimestamp, Schema } from '../db/schema';
import { type BucketDecision, createTokenBuckets, HIT_COST, type TokenBucketLimits } from '../tokenBuckets';

export { HIT_COST, type BucketDecision };

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

export type LookupLimits = TokenBucketLimits;

/** PIX DICT's bucket for a person: 100 tokens, 2 per minute, 20 for a lookup that finds nothing. */
export const DEFAULT_LOOKUP_LIMITS: LookupLimits = { bucketSize: 100, refillPerMinute: 2, missCost: 20 };

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

export function createLookupBuckets(db: Kysely<Schema>, limits: LookupLimits, clock: () => Date): LookupBuckets {
  return createTokenBuckets(db, { table: 'mtms_lookup_buckets', keyColumn: 'operator_cert_serial' }, limits, clock);
}
