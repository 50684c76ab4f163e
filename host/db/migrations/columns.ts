/**
 * Column shapes that differ in DDL between the dialects but mean the same thing: the one place
 * migrations branch on the dialect.
 */
import type { CreateTableBuilder } from 'kysely';
import type { Dialect } from '../database';

/**
 * A 64-bit surrogate key the database assigns in insert order and never reuses: SQLite's
 * INTEGER PRIMARY KEY AUTOINCREMENT (https://www.sqlite.org/autoinc.html) and PostgreSQL's
 * identity column (SQL:2003 GENERATED ... AS IDENTITY).
 */
export function addIdColumn<T extends string>(table: CreateTableBuilder<T, never>, dialect: Dialect): CreateTableBuilder<T, 'id'> {
  return dialect === 'postgres'
    ? table.addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    : table.addColumn('id', 'integer', (col) => col.primaryKey().autoIncrement());
}
