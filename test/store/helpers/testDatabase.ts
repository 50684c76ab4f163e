/**
 * Store tests run on every dialect available: SQLite always (a temp directory), PostgreSQL when
 * DATABASE_URL is set. On PostgreSQL each store gets a fresh schema (test_<random>) reached
 * through search_path in the connection's options, and dropped afterwards, so test files and
 * describe blocks never see each other's tables or migration state.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { DatabaseConfig } from '../../../host/config';
import { createDatabase, type Database, type Dialect } from '../../../host/db/database';
import { migrateToLatest } from '../../../host/db/migrate';

export const DIALECTS: readonly Dialect[] = process.env.DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];

export interface TestStore {
  readonly config: DatabaseConfig;
  /** Another connection to the same store, as a second host process would open. Closed by destroy(). */
  open(): Database;
  /** Closes every connection opened here and removes the store (directory or schema). */
  destroy(): Promise<void>;
}

export async function createTestStore(dialect: Dialect): Promise<TestStore> {
  const opened: Database[] = [];
  const open = (config: DatabaseConfig) => () => {
    const database = createDatabase(config);
    opened.push(database);
    return database;
  };
  const closeAll = () => Promise.all(opened.map((d) => d.close()));

  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'paypad-store-'));
    const config: DatabaseConfig = { dialect: 'sqlite', file: join(dir, 'paypad.sqlite') };
    return {
      config,
      open: open(config),
      async destroy() {
        await closeAll();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('PostgreSQL store tests need DATABASE_URL');
  const schema = `test_${randomBytes(6).toString('hex')}`;
  await admin(adminUrl, `create schema ${schema}`);
  const url = new URL(adminUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const config: DatabaseConfig = { dialect: 'postgres', url: url.toString() };
  return {
    config,
    open: open(config),
    async destroy() {
      await closeAll();
      await admin(adminUrl, `drop schema if exists ${schema} cascade`);
    },
  };
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * A migrated database for the enclosing describe block: created before its tests, removed after.
 * `connect()` opens another connection to it, as another host process would (closed with it).
 */
export function useMigratedDatabase(dialect: Dialect): (() => Database) & { connect(): Database } {
  let store: TestStore | undefined;
  let database: Database | undefined;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    database = store.open();
    await migrateToLatest(database);
  });
  afterAll(async () => {
    await store?.destroy();
  });
  const current = () => {
    if (!database) throw new Error('the test database is created in beforeAll');
    return database;
  };
  return Object.assign(current, {
    connect: () => {
      if (!store) throw new Error('the test database is created in beforeAll');
      return store.open();
    },
  });
}
