/**
 * The outbox worker: claims due rows (outboxStore.claim, leased), hands each to the handler of its
 * topic, and records the outcome: delivered, discarded, or failed and tried again later with
 * backoff (retryPolicy.ts) until the last attempt, after which the row is dead.
 *
 * Delivery is at least once: a worker that dies mid-send leaves its row leased; when the lease
 * runs out another worker (in this or another host) claims it and sends it again, so receivers
 * dedupe on the row's idempotency key. The lease must outlast a handler's slowest attempt (its
 * own timeouts), or a slow send and its take-over overlap (still at least once, just wasteful).
 *
 * A worker claims only topics it has handlers for, so hosts running different roles share one
 * outbox table.
 */
import type { Kysely } from 'kysely';
import { isPaypadError, PaypadError } from '../../shared/errors';
import type { Dialect } from '../db/database';
import type { Schema } from '../db/schema';
import type { Logger } from '../log';
import { type ClaimedRow, type OutboxPayload, createOutboxStore, TOPIC_PATTERN } from './outboxStore';
import { type Random, type RetryPolicy, retryDelayMs, retryPolicy } from './retryPolicy';

/** What a handler gets: one message and which attempt this is (1 for the first). */
export interface OutboxDelivery {
  readonly id: number;
  readonly topic: string;
  readonly destination: string;
  readonly idempotencyKey: string;
  readonly payload: OutboxPayload;
  readonly attempt: number;
}

/**
 * 'delivered': the receiver acknowledged it. 'discarded': the message became obsolete before it
 * was sent (the change it announced was undone); nothing was sent.
 */
export type DeliveryOutcome = { readonly outcome: 'delivered' } | { readonly outcome: 'discarded'; readonly reason: string };

/** Delivers one message. Throwing means "not delivered": tried again later unless permanent. */
export type OutboxHandler = (delivery: OutboxDelivery) => Promise<DeliveryOutcome>;

const permanentErrors = new WeakSet<object>();

/** Marks an error no retry can cure (the receiver refuses the message as such): the row goes dead at once. */
export function permanentFailure<E extends PaypadError>(error: E): E {
  permanentErrors.add(error);
  return error;
}

export interface OutboxWorkerOptions {
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  readonly handlers: Readonly<Record<string, OutboxHandler>>;
  readonly retry?: Partial<RetryPolicy>;
  /** How long a claim keeps other workers off a row (ms). */
  readonly leaseMs?: number;
  /** How often to look for due rows when nothing wakes the worker (ms). */
  readonly pollMs?: number;
  /** Rows claimed and sent concurrently per round. */
  readonly batchSize?: number;
  readonly clock?: () => Date;
  readonly random?: Random;
  readonly logger?: Logger;
}

export interface OutboxWorker {
  readonly policy: RetryPolicy;
  /** One round: claims up to batchSize due rows and delivers them; resolves to the number claimed. */
  runOnce(): Promise<number>;
  /** Starts polling in the background. */
  start(): void;
  /** Looks for due rows now (after an enqueue committed) instead of at the next poll. */
  wake(): void;
  /** Stops polling and waits for the round in progress. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_LEASE_MS = 60_000;
export const DEFAULT_POLL_MS = 1_000;
export const DEFAULT_BATCH_SIZE = 10;

export function createOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const policy = retryPolicy(options.retry);
  const leaseMs = positive(options.leaseMs ?? DEFAULT_LEASE_MS, 'leaseMs');
  const pollMs = positive(options.pollMs ?? DEFAULT_POLL_MS, 'pollMs');
  const batchSize = positive(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
  const clock = options.clock ?? (() => new Date());
  const random = options.random ?? Math.random;
  const logger = options.logger?.child({ component: 'outbox' });
  const store = createOutboxStore(options.db, options.dialect);
  const topics = Object.keys(options.handlers);
  for (const topic of topics) {
    if (!TOPIC_PATTERN.test(topic)) throw new PaypadError('CONFIG_INVALID', `outbox topic ${JSON.stringify(topic).slice(0, 80)} is not a valid topic name`);
  }

  const deliver = async (row: ClaimedRow): Promise<void> => {
    // Not `key`: the log censors fields of that name as key material (host/redact.ts), and the
    // idempotency key (a delivery id) is what an operator searches the log for.
    const log = logger?.child({ outboxId: row.id, topic: row.topic, destination: row.destination, idempotencyKey: row.idempotencyKey, attempt: row.attempts });
    // Every attempt was used and the last one never reported back (its worker died): give up
    // rather than try beyond the limit.
    if (row.attempts > policy.maxAttempts) {
      await store.recordFailure(row, 'INTERNAL: the last attempt was cut short (lease expired)', undefined, clock());
      log?.error('outbox message dead: its last attempt never finished');
      return;
    }
    const handler = options.handlers[row.topic];
    let outcome: DeliveryOutcome;
    try {
      outcome = await handler({ id: row.id, topic: row.topic, destination: row.destination, idempotencyKey: row.idempotencyKey, payload: row.payload, attempt: row.attempts });
    } catch (e) {
      const permanent = typeof e === 'object' && e !== null && permanentErrors.has(e);
      const dead = permanent || row.attempts >= policy.maxAttempts;
      const retryAt = dead ? undefined : new Date(clock().getTime() + retryDelayMs(policy, row.attempts, random));
      const recorded = await store.recordFailure(row, describe(e), retryAt, clock());
      if (!isPaypadError(e)) log?.error({ err: e }, 'outbox handler failed unexpectedly');
      if (!recorded) log?.warn('outbox attempt failed after another worker took the message over');
      else if (dead) log?.error({ error: describe(e), permanent }, 'outbox message dead: no more attempts');
      else log?.warn({ error: describe(e), retryAt: retryAt?.toISOString() }, 'outbox attempt failed; will retry');
      return;
    }
    if (outcome.outcome === 'delivered') {
      await store.markDelivered(row.id, clock());
      log?.info('outbox message delivered');
    } else {
      await store.markDiscarded(row.id, outcome.reason, clock());
      log?.info({ reason: outcome.reason }, 'outbox message discarded');
    }
  };

  const runOnce = async (): Promise<number> => {
    const claimed: ClaimedRow[] = [];
    let claimError: unknown;
    try {
      while (claimed.length < batchSize) {
        const row = await store.claim({ topics, now: clock(), leaseMs });
        if (row === undefined) break;
        claimed.push(row);
      }
    } catch (e) {
      // Rows already claimed are still sent now rather than left leased until their lease runs out.
      claimError = e;
    }
    // A row whose outcome could not be recorded (database down) stays leased and is sent again
    // after the lease: at least once.
    const results = await Promise.allSettled(claimed.map(deliver));
    for (const r of results) if (r.status === 'rejected') logger?.error({ err: r.reason }, 'outbox could not record a delivery outcome');
    if (claimError !== undefined) throw claimError;
    return claimed.length;
  };

  let loop: Promise<void> | undefined;
  let stopped = false;
  let woken = false;
  let interrupt: (() => void) | undefined;

  const run = async () => {
    while (!stopped) {
      woken = false;
      let claimed = 0;
      try {
        claimed = await runOnce();
      } catch (e) {
        logger?.error({ err: e }, 'outbox round failed; retrying at the next poll');
      }
      if (stopped) break;
      // A full batch means more may be due; a wake during the round means a new row committed.
      if (claimed === batchSize || woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        interrupt = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      interrupt = undefined;
    }
  };

  return {
    policy,
    runOnce,
    start() {
      if (stopped || loop !== undefined) return;
      loop = run();
    },
    wake() {
      woken = true;
      interrupt?.();
    },
    async stop() {
      stopped = true;
      interrupt?.();
      await loop;
    },
  };
}

/** What is written to last_error: the code and message of a PaypadError (never secrets, X1), else only the error's class. */
function describe(e: unknown): string {
  if (isPaypadError(e)) return `${e.code}: ${e.message}`;
  return `INTERNAL: unexpected ${e instanceof Error ? e.name : typeof e} (see the host log)`;
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new PaypadError('CONFIG_INVALID', `outbox ${name} must be a positive integer`);
  return value;
}
