/**
 * Opens the host database: SQLite (better-sqlite3) by default, PostgreSQL (pg Pool) when
 * DATABASE_URL is set. Everything above this module sees one Kysely<Schema> and a dialect name.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { PaypadError } from '../../shared/errors';
import type { DatabaseConfig } from '../config';
import type { Logger } from '../log';
import type { Schema } from './schema';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  /** Ends every connection. Idempotent. */
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** Receives errors of idle PostgreSQL connections (server restarts): logged, never fatal. */
  logger?: Logger;
}

/** How long a SQLite writer waits for another connection's lock before SQLITE_BUSY. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
const PG_POOL_SIZE = 10;
const PG_CONNECT_TIMEOUT_MS = 5_000;
const PG_INT8_OID = 20;

/** @throws PaypadError DB_UNAVAILABLE when the SQLite file cannot be opened. PostgreSQL connects lazily. */
export function createDatabase(config: DatabaseConfig, options: DatabaseOptions = {}): Database {
  return config.dialect === 'sqlite' ? openSqlite(config.file) : openPostgres(config.url, options.logger);
}

/** One round trip to the database. @throws PaypadError DB_UNAVAILABLE, with the cause attached for logs. */
export async function pingDatabase(database: Database, timeoutMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([sql`select 1 as ok`.execute(database.db), timeout]);
  } catch (e) {
    // The cause may name hosts or files: it goes to the log, the message to the client.
    throw Object.assign(new PaypadError('DB_UNAVAILABLE', 'the database did not answer'), { cause: e });
  } finally {
    clearTimeout(timer);
  }
}

/** The database file and SQLite's journal files: owner only (SQLite gives -wal and -shm the mode of the database file). */
const SQLITE_FILE_MODE = 0o600;
const SQLITE_COMPANION_SUFFIXES = ['', '-wal', '-shm', '-journal'];

/** Creates `file` with mode 0600 before SQLite does (SQLite would use 0644), and narrows an existing one and its journals. */
function ownerOnlySqliteFiles(file: string): void {
  closeSync(openSync(file, 'a', SQLITE_FILE_MODE));
  for (const suffix of SQLITE_COMPANION_SUFFIXES) {
    try {
      if ((statSync(file + suffix).mode & 0o777) !== SQLITE_FILE_MODE) chmodSync(file + suffix, SQLITE_FILE_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

function openSqlite(file: string): Database {
  let handle: SqliteDatabase.Database;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    ownerOnlySqliteFiles(file);
    handle = new SqliteDatabase(file);
    // WAL: readers never block the writer and a crash mid-write leaves the last commit intact.
    handle.pragma('journal_mode = WAL');
    // FULL rather than WAL's usual NORMAL: a committed payment or key record survives power loss
    // (https://www.sqlite.org/pragma.html#pragma_synchronous).
    handle.pragma('synchronous = FULL');
    // SQLite leaves REFERENCES unenforced unless asked, per connection.
    handle.pragma('foreign_keys = ON');
    handle.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  } catch (e) {
    throw Object.assign(new PaypadError('DB_UNAVAILABLE', `cannot open the SQLite database ${file}: ${(e as Error).message}`), { cause: e });
  }
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: handle }) });
  // Kysely only closes what it initialized, i.e. nothing if no query ran: close the handle ourselves.
  const close = async () => {
    await db.destroy();
    if (handle.open) handle.close();
  };
  return { db, dialect: 'sqlite', close: once(close) };
}

function openPostgres(url: string, logger: Logger | undefined): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: PG_POOL_SIZE,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    // node-pg returns int8 as a string; ids and (later) minor-unit amounts are safe integers.
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === PG_INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
  });
  // Without a listener an idle client's error (server restart) would crash the process.
  pool.on('error', (err) => logger?.warn({ err }, 'idle PostgreSQL connection failed; the pool replaces it'));
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  const close = async () => {
    await db.destroy();
    if (!pool.ended) await pool.end();
  };
  return { db, dialect: 'postgres', close: once(close) };
}

function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new PaypadError('INTERNAL', 'a 64-bit integer column holds a value beyond 2^53');
  return n;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
