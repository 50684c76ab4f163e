/**
 * C5 anti-enumeration: who may look payees up, and how often. A payee lookup is charged to three
 * token buckets (host/tokenBuckets.ts, table mobile_lookup_buckets): the payer's mobile number when
 * the POS sent it, the terminal, and the merchant. Each is asked first and none is charged unless
 * all allow the lookup, so one empty bucket does not drain the others; then each pays what the
 * lookup cost: HIT_COST when it found a payee, missCost when it did not (enumeration is mostly
 * misses: random numbers are rarely registered). A lookup that led to a completed payment gives
 * COMPLETED_PAYMENT_REFUND back to each, so a busy honest shop is not throttled by its own sales.
 * Registrations and updates have a bucket per mobile number too, and each card a bucket of failed
 * card checks (by its fingerprint, cardVault.ts): the card check behind them tells whether a name
 * matches a card, which must not be asked at will, neither from one number nor from many.
 *
 * Numbers (docs/mobile-payments.md "Lookup limits" says why): PIX DICT's bucket for a person
 * (100 tokens, 2 a minute, 20 for a miss, 1 back for a payment) for each payer; a terminal serves
 * many payers, so 200 and 10 a minute; a merchant's several terminals share 1 000 and 60 a minute.
 */
import type { Kysely } from 'kysely';
import { PaypadError } from '../../../shared/errors';
import type { Schema } from '../../db/schema';
import { createTokenBuckets, HIT_COST, type TokenBucketLimits, type TokenBuckets } from '../../tokenBuckets';

export interface PayeeLookupLimits {
  readonly payer: TokenBucketLimits;
  readonly terminal: TokenBucketLimits;
  readonly merchant: TokenBucketLimits;
  /** Per mobile number: starting a registration or update (a failed card check is the miss). */
  readonly registration: TokenBucketLimits;
  /** Per card: failed card checks only, whatever number asked (a payee re-registering their own card costs nothing). */
  readonly card: TokenBucketLimits;
}

export const DEFAULT_PAYEE_LOOKUP_LIMITS: PayeeLookupLimits = Object.freeze({
  payer: { bucketSize: 100, refillPerMinute: 2, missCost: 20 },
  terminal: { bucketSize: 200, refillPerMinute: 10, missCost: 20 },
  merchant: { bucketSize: 1_000, refillPerMinute: 60, missCost: 20 },
  registration: { bucketSize: 10, refillPerMinute: 1, missCost: 5 },
  card: { bucketSize: 20, refillPerMinute: 1, missCost: 5 },
});

export const COMPLETED_PAYMENT_REFUND = 1;

export type BucketFamily = keyof PayeeLookupLimits;

/** One bucket: its family and whose it is (a mobile number, a terminal id, a merchant id). */
export interface BucketKey {
  readonly family: BucketFamily;
  readonly id: string;
}

/** RATE_LIMITED (HTTP 429): the seconds until one more lookup is possible go out as Retry-After (RFC 9110 §10.2.3). */
export class RateLimited extends PaypadError {
  readonly retryAfterS: number;
  constructor(retryAfterS: number, what: string) {
    super('RATE_LIMITED', `too many ${what}; the next one is possible in ${retryAfterS} s`);
    this.retryAfterS = retryAfterS;
  }
}

export interface LookupBuckets {
  /** RATE_LIMITED, changing nothing, unless every bucket named holds a token. */
  assertAllowed(keys: readonly BucketKey[], what: string): Promise<void>;
  /** Charges each bucket HIT_COST when the lookup found what it asked for, its missCost when not. */
  charge(keys: readonly BucketKey[], found: boolean): Promise<void>;
  /** Gives each bucket COMPLETED_PAYMENT_REFUND back. */
  refund(keys: readonly BucketKey[]): Promise<void>;
}

export function createLookupBuckets(db: Kysely<Schema>, limits: PayeeLookupLimits, clock: () => Date): LookupBuckets {
  const families = Object.fromEntries(
    (Object.keys(limits) as BucketFamily[]).map((f) => [f, createTokenBuckets(db, { table: 'mobile_lookup_buckets', keyColumn: 'bucket_key' }, limits[f], clock)]),
  ) as Record<BucketFamily, TokenBuckets>;
  const keyOf = (k: BucketKey) => `${k.family}:${k.id}`;
  return {
    async assertAllowed(keys, what) {
      const answers = await Promise.all(keys.map((k) => families[k.family].check(keyOf(k))));
      const waits = answers.flatMap((a) => (a.allowed ? [] : [a.retryAfterS]));
      if (waits.length > 0) throw new RateLimited(Math.max(...waits), what);
    },
    async charge(keys, found) {
      await Promise.all(keys.map((k) => families[k.family].take(keyOf(k), found ? HIT_COST : limits[k.family].missCost)));
    },
    async refund(keys) {
      await Promise.all(keys.map((k) => families[k.family].give(keyOf(k), COMPLETED_PAYMENT_REFUND)));
    },
  };
}
