/**
 * The KMS role's tables (docs/key-loading.md; SPEC A7, A11-A13, X1, X2). Every KMS instance (one
 * per customer) keeps its rows under its customer code, so several instances share one database.
 * Keys are stored only as KeyHandles: TR-31 blocks under that instance's LMK plus a check value
 * (X1: no clear key in any row).
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';

/** The working keys sign-on issues (A12), as column prefixes of kms_terminals. */
const WORKING_KEY_COLUMNS = ['pik', 'mak', 'tdk', 'dmk'] as const;

export const kmsKeys: HostMigration = {
  name: '0003_kms',
  async up(db) {
    // One intake key pair per KMS instance: MTMS addresses TK envelopes to its public key (A7, A10).
    await db.schema
      .createTable('kms_intake_keys')
      .addColumn('customer_code', 'varchar(16)', (col) => col.primaryKey())
      .addColumn('key_block', 'text', (col) => col.notNull())
      .addColumn('key_kcv', 'varchar(10)', (col) => col.notNull())
      // Uncompressed SEC 1 P-256 point, hex.
      .addColumn('public_key', 'varchar(130)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .execute();

    let terminals = db.schema
      .createTable('kms_terminals')
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      // 1 for the first TK, one more for each TK that replaced it (repair, A13).
      .addColumn('generation', 'integer', (col) => col.notNull())
      // X2: the highest sequence accepted under this TK's key hierarchy; 0 = none yet.
      .addColumn('last_seq', 'bigint', (col) => col.notNull())
      .addColumn('tk_delivery_id', 'varchar(64)', (col) => col.notNull())
      .addColumn('tk_block', 'text', (col) => col.notNull())
      .addColumn('tk_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('tmk_block', 'text')
      .addColumn('tmk_kcv', 'varchar(10)');
    for (const name of WORKING_KEY_COLUMNS) {
      terminals = terminals.addColumn(`${name}_block`, 'text').addColumn(`${name}_kcv`, 'varchar(10)');
    }
    await terminals
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('kms_terminals_pk', ['customer_code', 'serial'])
      .addCheckConstraint('kms_terminals_generation', sql`generation >= 1`)
      .addCheckConstraint('kms_terminals_last_seq', sql`last_seq >= 0`)
      .addCheckConstraint('kms_terminals_tmk', sql`(tmk_block is null) = (tmk_kcv is null)`)
      // Sign-on issues all four working keys together, and only under a TMK (A12).
      .addCheckConstraint(
        'kms_terminals_working_keys',
        sql.raw(
          WORKING_KEY_COLUMNS.flatMap((name) => [`(${name}_block is null) = (pik_block is null)`, `(${name}_kcv is null) = (pik_block is null)`])
            .concat('(pik_block is null or tmk_block is not null)')
            .join(' and '),
        ),
      )
      .execute();

    // A7: the inbox of applied deliveries; the primary key makes "applied exactly once" atomic.
    await db.schema
      .createTable('kms_deliveries')
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull())
      .addColumn('delivery_id', 'varchar(64)', (col) => col.notNull())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      // SHA-256 of the envelope, hex: a reused id with other content is told apart from a retry.
      .addColumn('envelope_sha256', 'varchar(64)', (col) => col.notNull())
      .addColumn('applied_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('kms_deliveries_pk', ['customer_code', 'delivery_id'])
      .execute();
  },
};
