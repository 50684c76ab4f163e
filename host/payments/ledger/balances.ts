/**
 * An account's four balances and how one transfer moves them (TigerBeetle's account model):
 * debits and credits, each pending (held by an open two-phase transfer) and posted. Pure
 * arithmetic on bigint minor units, so it can be checked without a database.
 *
 * Invariants kept here:
 * - A transfer's effect is one Movement applied to the debit side of one account and the credit
 *   side of another: what is debited equals what is credited, for every transfer and therefore
 *   for the whole ledger per currency (both accounts share the transfer's currency).
 * - No balance goes below zero or above MAX_BALANCE (the database reads int8 as JS numbers,
 *   host/db/database.ts, so 2^53 - 1 is the ceiling for any stored amount).
 * - An account flagged debits_must_not_exceed_credits (a customer's money we hold: a liability)
 *   never has debits_pending + debits_posted above credits_posted, and the mirror flag the
 *   mirror rule; pending credits never count as funds.
 */
import { PaypadError } from '../../../shared/errors';

export type BalanceLimit = 'debits_must_not_exceed_credits' | 'credits_must_not_exceed_debits';
export const BALANCE_LIMITS: readonly BalanceLimit[] = ['debits_must_not_exceed_credits', 'credits_must_not_exceed_debits'];

/** The largest amount or balance the ledger stores: Number.MAX_SAFE_INTEGER minor units. */
export const MAX_BALANCE = BigInt(Number.MAX_SAFE_INTEGER);

export interface Balances {
  readonly debitsPending: bigint;
  readonly debitsPosted: bigint;
  readonly creditsPending: bigint;
  readonly creditsPosted: bigint;
}

export const ZERO_BALANCES: Balances = { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };

/** What one transfer adds to the pending and posted totals of the side it touches (negative: released). */
export interface Movement {
  readonly pending: bigint;
  readonly posted: bigint;
}

/** Single-phase: posted at once. */
export const postedMovement = (amount: bigint): Movement => ({ pending: 0n, posted: amount });
/** Authorisation hold: pending until posted, voided or expired. */
export const pendingMovement = (amount: bigint): Movement => ({ pending: amount, posted: 0n });
/** Settlement of a hold of `held` for `posted` <= held: the whole hold is released, `posted` is posted. */
export const postPendingMovement = (held: bigint, posted: bigint): Movement => ({ pending: -held, posted });
/** Reversal or expiry of a hold: released, nothing posted. */
export const releaseMovement = (held: bigint): Movement => ({ pending: -held, posted: 0n });

export type Side = 'debit' | 'credit';

/**
 * The balances of `account` after `movement` on `side`.
 * @throws PaypadError LEDGER_OVERFLOW past MAX_BALANCE; LEDGER_INVARIANT_BROKEN below zero
 * (a release of more than is held means the books were already wrong).
 */
export function move(account: { readonly code: string } & Balances, side: Side, movement: Movement): Balances {
  const [pendingKey, postedKey] = side === 'debit' ? (['debitsPending', 'debitsPosted'] as const) : (['creditsPending', 'creditsPosted'] as const);
  const pending = account[pendingKey] + movement.pending;
  const posted = account[postedKey] + movement.posted;
  if (pending < 0n || posted < 0n) {
    throw new PaypadError('LEDGER_INVARIANT_BROKEN', `account ${account.code} would hold negative ${side}s; its balances disagree with its transfers (run verifyLedger)`);
  }
  if (pending > MAX_BALANCE || posted > MAX_BALANCE || pending + posted > MAX_BALANCE) {
    throw new PaypadError('LEDGER_OVERFLOW', `account ${account.code} would exceed ${MAX_BALANCE} minor units of ${side}s`);
  }
  return { ...pickBalances(account), [pendingKey]: pending, [postedKey]: posted };
}

/** The rule `limit` breaks on `balances`, as a sentence, or undefined when they keep it. */
export function limitBreach(balances: Balances, limit: BalanceLimit | undefined): string | undefined {
  if (limit === 'debits_must_not_exceed_credits' && balances.debitsPending + balances.debitsPosted > balances.creditsPosted) {
    return `debits (${balances.debitsPending + balances.debitsPosted} pending and posted) would exceed posted credits (${balances.creditsPosted})`;
  }
  if (limit === 'credits_must_not_exceed_debits' && balances.creditsPending + balances.creditsPosted > balances.debitsPosted) {
    return `credits (${balances.creditsPending + balances.creditsPosted} pending and posted) would exceed posted debits (${balances.debitsPosted})`;
  }
  return undefined;
}

export function pickBalances(b: Balances): Balances {
  return { debitsPending: b.debitsPending, debitsPosted: b.debitsPosted, creditsPending: b.creditsPending, creditsPosted: b.creditsPosted };
}
