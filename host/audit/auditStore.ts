/**
 * The audit trail every role keeps: who (actor) did what (action) to which subject, when, with a
 * small JSON detail. Entries are appended and read, never edited or deleted: a correction is a new
 * entry. Invariant: no entry carries a secret-named field (see redact.ts), whatever the caller passes.
 */
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { findSecretField } from '../redact';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface AuditEntryInput {
  /** Who: "operator:alice", "terminal:PP0001", "system". */
  actor: string;
  /** What, as a dotted verb: "terminal.onboarded", "key.loaded". */
  action: string;
  /** To what: "terminal:PP0001", "merchant:42". */
  subject: string;
  detail?: { [key: string]: JsonValue };
}

export interface AuditEntry {
  readonly id: number;
  readonly at: IsoTimestamp;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail: { [key: string]: JsonValue };
}

export interface AuditStore {
  /** @throws PaypadError BAD_ARGUMENT for empty or oversized fields, non-JSON detail or a secret field in it. */
  append(entry: AuditEntryInput): Promise<AuditEntry>;
  /** Entries for one subject, oldest first, after `afterId` (for paging), at most `limit` (default 100, max 1000). */
  listBySubject(subject: string, page?: { afterId?: number; limit?: number }): Promise<AuditEntry[]>;
}

export const MAX_NAME_LENGTH = 200;
export const MAX_DETAIL_BYTES = 8_192;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;

export function createAuditStore(db: Kysely<Schema>, clock: () => Date = () => new Date()): AuditStore {
  return {
    async append(input) {
      const row = {
        at: isoTimestamp(clock()),
        actor: checkName(input.actor, 'actor'),
        action: checkName(input.action, 'action'),
        subject: checkName(input.subject, 'subject'),
        detail: encodeDetail(input.detail ?? {}),
      };
      const { id } = await db.insertInto('audit_log').values(row).returning('id').executeTakeFirstOrThrow();
      return { id, ...row, detail: JSON.parse(row.detail) };
    },

    async listBySubject(subject, page = {}) {
      const limit = page.limit ?? DEFAULT_LIMIT;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        throw new PaypadError('BAD_ARGUMENT', `audit limit must be an integer from 1 to ${MAX_LIMIT}`);
      }
      const afterId = page.afterId ?? 0;
      if (!Number.isSafeInteger(afterId) || afterId < 0) throw new PaypadError('BAD_ARGUMENT', 'audit afterId must be a non-negative integer');
      const rows = await db
        .selectFrom('audit_log')
        .selectAll()
        .where('subject', '=', checkName(subject, 'subject'))
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) }));
    },
  };
}

function checkName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_NAME_LENGTH) {
    throw new PaypadError('BAD_ARGUMENT', `audit ${field} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
  }
  return value;
}

function encodeDetail(detail: unknown): string {
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    throw new PaypadError('BAD_ARGUMENT', 'audit detail must be a JSON object');
  }
  const secret = findSecretField(detail);
  if (secret !== undefined) {
    // The field's name is safe to report; its value is never read into the message.
    throw new PaypadError('BAD_ARGUMENT', `audit detail must not carry secret field "${secret}"; record a KCV or a reference instead`);
  }
  let json: string;
  try {
    json = JSON.stringify(detail, rejectNonJson);
  } catch (e) {
    throw new PaypadError('BAD_ARGUMENT', `audit detail is not JSON: ${(e as Error).message}`);
  }
  if (new TextEncoder().encode(json).length > MAX_DETAIL_BYTES) {
    throw new PaypadError('BAD_ARGUMENT', `audit detail exceeds ${MAX_DETAIL_BYTES} bytes as JSON`);
  }
  return json;
}

// JSON.stringify would silently drop or mangle these; an audit record must read back as written.
function rejectNonJson(_key: string, value: unknown): unknown {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    throw new TypeError(`${typeof value} is not a JSON value`);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite numbers are not JSON values');
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
    throw new TypeError('only plain objects and arrays are JSON values');
  }
  return value;
}
