/** D1, D3, D4: the phone client gateway's tables (tables.ts says what each column holds). */
import { sql } from 'kysely';
import type { HostMigration } from '../../db/migrate';

export const billClientTables: HostMigration = {
  name: '0021_bill_client',
  async up(db) {
    await db.schema
      .createTable('bill_client_keys')
      .addColumn('name', 'varchar(32)', (col) => col.primaryKey())
      .addColumn('key_block', 'text', (col) => col.notNull())
      .addColumn('key_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('public_key', 'varchar(130)')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .execute();
    await db.schema
      .createTable('bill_client_enrolments')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      .addColumn('phone_id', 'varchar(32)', (col) => col.notNull())
      .addColumn('mobile', 'varchar(16)', (col) => col.notNull())
      .addColumn('mac_block', 'text', (col) => col.notNull())
      .addColumn('mac_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('enc_block', 'text', (col) => col.notNull())
      .addColumn('enc_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('pin_block', 'text', (col) => col.notNull())
      .addColumn('pin_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('code_hash', 'varchar(64)', (col) => col.notNull())
      .addColumn('attempts', 'integer', (col) => col.notNull())
      .addColumn('last_seq', 'bigint', (col) => col.notNull().check(sql`last_seq >= 0`))
      .addColumn('state', 'varchar(9)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      .addCheckConstraint('bill_client_enrolments_state', sql`state in ('pending', 'confirmed', 'failed')`)
      .execute();
    await db.schema.createIndex('bill_client_enrolments_by_phone').on('bill_client_enrolments').column('phone_id').execute();
    await db.schema
      .createTable('bill_client_phones')
      .addColumn('phone_id', 'varchar(32)', (col) => col.primaryKey())
      .addColumn('mobile', 'varchar(16)', (col) => col.notNull())
      .addColumn('mac_block', 'text', (col) => col.notNull())
      .addColumn('mac_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('enc_block', 'text', (col) => col.notNull())
      .addColumn('enc_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('pin_block', 'text', (col) => col.notNull())
      .addColumn('pin_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('last_seq', 'bigint', (col) => col.notNull().check(sql`last_seq >= 0`))
      .addColumn('enrolled_at', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('bill_client_phones_by_mobile').on('bill_client_phones').column('mobile').execute();
    await db.schema
      .createTable('bill_client_cards')
      .addColumn('phone_id', 'varchar(32)', (col) => col.notNull())
      .addColumn('card_ref', 'varchar(32)', (col) => col.notNull())
      .addColumn('masked_pan', 'varchar(19)', (col) => col.notNull())
      .addColumn('bound_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('bill_client_cards_pk', ['phone_id', 'card_ref'])
      .execute();
  },
};
