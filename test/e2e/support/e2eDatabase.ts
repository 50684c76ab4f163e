/**
 * The database an end-to-end test's host uses: SQLite in the host's data directory, or, when
 * DATABASE_URL is set, a fresh PostgreSQL schema of the test's own (test/store/helpers), dropped
 * afterwards. One dialect per run keeps each file's time down; `npx vitest run` with and without
 * DATABASE_URL covers both.
 */
import type { Dialect } from '../../../host/db/database';
import { createTestStore } from '../../store/helpers/testDatabase';

export interface E2eDatabase {
  readonly dialect: Dialect;
  /** For the host and the CLIs: '' means SQLite in the data directory (host/config). */
  readonly databaseUrl: string;
  /** Drops the schema (PostgreSQL); the caller removes the data directory. */
  destroy(): Promise<void>;
}

export async function e2eDatabase(): Promise<E2eDatabase> {
  if (!process.env.DATABASE_URL) return { dialect: 'sqlite', databaseUrl: '', destroy: async () => {} };
  const store = await createTestStore('postgres');
  if (store.config.dialect !== 'postgres') throw new Error('expected a PostgreSQL test store');
  return { dialect: 'postgres', databaseUrl: store.config.url, destroy: () => store.destroy() };
}
