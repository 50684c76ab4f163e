import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, pingDatabase } from '../../host/db/database';
import { migrateToLatest } from '../../host/db/migrate';
import { isoTimestamp } from '../../host/db/schema';
import { isPaypadError } from '../../shared/errors';
import { createTestStore, DIALECTS, type TestStore } from './helpers/testDatabase';

describe.each(DIALECTS)('database on %s', (dialect) => {
  let store: TestStore | undefined;
  afterEach(async () => {
    await store?.destroy();
    store = undefined;
  });

  it('answers a ping and names its dialect', async () => {
    store = await createTestStore(dialect);
    const database = store.open();
    expect(database.dialect).toBe(dialect);
    await expect(pingDatabase(database)).resolves.toBeUndefined();
  });

  it('fails a ping with DB_UNAVAILABLE once closed, used or not, and close is idempotent', async () => {
    store = await createTestStore(dialect);
    for (const used of [true, false]) {
      const database = store.open();
      if (used) await pingDatabase(database);
      await database.close();
      await database.close();
      const error = await pingDatabase(database).catch((e: unknown) => e);
      expect(isPaypadError(error, 'DB_UNAVAILABLE')).toBe(true);
    }
  });

  it('reads generated ids as JS numbers and stores timestamps as fixed-width ISO text', async () => {
    store = await createTestStore(dialect);
    const database = store.open();
    await migrateToLatest(database);
    const at = isoTimestamp(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 6)));
    const row = await database.db
      .insertInto('audit_log')
      .values({ at, actor: 'system', action: 'test.inserted', subject: 'test:1', detail: '{}' })
      .returning(['id', 'at'])
      .executeTakeFirstOrThrow();
    expect(typeof row.id).toBe('number');
    expect(row.at).toBe('2025-01-02T03:04:05.006Z');
  });

  it.runIf(dialect === 'sqlite')('opens SQLite in WAL mode with foreign keys enforced and FULL sync', async () => {
    store = await createTestStore(dialect);
    const database = store.open();
    const pragma = async (name: string) => Object.values((await sql.raw(`pragma ${name}`).execute(database.db)).rows[0] as object)[0];
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('foreign_keys')).toBe(1);
    expect(await pragma('synchronous')).toBe(2);
  });
});

describe('database failures', () => {
  it('an unreachable PostgreSQL fails the ping with DB_UNAVAILABLE without leaking the URL', async () => {
    const database = createDatabase({ dialect: 'postgres', url: 'postgres://paypad:hunter2@127.0.0.1:1/paypad' });
    try {
      const error = await pingDatabase(database).catch((e: unknown) => e);
      expect(isPaypadError(error, 'DB_UNAVAILABLE')).toBe(true);
      expect((error as Error).message).not.toContain('hunter2');
    } finally {
      await database.close();
    }
  });

  it('a SQLite file that cannot be created fails with DB_UNAVAILABLE', () => {
    // The data directory's parent is a regular file: mkdir fails with ENOTDIR.
    const dir = mkdtempSync(join(tmpdir(), 'paypad-store-'));
    try {
      writeFileSync(join(dir, 'file'), '');
      expect(() => createDatabase({ dialect: 'sqlite', file: join(dir, 'file', 'data', 'paypad.sqlite') })).toThrow(
        expect.objectContaining({ code: 'DB_UNAVAILABLE' }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('isoTimestamp refuses invalid dates and years that would break text ordering', () => {
    expect(() => isoTimestamp(new Date(NaN))).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => isoTimestamp(new Date(Date.UTC(10000, 0, 1)))).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});
