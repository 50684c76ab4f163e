/**
 * Runs the schema migrations on start, with Kysely's Migrator over a fixed list of TypeScript
 * modules (migrations/index.ts) rather than a scan of compiled files on disk.
 *
 * Concurrency: on PostgreSQL the Migrator holds a session advisory lock while it reads the
 * applied list and runs what is pending, all in one transaction (PostgreSQL has transactional
 * DDL), so two hosts starting at once apply each migration exactly once, and a failed migration
 * leaves nothing behind. On SQLite Kysely takes no lock and no transaction: one host process owns
 * a SQLite file (docs/host.md).
 */
import { Migrator, sql, type Kysely, type Migration } from 'kysely';
import { PaypadError } from '../../shared/errors';
import type { Database, Dialect } from './database';
import { MIGRATIONS } from './migrations/index';

export interface HostMigration {
  /** Applied in ascending name order: "0001_audit_log", "0002_..." */
  readonly name: string;
  /** Forward only: a released migration is never edited, a fix is a new migration. */
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}

/**
 * Applies every pending migration and returns the names applied (empty when up to date).
 * @throws PaypadError MIGRATION_FAILED naming the migration and the database's complaint.
 */
export async function migrateToLatest(database: Database, migrations: readonly HostMigration[] = MIGRATIONS): Promise<string[]> {
  const byName: Record<string, Migration> = {};
  for (const m of migrations) {
    if (byName[m.name]) throw new PaypadError('MIGRATION_FAILED', `two migrations are named ${m.name}`);
    byName[m.name] = { up: (db) => m.up(db, database.dialect) };
  }
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: async () => byName },
    // Kysely finds its bookkeeping tables by name in every schema it can see; pin them to the
    // schema our tables go to (the first on search_path), so schemas sharing one database
    // (one per test file, or per deployment) never see each other's migration state.
    migrationTableSchema: database.dialect === 'postgres' ? await currentSchema(database) : undefined,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw Object.assign(new PaypadError('MIGRATION_FAILED', `${failed ? `migration ${failed}` : 'migrations'} failed: ${reason}`), { cause: error });
  }
  return results.map((r) => r.migrationName);
}

async function currentSchema(database: Database): Promise<string> {
  let schema: string | null | undefined;
  try {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(database.db);
    schema = rows[0]?.schema;
  } catch (e) {
    throw Object.assign(new PaypadError('DB_UNAVAILABLE', 'the database did not answer'), { cause: e });
  }
  if (!schema) throw new PaypadError('MIGRATION_FAILED', 'no schema on the search_path exists; create it or fix search_path in DATABASE_URL options');
  return schema;
}
