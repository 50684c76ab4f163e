/**
 * POSP's tables (docs/payments.md; SPEC C6-C8, X1, X2). POSP runs beside each customer's KMS and
 * shares its kms_terminals rows (the terminal's key handles and last_seq); these tables hold what
 * is POSP's own, keyed by customer code like the KMS's:
 *
 *   posp_exchanges     one row per terminal request POSP accepted (customer, serial, TK
 *                      generation, sequence): the SHA-256 of its MAC input, to tell a retry (same
 *                      bytes) from a replay (other bytes), and, once answered, the answer's status
 *                      and body, which a retry gets again (never a second debit).
 *   posp_transactions  the acquirer's journal of card authorisations: the reference, the link's
 *                      STAN and terminal id, amount, currency, the PAN masked 6/4, and how the
 *                      authorisation ended, so an operator can find and reverse one left open.
 *
 * X1: no track data, PIN block or full PAN in any column; an answer body holds only what the
 * terminal's answer needs (response code, reason, reference, amount, currency, masked PAN).
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';

export const pospTables: HostMigration = {
  name: '0013_posp',
  async up(db) {
    await db.schema
      .createTable('posp_exchanges')
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      // The TK generation of kms_terminals: a repair restarts the sequence under a new TK (A13).
      .addColumn('generation', 'integer', (col) => col.notNull())
      .addColumn('seq', 'bigint', (col) => col.notNull())
      .addColumn('route', 'varchar(32)', (col) => col.notNull())
      // SHA-256 of the request's MAC input (method, path, serial, sequence, key id, body), hex.
      .addColumn('request_sha256', 'varchar(64)', (col) => col.notNull())
      // Null while the request is being answered.
      .addColumn('status', 'integer')
      .addColumn('answer', 'text')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('answered_at', 'text')
      .addPrimaryKeyConstraint('posp_exchanges_pk', ['customer_code', 'serial', 'generation', 'seq'])
      .addCheckConstraint('posp_exchanges_answer', sql`(status is null) = (answer is null) and (status is null) = (answered_at is null)`)
      .execute();

    await db.schema
      .createTable('posp_transactions')
      // ISO 8583 field 37 as POSP gives it: the idempotency key of the ledger and the platform.
      .addColumn('reference', 'varchar(12)', (col) => col.primaryKey())
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      .addColumn('seq', 'bigint', (col) => col.notNull())
      .addColumn('link_terminal_id', 'varchar(8)', (col) => col.notNull())
      .addColumn('stan', 'integer', (col) => col.notNull())
      .addColumn('transmitted_at', 'varchar(10)', (col) => col.notNull())
      .addColumn('amount', 'bigint', (col) => col.notNull())
      .addColumn('currency', 'varchar(3)', (col) => col.notNull())
      .addColumn('masked_pan', 'varchar(19)', (col) => col.notNull())
      .addColumn('lookup_id', 'varchar(64)', (col) => col.notNull())
      .addColumn('state', 'varchar(16)', (col) => col.notNull())
      .addColumn('response_code', 'varchar(2)')
      .addColumn('approval_code', 'varchar(6)')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addCheckConstraint('posp_transactions_state', sql`state in ('authorising', 'approved', 'declined', 'reversed', 'reversal_failed')`)
      .addCheckConstraint('posp_transactions_amount', sql`amount > 0`)
      .execute();
  },
};
