import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../host/db/database';
import { migrateToLatest, type HostMigration } from '../../host/db/migrate';
import { MIGRATIONS } from '../../host/db/migrations/index';
import { isPaypadError } from '../../shared/errors';
import { createTestStore, DIALECTS, type TestStore } from './helpers/testDatabase';

describe.each(DIALECTS)('migrations on %s', (dialect) => {
  const stores: TestStore[] = [];
  const freshStore = async () => {
    const store = await createTestStore(dialect);
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.destroy()));
  });
  /** Tables of this store only: Kysely's introspection lists every schema of a shared PostgreSQL database. */
  const tablesOf = async (database: Database) => {
    const all = await database.db.introspection.getTables();
    if (dialect !== 'postgres') return all.map((t) => t.name);
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(database.db);
    return all.filter((t) => t.schema === rows[0].schema).map((t) => t.name);
  };

  it('applies every migration in order on a fresh store and creates audit_log', async () => {
    const database = (await freshStore()).open();
    expect(await migrateToLatest(database)).toEqual(MIGRATIONS.map((m) => m.name));
    const tables = await tablesOf(database);
    expect(tables).toContain('audit_log');
  });

  it('is idempotent: a second run, or a run by another connection, applies nothing', async () => {
    const store = await freshStore();
    await migrateToLatest(store.open());
    expect(await migrateToLatest(store.open())).toEqual([]);
    expect(await migrateToLatest(store.open())).toEqual([]);
  });

  it('reports a failing migration as MIGRATION_FAILED naming it, and applies nothing after it', async () => {
    const database = (await freshStore()).open();
    const broken: HostMigration = {
      name: '9000_broken',
      async up(db) {
        await db.schema.createTable('half_done').addColumn('id', 'integer').execute();
        await sql`select * from no_such_table`.execute(db);
      },
    };
    const after: HostMigration = { name: '9001_after', up: async (db) => void (await db.schema.createTable('after_broken').addColumn('id', 'integer').execute()) };
    const error = await migrateToLatest(database, [...MIGRATIONS, broken, after]).catch((e: unknown) => e);
    expect(isPaypadError(error, 'MIGRATION_FAILED')).toBe(true);
    expect((error as Error).message).toContain('9000_broken');
    const tables = await tablesOf(database);
    expect(tables).not.toContain('after_broken');
    if (dialect === 'postgres') {
      // Transactional DDL: the whole run rolls back, including the migrations before the broken one.
      expect(tables).not.toContain('half_done');
      expect(tables).not.toContain('audit_log');
    }
  });

  it('rejects two migrations with one name', async () => {
    const database = (await freshStore()).open();
    const twice = [...MIGRATIONS, MIGRATIONS[0]];
    await expect(migrateToLatest(database, twice)).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
  });

  it.runIf(dialect === 'postgres')('X4: two hosts starting at once on PostgreSQL both succeed and apply each migration once', async () => {
    const store = await freshStore();
    const hosts = [store.open(), store.open(), store.open(), store.open()];
    const applied = await Promise.all(hosts.map((h) => migrateToLatest(h)));
    // The advisory lock serializes them: exactly one host applied the list, the others found it done.
    expect(applied.filter((a) => a.length > 0)).toEqual([MIGRATIONS.map((m) => m.name)]);
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(hosts[0].db);
    expect(rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
  });

  it.runIf(dialect === 'postgres')('schemas sharing one PostgreSQL database keep separate migration state', async () => {
    const [a, b] = [await freshStore(), await freshStore()];
    expect(await migrateToLatest(a.open())).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await migrateToLatest(b.open())).toEqual(MIGRATIONS.map((m) => m.name));
  });
});
