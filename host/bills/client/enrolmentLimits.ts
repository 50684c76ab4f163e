/**
 * How often enrolment may start for one number: each start texts a code to that number, so
 * without a limit anyone could have the platform text a stranger at will, and try codes against
 * a fresh enrolment every time. A bucket per number (host/tokenBuckets.ts, in the database, shared
 * by every host process): five starts at once, then one more a minute. An empty bucket is RATE_LIMITED (429, Retry-After) and no text goes.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../../db/schema';
import { RateLimited } from '../../payments/mobile/lookupBuckets';
import { createTokenBuckets, HIT_COST, type TokenBucketLimits } from '../../tokenBuckets';

export const ENROLMENT_LIMITS: TokenBucketLimits = Object.freeze({ bucketSize: 5, refillPerMinute: 1, missCost: HIT_COST });

export interface EnrolmentLimits {
  /** Spends one start of `mobile` (E.164); RATE_LIMITED when none is left. */
  take(mobile: string): Promise<void>;
}

export function createEnrolmentLimits(db: Kysely<Schema>, clock: () => Date, limits: TokenBucketLimits = ENROLMENT_LIMITS): EnrolmentLimits {
  const buckets = createTokenBuckets(db, { table: 'bill_client_enrolment_buckets', keyColumn: 'mobile' }, limits, clock);
  return {
    async take(mobile) {
      const decision = await buckets.take(mobile, HIT_COST);
      if (!decision.allowed) throw new RateLimited(decision.retryAfterS, 'enrolments for this mobile number');
    },
  };
}
