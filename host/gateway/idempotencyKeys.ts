/**
 * Idempotency keys as Stripe documents them (and the IETF httpapi Idempotency-Key draft): a merchant
 * sends `Idempotency-Key: <its own unique value>` with a request; the first request with that key
 * runs, and its answer (status and body, a refusal included) is stored with the key. After that:
 *
 *   same key, same request (method, path and body bytes, by SHA-256)  -> the stored answer again, nothing runs
 *   same key, other request                                           -> IDEMPOTENCY_KEY_REUSED (422)
 *   same key while the first is still running                         -> IDEMPOTENCY_KEY_IN_PROGRESS (409):
 *                                                                        retry shortly for the stored answer
 *
 * Keys are scoped to the merchant that signed the request and kept at least 24 hours; purge()
 * removes older ones (the gateway's sweep calls it).
 *
 * The work and its stored answer commit in one transaction, so an answer is stored exactly when
 * its work happened. A request that fails unexpectedly (a database outage: a 5xx) stores nothing
 * and releases its key, so the same request may be tried again with the same key; a typed refusal
 * (4xx) reached after the work began is stored and replayed, as Stripe does. A request whose
 * process died mid-way holds its key for LOCK_MS; after that the next request with it takes over.
 */
import type { ColumnType, Kysely, Selectable } from 'kysely';
import { isPaypadError } from '../../shared/errors';
import type { JsonValue } from '../audit/auditStore';
import type { Database } from '../db/database';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';
import { httpStatusOf, type ErrorBody } from '../http/errors';
import { IdempotencyKeyInProgress, IdempotencyKeyInvalid, IdempotencyKeyReused } from './gatewayErrors';

// A type alias, not an interface: Kysely's withTables needs implicit index signatures.
export type IdempotencyKeyTables = {
  gateway_idempotency_keys: {
    merchant_no: ColumnType<string, string, never>;
    idempotency_key: ColumnType<string, string, never>;
    request_digest: ColumnType<string, string, never>;
    state: 'in_progress' | 'done';
    locked_until: IsoTimestamp | null;
    response_status: number | null;
    response_body: string | null;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
};
type KeyRow = Selectable<IdempotencyKeyTables['gateway_idempotency_keys']>;

/** The answer stored with a key. */
export interface StoredAnswer {
  readonly status: number;
  readonly body: JsonValue;
}

export interface IdempotentRequest {
  /** The verified merchant: keys of different merchants never meet. */
  readonly merchantNo: string;
  /** The Idempotency-Key header as sent. */
  readonly key: string;
  /** SHA-256 (hex) of the request's method, path and body bytes. */
  readonly digest: string;
}

export interface IdempotencyKeys {
  /**
   * Runs `work` once per key: inside a transaction that also stores its answer. Resolves to the
   * answer and whether it was replayed from an earlier request.
   * @throws IdempotencyKeyInvalid, IdempotencyKeyReused, IdempotencyKeyInProgress (nothing ran);
   * an unexpected error of `work` (nothing stored, the key released).
   */
  run(request: IdempotentRequest, work: (trx: Kysely<Schema>) => Promise<StoredAnswer>): Promise<{ answer: StoredAnswer; replayed: boolean }>;
  /** Removes keys older than the retention; resolves to how many. */
  purge(): Promise<number>;
}

/** Stripe keeps keys 24 h; so do we, at least (purge removes them after that). */
export const KEY_RETENTION_MS = 24 * 60 * 60_000;
/** How long a running request holds its key before another may take it over (its process is presumed dead). */
export const LOCK_MS = 60_000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** @throws IdempotencyKeyInvalid unless 1-255 printable ASCII characters without spaces (a UUID v4 is the usual choice). */
export function checkIdempotencyKey(key: unknown): string {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) throw new IdempotencyKeyInvalid('Idempotency-Key must be 1-255 printable ASCII characters without spaces, e.g. a UUID');
  return key;
}

export function createIdempotencyKeys(options: { database: Database; clock?: () => Date }): IdempotencyKeys {
  const { database } = options;
  const db = database.db.withTables<IdempotencyKeyTables>();
  const clock = options.clock ?? (() => new Date());

  /** Takes the key for this request, or says why not (an earlier answer to replay, or a refusal). */
  const acquire = async (request: IdempotentRequest): Promise<{ lock: IsoTimestamp } | { answer: StoredAnswer }> => {
    const now = clock();
    const lock = isoTimestamp(new Date(now.getTime() + LOCK_MS));
    const inserted = await db
      .insertInto('gateway_idempotency_keys')
      .values({ merchant_no: request.merchantNo, idempotency_key: request.key, request_digest: request.digest, state: 'in_progress', locked_until: lock, response_status: null, response_body: null, created_at: isoTimestamp(now) })
      .onConflict((oc) => oc.columns(['merchant_no', 'idempotency_key']).doNothing())
      .executeTakeFirst();
    if (inserted.numInsertedOrUpdatedRows === 1n) return { lock };
    const row = await keyRow(request);
    // Purged between the insert and the read: rare enough to ask the merchant to retry.
    if (!row) throw new IdempotencyKeyInProgress();
    if (row.request_digest !== request.digest) throw new IdempotencyKeyReused();
    if (row.state === 'done') return { answer: { status: row.response_status as number, body: JSON.parse(row.response_body as string) as JsonValue } };
    if ((row.locked_until as string) > isoTimestamp(now)) throw new IdempotencyKeyInProgress();
    // The request holding it is presumed dead: take it over, unless another request just did.
    const taken = await db
      .updateTable('gateway_idempotency_keys')
      .set({ locked_until: lock })
      .where('merchant_no', '=', request.merchantNo)
      .where('idempotency_key', '=', request.key)
      .where('state', '=', 'in_progress')
      .where('locked_until', '=', row.locked_until)
      .executeTakeFirst();
    if (taken.numUpdatedRows !== 1n) throw new IdempotencyKeyInProgress();
    return { lock };
  };

  const keyRow = (request: IdempotentRequest): Promise<KeyRow | undefined> =>
    db.selectFrom('gateway_idempotency_keys').selectAll().where('merchant_no', '=', request.merchantNo).where('idempotency_key', '=', request.key).executeTakeFirst();

  /** Stores `answer` under the key if this request still holds it; false when it lost the key (taken over). */
  const complete = async (trx: Kysely<Schema>, request: IdempotentRequest, lock: IsoTimestamp, answer: StoredAnswer): Promise<boolean> => {
    const result = await trx
      .withTables<IdempotencyKeyTables>()
      .updateTable('gateway_idempotency_keys')
      .set({ state: 'done', locked_until: null, response_status: answer.status, response_body: JSON.stringify(answer.body) })
      .where('merchant_no', '=', request.merchantNo)
      .where('idempotency_key', '=', request.key)
      .where('state', '=', 'in_progress')
      .where('locked_until', '=', lock)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  };

  return {
    async run(request, work) {
      checkIdempotencyKey(request.key);
      const taken = await acquire(request);
      if ('answer' in taken) return { answer: taken.answer, replayed: true };
      const { lock } = taken;
      try {
        const answer = await database.db.transaction().execute(async (trx) => {
          const result = await work(trx);
          if (!(await complete(trx, request, lock, result))) throw new IdempotencyKeyInProgress();
          return result;
        });
        return { answer, replayed: false };
      } catch (e) {
        const lostKey = isPaypadError(e, 'IDEMPOTENCY_KEY_IN_PROGRESS');
        if (!lostKey && isPaypadError(e) && httpStatusOf(e.code) < 500) {
          // A refusal reached while working (the work rolled back): stored and replayed like any answer.
          const body: ErrorBody = { error: { code: e.code, message: e.message } };
          const answer: StoredAnswer = { status: httpStatusOf(e.code), body: body as unknown as JsonValue };
          if (await complete(database.db, request, lock, answer)) return { answer, replayed: false };
          throw new IdempotencyKeyInProgress();
        }
        if (!lostKey) {
          // Nothing happened and nothing is stored: release the key for a retry of the same request.
          await db
            .deleteFrom('gateway_idempotency_keys')
            .where('merchant_no', '=', request.merchantNo)
            .where('idempotency_key', '=', request.key)
            .where('state', '=', 'in_progress')
            .where('locked_until', '=', lock)
            .execute()
            .catch(() => undefined);
        }
        throw e;
      }
    },

    async purge() {
      const cutoff = isoTimestamp(new Date(clock().getTime() - KEY_RETENTION_MS));
      const result = await db.deleteFrom('gateway_idempotency_keys').where('created_at', '<', cutoff).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
