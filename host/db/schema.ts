/**
 * The database schema as Kysely sees it: one interface per table, the same for SQLite and
 * PostgreSQL. Conventions (docs/host.md "Database"):
 * - timestamps are ISO 8601 UTC text with milliseconds ("2025-01-31T23:59:59.123Z") from
 *   Date.toISOString(): fixed width, so text order is time order in both dialects;
 * - JSON is stored as text and parsed by the store that owns the table (no jsonb: one schema);
 * - surrogate ids are 64-bit integers, read as JS numbers (see database.ts for PostgreSQL int8).
 */
import type { ColumnType, Generated } from 'kysely';
import { PaypadError } from '../../shared/errors';

/** ISO 8601 UTC text with milliseconds, as produced by isoTimestamp. */
export type IsoTimestamp = string;

/** Append-only: rows are inserted and read, never updated. */
export interface AuditLogTable {
  id: Generated<number>;
  at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  actor: ColumnType<string, string, never>;
  action: ColumnType<string, string, never>;
  subject: ColumnType<string, string, never>;
  /** A JSON object, as text. */
  detail: ColumnType<string, string, never>;
}

export interface Schema {
  audit_log: AuditLogTable;
}

/** The one way a Date becomes a stored timestamp. */
export function isoTimestamp(date: Date): IsoTimestamp {
  const time = date.getTime();
  // toISOString widens years outside 0000..9999 to six digits, which would break text ordering.
  if (!Number.isFinite(time) || date.getUTCFullYear() < 0 || date.getUTCFullYear() > 9999) {
    throw new PaypadError('BAD_ARGUMENT', 'timestamp must be a valid date between years 0000 and 9999');
  }
  return date.toISOString();
}
