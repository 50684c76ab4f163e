/**
 * When the outbox tries a failed message again: exponential backoff with jitter, capped, and a
 * number of attempts after which the message is dead (kept, visible, and re-armed by hand).
 *
 * Jitter is "equal jitter" (M. Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog,
 * 2015): half of the exponential delay is kept and the other half is random. Senders that failed
 * together (a KMS restart) spread out instead of retrying in lockstep, and no retry comes sooner
 * than half its step, so a receiver that is down is not hammered.
 *
 * The defaults span about a day, as Hyperswitch's 16 tries over about 24 h (ANCHORS.md "Merchant
 * notifications"): 2 s doubling to a 2 h cap over 24 attempts.
 */
import { PaypadError } from '../../shared/errors';

export interface RetryPolicy {
  /** The delay after the first failed attempt, before jitter (ms). */
  readonly baseMs: number;
  /** No delay exceeds this (ms). */
  readonly capMs: number;
  /** Attempts in all, the first included; after the last one fails the message is dead. */
  readonly maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 2_000, capMs: 2 * 60 * 60 * 1_000, maxAttempts: 24 };

/** A random number in [0, 1), as Math.random. Tests pass a fixed one. */
export type Random = () => number;

/** The default policy with `overrides`. @throws PaypadError CONFIG_INVALID for a value out of range. */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY, ...overrides };
  if (!Number.isSafeInteger(policy.baseMs) || policy.baseMs < 1) throw new PaypadError('CONFIG_INVALID', 'outbox retry baseMs must be a positive integer');
  if (!Number.isSafeInteger(policy.capMs) || policy.capMs < policy.baseMs) throw new PaypadError('CONFIG_INVALID', 'outbox retry capMs must be an integer not below baseMs');
  if (!Number.isSafeInteger(policy.maxAttempts) || policy.maxAttempts < 1 || policy.maxAttempts > 1_000) {
    throw new PaypadError('CONFIG_INVALID', 'outbox retry maxAttempts must be an integer from 1 to 1000');
  }
  return policy;
}

/**
 * The wait after failed attempt number `attempt` (1 for the first): min(cap, base * 2^(attempt-1)),
 * of which the upper half is scaled by `random()`. Always at least 1 ms.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: Random): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new PaypadError('BAD_ARGUMENT', 'retry attempt must be a positive integer');
  // 2^52 already exceeds any cap in ms; the bound keeps the power finite.
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt - 1, 52));
  const r = random();
  const jitter = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.max(1, Math.round(step / 2 + (step / 2) * jitter));
}
