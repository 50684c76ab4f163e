/** C1-C9: the mobile payment platform's tables (tables.ts says what each column holds). */
import { sql } from 'kysely';
import type { HostMigration } from '../../db/migrate';

export const mobilePayments: HostMigration = {
  name: '0012_mobile_payments',
  async up(db) {
    await db.schema
      .createTable('mobile_payees')
      .addColumn('mobile', 'varchar(11)', (col) => col.primaryKey())
      .addColumn('name', 'varchar(40)', (col) => col.notNull())
      .addColumn('card_masked', 'varchar(19)', (col) => col.notNull())
      .addColumn('card_sealed', 'text', (col) => col.notNull())
      .addColumn('registered_at', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addColumn('version', 'integer', (col) => col.notNull())
      .execute();
    await db.schema
      .createTable('mobile_registrations')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      .addColumn('kind', 'varchar(8)', (col) => col.notNull())
      .addColumn('mobile', 'varchar(11)', (col) => col.notNull())
      .addColumn('channel', 'varchar(5)', (col) => col.notNull())
      .addColumn('name', 'varchar(40)', (col) => col.notNull())
      .addColumn('card_masked', 'varchar(19)', (col) => col.notNull())
      .addColumn('card_sealed', 'text', (col) => col.notNull())
      .addColumn('code_hash', 'varchar(64)', (col) => col.notNull())
      .addColumn('attempts', 'integer', (col) => col.notNull())
      .addColumn('state', 'varchar(9)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      .addCheckConstraint('mobile_registrations_kind', sql`kind in ('register', 'update')`)
      .addCheckConstraint('mobile_registrations_state', sql`state in ('pending', 'confirmed', 'failed')`)
      .execute();
    await db.schema.createIndex('mobile_registrations_by_mobile').on('mobile_registrations').columns(['mobile', 'created_at']).execute();
    // host/tokenBuckets.ts: payer:, terminal:, merchant: and registration: buckets.
    await db.schema
      .createTable('mobile_lookup_buckets')
      .addColumn('bucket_key', 'varchar(80)', (col) => col.primaryKey())
      .addColumn('credit', 'bigint', (col) => col.notNull())
      .addColumn('refilled_at', 'text', (col) => col.notNull())
      .addColumn('refused', 'integer', (col) => col.notNull())
      .addColumn('version', 'integer', (col) => col.notNull())
      .execute();
    await db.schema
      .createTable('mobile_lookups')
      .addColumn('id', 'varchar(36)', (col) => col.primaryKey())
      .addColumn('payee_mobile', 'varchar(11)', (col) => col.notNull())
      .addColumn('payer_mobile', 'varchar(11)')
      .addColumn('terminal_id', 'varchar(32)', (col) => col.notNull())
      .addColumn('merchant_id', 'varchar(32)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      .execute();
    await db.schema
      .createTable('mobile_payments')
      .addColumn('reference', 'varchar(12)', (col) => col.primaryKey())
      // One payment per lookup: the lookup is the payer's confirmation of one payee for one payment.
      .addColumn('lookup_id', 'varchar(36)', (col) => col.notNull().unique())
      .addColumn('payee_mobile', 'varchar(11)', (col) => col.notNull())
      .addColumn('payer_mobile', 'varchar(11)')
      .addColumn('terminal_id', 'varchar(32)', (col) => col.notNull())
      .addColumn('amount', 'bigint', (col) => col.notNull().check(sql`amount > 0`))
      .addColumn('currency', 'varchar(3)', (col) => col.notNull())
      .addColumn('masked_pan', 'varchar(19)', (col) => col.notNull())
      .addColumn('business_day', 'varchar(10)', (col) => col.notNull())
      .addColumn('recorded_at', 'text', (col) => col.notNull())
      .addColumn('state', 'varchar(13)', (col) => col.notNull())
      .addColumn('credit_reference', 'varchar(12)', (col) => col.unique())
      .addColumn('credit_answer', 'varchar(120)')
      .addColumn('credited_at', 'text')
      .addCheckConstraint('mobile_payments_state', sql`state in ('owed', 'crediting', 'credited', 'credit_failed')`)
      .execute();
    await db.schema.createIndex('mobile_payments_by_day').on('mobile_payments').columns(['business_day', 'currency']).execute();
  },
};
