/**
 * What a run leaves at rest, as scan sources (keyLeakScan.ts): every file under a directory, and
 * every row of every table of the host database rendered as text.
 *
 * Files: read whole, binary included (the SQLite database, its -wal and -shm, PEM keys...), except
 * those `isKeyMaterial` names: a terminal's root key and an HSM's master key ARE keys, kept
 * where they must be; they are returned apart so the caller lists them instead of scanning them.
 *
 * Database: on SQLite the WAL is checkpointed first (PASSIVE: the -wal file keeps its frames), so
 * the main file holds every committed row as well as the WAL; the rows are then rendered with BLOBs
 * as hex. On PostgreSQL there is no file to read: each row of each table in the current schema is
 * rendered by the server itself (`t::text`, bytea as \x and lower-case hex).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sql } from 'kysely';
import type { Database } from '../../../host/db/database';
import type { ScanSource } from './keyLeakScan';

export interface DirectoryScan {
  readonly sources: ScanSource[];
  /** Paths (relative to the directory) that were not scanned because they are key material. */
  readonly keyMaterial: string[];
}

export function filesUnder(dir: string, label: string, isKeyMaterial: (path: string) => boolean): DirectoryScan {
  const sources: ScanSource[] = [];
  const keyMaterial: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const name = relative(dir, path);
        if (isKeyMaterial(path)) keyMaterial.push(name);
        else sources.push({ name: `file ${label}/${name}`, kind: 'file', bytes: new Uint8Array(readFileSync(path)) });
      }
    }
  };
  walk(dir);
  return { sources, keyMaterial };
}

/** Each table of the host database as one source, its rows as text, one per line. */
export async function databaseRows(database: Database): Promise<ScanSource[]> {
  return database.dialect === 'sqlite' ? sqliteRows(database) : postgresRows(database);
}

async function sqliteRows({ db }: Database): Promise<ScanSource[]> {
  await sql`pragma wal_checkpoint(PASSIVE)`.execute(db);
  const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(db);
  const sources: ScanSource[] = [];
  for (const { name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db);
    // Buffer#toJSON would print a BLOB as decimal bytes; SQLite's own literal form is x'<hex>'.
    const text = rows.rows
      .map((row) => JSON.stringify(Object.fromEntries(Object.entries(row).map(([column, value]) => [column, value instanceof Uint8Array ? `x'${Buffer.from(value).toString('hex')}'` : value]))))
      .join('\n');
    sources.push({ name: `database sqlite ${name} (${rows.rows.length} rows)`, kind: 'database', bytes: new Uint8Array(Buffer.from(text, 'utf8')) });
  }
  return sources;
}

async function postgresRows({ db }: Database): Promise<ScanSource[]> {
  const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(db);
  const sources: ScanSource[] = [];
  for (const { name } of tables.rows) {
    const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(name)} t`.execute(db);
    const text = rows.rows.map((r) => r.row).join('\n');
    sources.push({ name: `database postgres ${name} (${rows.rows.length} rows)`, kind: 'database', bytes: new Uint8Array(Buffer.from(text, 'utf8')) });
  }
  return sources;
}
