/**
 * The outbox table (migration.ts) and every statement that changes it. A row's life:
 *
 *   pending --claim--> pending + lease --delivered--> delivered
 *                                      --discarded--> discarded (the handler found it obsolete)
 *                                      --failed-----> pending, next attempt later | dead
 *   dead --requeue--> pending (an operator re-arms it)
 *
 * Invariants kept here:
 * - enqueue runs inside the caller's transaction: the message exists iff the change committed.
 * - One row per idempotency key (unique index); enqueueing a key again returns the row it has,
 *   and a key reused with other content is refused (as an Idempotency-Key, ANCHORS.md).
 * - A claim is one statement that picks a due row and leases it. On PostgreSQL the row is picked
 *   with FOR UPDATE SKIP LOCKED, so concurrent claimers in several hosts never get the same row;
 *   on SQLite the statement holds the database's write lock (one writer at a time).
 * - A failure is recorded only by the lease holder (lease_token), so a worker whose lease expired
 *   cannot reschedule a row another worker now owns. A success is recorded by whoever had it:
 *   the receiver has the message, whoever sent it.
 */
import { randomBytes } from 'node:crypto';
import type { ColumnType, Kysely, Selectable } from 'kysely';
import { PaypadError } from '../../shared/errors';
import type { JsonValue } from '../audit/auditStore';
import type { Dialect } from '../db/database';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';
import { findSecretField } from '../redact';

export const OUTBOX_STATES = ['pending', 'delivered', 'discarded', 'dead'] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

// A type alias, not an interface: Kysely's withTables needs implicit index signatures.
export type OutboxTables = {
  outbox: {
    id: ColumnType<number, never, never>;
    topic: ColumnType<string, string, never>;
    destination: ColumnType<string, string, never>;
    idempotency_key: ColumnType<string, string, never>;
    payload: ColumnType<string, string, never>;
    state: OutboxState;
    attempts: number;
    next_attempt_at: IsoTimestamp;
    lease_until: IsoTimestamp | null;
    lease_token: string | null;
    last_error: string | null;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    updated_at: IsoTimestamp;
    finished_at: IsoTimestamp | null;
  };
};
type OutboxRowData = Selectable<OutboxTables['outbox']>;

export type OutboxPayload = { [key: string]: JsonValue };

export interface OutboxMessage {
  /** Which handler delivers it: "kms.tk". */
  readonly topic: string;
  /** Who it is for, for status and logs: a customer code. */
  readonly destination: string;
  readonly payload: OutboxPayload;
  /** The receiver's dedup key; one row per key. */
  readonly idempotencyKey: string;
}

export interface OutboxRow extends OutboxMessage {
  readonly id: number;
  readonly state: OutboxState;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly leaseUntil?: Date;
  /** "CODE: message" of the last failed attempt. */
  readonly lastError?: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt?: Date;
}

/** A row one worker holds: its lease token proves it when recording a failure. */
export interface ClaimedRow extends OutboxRow {
  readonly leaseToken: string;
}

export const TOPIC_PATTERN = /^[a-z][a-z0-9.-]{0,63}$/;
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_DESTINATION_LENGTH = 200;
export const MAX_PAYLOAD_BYTES = 16 * 1024;
/** last_error is for people reading the status; longer messages are cut. */
const MAX_ERROR_LENGTH = 1_000;

/**
 * Queues `message` inside `trx`, the caller's transaction. Returns the row and whether this call
 * created it (false: the key was queued before; that row, in whatever state, is returned).
 * @throws PaypadError BAD_ARGUMENT for a bad topic, key, destination or payload (not a plain JSON
 * object, over MAX_PAYLOAD_BYTES, or carrying a secret-named field: X1), DELIVERY_CONFLICT when the
 * key was queued with another topic, destination or payload.
 */
export async function enqueue(trx: Kysely<Schema>, message: OutboxMessage, at: Date = new Date()): Promise<{ row: OutboxRow; created: boolean }> {
  const values = checkMessage(message);
  const db = trx.withTables<OutboxTables>();
  const now = isoTimestamp(at);
  const inserted = await db
    .insertInto('outbox')
    .values({ ...values, state: 'pending', attempts: 0, next_attempt_at: now, lease_until: null, lease_token: null, last_error: null, created_at: now, updated_at: now, finished_at: null })
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .executeTakeFirst();
  const row = await db.selectFrom('outbox').selectAll().where('idempotency_key', '=', values.idempotency_key).executeTakeFirstOrThrow();
  if (row.topic !== values.topic || row.destination !== values.destination || row.payload !== values.payload) {
    throw new PaypadError('DELIVERY_CONFLICT', `outbox key ${values.idempotency_key} was queued before with another topic, destination or payload`);
  }
  return { row: fromRow(row), created: inserted.numInsertedOrUpdatedRows === 1n };
}

export interface ClaimRequest {
  /** Only rows of these topics (the ones this worker has handlers for). */
  readonly topics: readonly string[];
  readonly now: Date;
  readonly leaseMs: number;
}

export interface OutboxStatus {
  /** Row counts per topic and state; states with no rows are left out. */
  readonly counts: readonly { readonly topic: string; readonly state: OutboxState; readonly count: number }[];
  /** The oldest next attempt among pending rows, when there are any. */
  readonly oldestPendingAt?: Date;
  /** Dead rows, newest first, at most `deadLimit`. */
  readonly dead: readonly OutboxRow[];
  /** Pending rows whose last attempt failed (retrying, with lastError), next due first, at most `deadLimit`. */
  readonly retrying: readonly OutboxRow[];
}

export interface OutboxStore {
  /** Leases the most overdue due row of `topics`, counting an attempt; undefined when none is due. */
  claim(request: ClaimRequest): Promise<ClaimedRow | undefined>;
  /** False when the row is no longer pending (delivered meanwhile by a worker that took it over). */
  markDelivered(id: number, at: Date): Promise<boolean>;
  markDiscarded(id: number, reason: string, at: Date): Promise<boolean>;
  /** Records a failed attempt by the lease holder: retry at `retryAt`, or dead when undefined. False when the lease was lost. */
  recordFailure(row: ClaimedRow, error: string, retryAt: Date | undefined, at: Date): Promise<boolean>;
  /** Re-arms a dead row: pending, due at `at`, attempts from 0. @throws OUTBOX_ROW_UNKNOWN, OUTBOX_ROW_STATE. */
  requeue(id: number, at: Date): Promise<OutboxRow>;
  byId(id: number): Promise<OutboxRow | undefined>;
  byKey(idempotencyKey: string): Promise<OutboxRow | undefined>;
  status(options?: { deadLimit?: number }): Promise<OutboxStatus>;
}

export function createOutboxStore(schemaDb: Kysely<Schema>, dialect: Dialect): OutboxStore {
  const db = schemaDb.withTables<OutboxTables>();

  const byId = async (id: number) => {
    const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  };

  return {
    async claim({ topics, now, leaseMs }) {
      if (topics.length === 0) return undefined;
      const at = isoTimestamp(now);
      let due = db
        .selectFrom('outbox')
        .select('id')
        .where('state', '=', 'pending')
        .where('next_attempt_at', '<=', at)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', at)]))
        .where('topic', 'in', [...topics])
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(1);
      // A scalar subquery runs once per statement; SKIP LOCKED passes over rows another host is
      // claiming right now instead of waiting for them (PostgreSQL docs, SELECT "The Locking Clause").
      if (dialect === 'postgres') due = due.forUpdate().skipLocked();
      const leaseToken = randomBytes(16).toString('hex');
      const row = await db
        .updateTable('outbox')
        .set((eb) => ({ lease_until: isoTimestamp(new Date(now.getTime() + leaseMs)), lease_token: leaseToken, attempts: eb('attempts', '+', 1), updated_at: at }))
        .where('id', '=', due)
        .returningAll()
        .executeTakeFirst();
      return row && { ...fromRow(row), leaseToken };
    },

    async markDelivered(id, at) {
      return finish(id, 'delivered', null, at);
    },

    async markDiscarded(id, reason, at) {
      return finish(id, 'discarded', cut(reason), at);
    },

    async recordFailure(row, error, retryAt, at) {
      const when = isoTimestamp(at);
      const result = await db
        .updateTable('outbox')
        .set({
          ...(retryAt === undefined ? { state: 'dead' as const, finished_at: when } : { next_attempt_at: isoTimestamp(retryAt) }),
          lease_until: null,
          lease_token: null,
          last_error: cut(error),
          updated_at: when,
        })
        .where('id', '=', row.id)
        .where('state', '=', 'pending')
        .where('lease_token', '=', row.leaseToken)
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    async requeue(id, at) {
      const when = isoTimestamp(at);
      const result = await db
        .updateTable('outbox')
        .set({ state: 'pending', attempts: 0, next_attempt_at: when, finished_at: null, updated_at: when })
        .where('id', '=', id)
        .where('state', '=', 'dead')
        .executeTakeFirst();
      const row = await byId(id);
      if (row === undefined) throw new PaypadError('OUTBOX_ROW_UNKNOWN', `there is no outbox row ${id}`);
      if (result.numUpdatedRows !== 1n) throw new PaypadError('OUTBOX_ROW_STATE', `outbox row ${id} is ${row.state}; only a dead row can be queued again`);
      return row;
    },

    byId,

    async byKey(idempotencyKey) {
      const row = await db.selectFrom('outbox').selectAll().where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
      return row && fromRow(row);
    },

    async status({ deadLimit = 20 } = {}) {
      if (!Number.isInteger(deadLimit) || deadLimit < 0 || deadLimit > 1_000) throw new PaypadError('BAD_ARGUMENT', 'deadLimit must be an integer from 0 to 1000');
      const counts = await db
        .selectFrom('outbox')
        .select((eb) => ['topic', 'state', eb.fn.countAll<number | string | bigint>().as('count')])
        .groupBy(['topic', 'state'])
        .orderBy('topic')
        .orderBy('state')
        .execute();
      const oldest = await db.selectFrom('outbox').select((eb) => eb.fn.min('next_attempt_at').as('at')).where('state', '=', 'pending').executeTakeFirst();
      const dead = deadLimit === 0 ? [] : await db.selectFrom('outbox').selectAll().where('state', '=', 'dead').orderBy('id', 'desc').limit(deadLimit).execute();
      const retrying =
        deadLimit === 0
          ? []
          : await db.selectFrom('outbox').selectAll().where('state', '=', 'pending').where('last_error', 'is not', null).orderBy('next_attempt_at').orderBy('id').limit(deadLimit).execute();
      return {
        counts: counts.map((c) => ({ topic: c.topic, state: c.state, count: Number(c.count) })),
        ...(oldest?.at ? { oldestPendingAt: new Date(oldest.at) } : {}),
        dead: dead.map(fromRow),
        retrying: retrying.map(fromRow),
      };
    },
  };

  async function finish(id: number, state: 'delivered' | 'discarded', note: string | null, at: Date): Promise<boolean> {
    const when = isoTimestamp(at);
    const result = await db
      .updateTable('outbox')
      .set({ state, lease_until: null, lease_token: null, finished_at: when, updated_at: when, ...(note === null ? {} : { last_error: note }) })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }
}

function checkMessage(message: OutboxMessage): { topic: string; destination: string; idempotency_key: string; payload: string } {
  const { topic, destination, idempotencyKey, payload } = message;
  if (typeof topic !== 'string' || !TOPIC_PATTERN.test(topic)) throw new PaypadError('BAD_ARGUMENT', 'outbox topic must be 1-64 of a-z 0-9 . - starting with a letter');
  if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
    throw new PaypadError('BAD_ARGUMENT', 'outbox idempotency key must be 1-64 of A-Z a-z 0-9 _ -');
  }
  if (typeof destination !== 'string' || destination.trim() === '' || destination.length > MAX_DESTINATION_LENGTH) {
    throw new PaypadError('BAD_ARGUMENT', `outbox destination must be a non-empty string of at most ${MAX_DESTINATION_LENGTH} characters`);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || Object.getPrototypeOf(payload) !== Object.prototype) {
    throw new PaypadError('BAD_ARGUMENT', 'outbox payload must be a plain JSON object');
  }
  const secret = findSecretField(payload);
  // X1: a queued message is a database row; it refers to secrets (an intake id), never holds one.
  if (secret !== undefined) throw new PaypadError('BAD_ARGUMENT', `outbox payload must not carry secret field "${secret}"; queue a reference instead`);
  let json: string;
  try {
    json = JSON.stringify(payload);
  } catch (e) {
    throw new PaypadError('BAD_ARGUMENT', `outbox payload is not JSON: ${(e as Error).message}`);
  }
  if (Buffer.byteLength(json, 'utf8') > MAX_PAYLOAD_BYTES) throw new PaypadError('BAD_ARGUMENT', `outbox payload exceeds ${MAX_PAYLOAD_BYTES} bytes as JSON`);
  return { topic, destination, idempotency_key: idempotencyKey, payload: json };
}

function cut(text: string): string {
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
}

function fromRow(row: OutboxRowData): OutboxRow {
  return {
    id: row.id,
    topic: row.topic,
    destination: row.destination,
    idempotencyKey: row.idempotency_key,
    payload: JSON.parse(row.payload) as OutboxPayload,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: new Date(row.next_attempt_at),
    ...(row.lease_until === null ? {} : { leaseUntil: new Date(row.lease_until) }),
    ...(row.last_error === null ? {} : { lastError: row.last_error }),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    ...(row.finished_at === null ? {} : { finishedAt: new Date(row.finished_at) }),
  };
}
