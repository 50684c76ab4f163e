/**
 * Which initial key ID each secure card reader was injected with (E4; docs/card-readers.md): a
 * read from a registered reader must carry a KSN of that initial key ID, so a device under the
 * same BDK cannot pay as another reader (decryptCardRead's DUKPT_KSN_INVALID). Kept in
 * gateway_card_readers, one row per reader id, so every host process and a restarted one check
 * the same. The initial key ID is no secret (every KSN carries it in clear). Registering a reader
 * again (injected again, with a new derivation ID) replaces its row, and the audit log keeps both.
 */
import type { Kysely } from 'kysely';
import { fromHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { createAuditStore } from '../audit/auditStore';
import type { Database } from '../db/database';
import { isoTimestamp, type Schema } from '../db/schema';

type ReaderTables = {
  gateway_card_readers: { reader_id: string; initial_key_id: string; registered_at: string; registered_by: string };
};

/** The name a checkout pairs a reader by. */
export const READER_ID = /^[A-Za-z0-9._-]{1,64}$/;
const INITIAL_KEY_ID = /^[0-9A-Fa-f]{16}$/;

export interface RegisteredReader {
  readonly readerId: string;
  /** 16 hex digits, upper case. */
  readonly initialKeyId: string;
  readonly registeredAt: string;
  readonly registeredBy: string;
}

export interface ReaderRegistry {
  /** BAD_ARGUMENT for a reader id or initial key ID of the wrong form. */
  register(readerId: string, initialKeyIdHex: string, actor: string): Promise<RegisteredReader & { readonly replacedInitialKeyId?: string }>;
  /** The 8 bytes `readerId` was registered with, or undefined for a reader never registered. */
  initialKeyId(readerId: string): Promise<Uint8Array | undefined>;
  /** Every registered reader, by reader id. */
  list(): Promise<RegisteredReader[]>;
}

export function createReaderRegistry(database: Database, clock: () => Date = () => new Date()): ReaderRegistry {
  const schemaDb: Kysely<Schema> = database.db;
  const db = schemaDb.withTables<ReaderTables>();
  const fromRow = (row: ReaderTables['gateway_card_readers']): RegisteredReader => ({ readerId: row.reader_id, initialKeyId: row.initial_key_id, registeredAt: row.registered_at, registeredBy: row.registered_by });

  return {
    async register(readerId, initialKeyIdHex, actor) {
      if (typeof readerId !== 'string' || !READER_ID.test(readerId)) throw new PaypadError('BAD_ARGUMENT', 'reader id: 1-64 letters, digits, . _ -');
      if (typeof initialKeyIdHex !== 'string' || !INITIAL_KEY_ID.test(initialKeyIdHex)) throw new PaypadError('BAD_ARGUMENT', 'initial key ID: 16 hex digits (BDK ID and derivation ID)');
      const at = clock();
      const row = { reader_id: readerId, initial_key_id: initialKeyIdHex.toUpperCase(), registered_at: isoTimestamp(at), registered_by: actor };
      return schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<ReaderTables>();
        const earlier = await trx.selectFrom('gateway_card_readers').select('initial_key_id').where('reader_id', '=', readerId).executeTakeFirst();
        await trx
          .insertInto('gateway_card_readers')
          .values(row)
          .onConflict((oc) => oc.column('reader_id').doUpdateSet({ initial_key_id: row.initial_key_id, registered_at: row.registered_at, registered_by: actor }))
          .execute();
        const replacedInitialKeyId = earlier === undefined || earlier.initial_key_id === row.initial_key_id ? undefined : earlier.initial_key_id;
        await createAuditStore(base, () => at).append({
          actor,
          action: 'gateway.reader.registered',
          subject: `reader:${readerId}`,
          detail: { initialKeyId: row.initial_key_id, ...(replacedInitialKeyId === undefined ? {} : { replacedInitialKeyId }) },
        });
        return { ...fromRow(row), ...(replacedInitialKeyId === undefined ? {} : { replacedInitialKeyId }) };
      });
    },
    async initialKeyId(readerId) {
      const row = await db.selectFrom('gateway_card_readers').select('initial_key_id').where('reader_id', '=', readerId).executeTakeFirst();
      return row === undefined ? undefined : fromHex(row.initial_key_id);
    },
    async list() {
      return (await db.selectFrom('gateway_card_readers').selectAll().orderBy('reader_id').execute()).map(fromRow);
    },
  };
}
