/**
 * The ledger's write transaction (docs/ledger.md "Two hosts, one database"): commits whole or not
 * at all, and is where the account locks a LedgerTx takes first (ledgerStore.ts) serialise the
 * hosts.
 *
 * - PostgreSQL: READ COMMITTED with SELECT ... FOR UPDATE over the accounts, ordered by id. Two
 *   transfers that share an account queue on its row instead of one of them failing, and since
 *   every transaction takes its locks in the same (ascending id) order, no two wait on each other
 *   in a cycle. Reads after the lock see the latest committed balances (PostgreSQL docs 13.2.1).
 *   SERIALIZABLE would give the same safety, but every payment touches the merchant's or the
 *   provider's settlement account, and on such a hot row it turns waiting into aborts and retries.
 *   A transfer id inserted by two hosts at once is settled by the primary key: the second insert
 *   waits for the first to commit and then inserts nothing (ON CONFLICT DO NOTHING).
 *   Deadlocks remain possible only between linked batches that reuse each other's ids in another
 *   order; PostgreSQL breaks them (40P01) and the batch is retried whole, as on 40001.
 *   Each transaction holds one of the pool's connections from BEGIN to COMMIT and takes no other;
 *   one that gets no connection within the pool's connection timeout fails with DB_UNAVAILABLE.
 * - SQLite: BEGIN IMMEDIATE takes the database's one write lock before the first read, so the
 *   balances read are the ones written over, even with a second connection on the file; a
 *   writer that cannot get the lock within busy_timeout fails with DB_UNAVAILABLE.
 */
import { type Kysely, sql } from 'kysely';
import { PaypadError } from '../../../shared/errors';
import type { Database } from '../../db/database';
import type { Schema } from '../../db/schema';

/** PostgreSQL SQLSTATEs that mean "nothing was kept, run it again": deadlock_detected, serialization_failure. */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

/** Runs `work` in one transaction, the PostgreSQL or the SQLite way described above. */
export function runWriteTransaction<T>(database: Database, work: (trx: Kysely<Schema>) => Promise<T>): Promise<T> {
  return database.dialect === 'postgres' ? inPostgresTransaction(database.db, work) : inSqliteImmediateTransaction(database.db, work);
}

async function inPostgresTransaction<T>(db: Kysely<Schema>, work: (trx: Kysely<Schema>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let connected = false;
    try {
      return await db.connection().execute((conn) => {
        connected = true;
        return conn.transaction().execute(work);
      });
    } catch (e) {
      // No connection: the pool's connections all stayed busy past its connection timeout (a burst
      // queued behind a hot account), or the server cannot be reached. Nothing was started.
      if (!connected) throw Object.assign(new PaypadError('DB_UNAVAILABLE', 'no database connection came free for the ledger transaction; retry later'), { cause: e });
      const sqlState = (e as { code?: unknown }).code;
      if (typeof sqlState !== 'string' || !RETRYABLE_SQLSTATES.has(sqlState)) throw e;
      if (attempt === MAX_ATTEMPTS) throw Object.assign(new PaypadError('DB_UNAVAILABLE', `the ledger transaction was aborted ${attempt} times by the database (${sqlState}); retry later`), { cause: e });
    }
  }
}

async function inSqliteImmediateTransaction<T>(db: Kysely<Schema>, work: (trx: Kysely<Schema>) => Promise<T>): Promise<T> {
  // Kysely's transaction() issues a deferred BEGIN; the write lock must come before the reads.
  return db.connection().execute(async (conn) => {
    try {
      await sql`begin immediate`.execute(conn);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'SQLITE_BUSY') throw Object.assign(new PaypadError('DB_UNAVAILABLE', 'the ledger database is locked by another writer; retry'), { cause: e });
      throw e;
    }
    let result: T;
    try {
      result = await work(conn);
    } catch (e) {
      try {
        await sql`rollback`.execute(conn);
      } catch {
        // SQLite rolls back by itself after some errors (https://www.sqlite.org/lang_transaction.html,
        // "Response To Errors Within A Transaction"); the error worth reporting is the first one.
      }
      throw e;
    }
    await sql`commit`.execute(conn);
    return result;
  });
}
