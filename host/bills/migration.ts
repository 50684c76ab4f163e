/** D3-D8: bills, payment attempts and merchant notifications (tables.ts says what each column holds). */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';
import { addIdColumn } from '../db/migrations/columns';

export const billTables: HostMigration = {
  name: '0017_bills',
  async up(db, dialect) {
    await db.schema
      .createTable('bills')
      .addColumn('id', 'varchar(21)', (col) => col.primaryKey())
      .addColumn('merchant_id', 'varchar(15)', (col) => col.notNull())
      .addColumn('merchant_name', 'varchar(64)', (col) => col.notNull())
      .addColumn('merchant_certificate_subject', 'varchar(120)', (col) => col.notNull())
      .addColumn('order_id', 'varchar(64)', (col) => col.notNull())
      .addColumn('order_digest', 'varchar(64)', (col) => col.notNull())
      .addColumn('amount_minor', 'bigint', (col) => col.notNull().check(sql`amount_minor > 0`))
      .addColumn('currency', 'varchar(3)', (col) => col.notNull())
      .addColumn('goods', 'varchar(200)', (col) => col.notNull())
      .addColumn('designated_mobile', 'varchar(16)', (col) => col.notNull())
      .addColumn('buyer_mobile', 'varchar(16)', (col) => col.notNull())
      .addColumn('receiving_account', 'varchar(34)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      .addColumn('state', 'varchar(7)', (col) => col.notNull())
      .addColumn('paying_until', 'text')
      .addColumn('paid_masked_pan', 'varchar(19)')
      .addColumn('paid_reference', 'varchar(12)')
      .addColumn('paid_at', 'text')
      .addColumn('refused_reason', 'varchar(16)')
      .addColumn('refused_at', 'text')
      .addColumn('notify_sequence', 'integer', (col) => col.notNull())
      .addUniqueConstraint('bills_merchant_order', ['merchant_id', 'order_id'])
      .addCheckConstraint('bills_state', sql`state in ('open', 'paying', 'paid', 'refused')`)
      .execute();
    await db.schema.createIndex('bills_by_designated_mobile').on('bills').columns(['designated_mobile', 'state', 'created_at']).execute();
    await db.schema
      .createTable('bill_payment_attempts')
      .addColumn('idempotency_key', 'varchar(64)', (col) => col.notNull())
      .addColumn('card_fingerprint', 'varchar(64)', (col) => col.notNull())
      .addColumn('bill_id', 'varchar(21)', (col) => col.notNull().references('bills.id'))
      .addColumn('outcome', 'varchar(18)', (col) => col.notNull())
      .addColumn('response_code', 'varchar(2)', (col) => col.notNull())
      .addColumn('reference', 'varchar(12)')
      .addColumn('masked_pan', 'varchar(19)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('bill_payment_attempts_pk', ['idempotency_key', 'card_fingerprint'])
      .addCheckConstraint('bill_payment_attempts_outcome', sql`outcome in ('paid', 'insufficient_funds', 'declined')`)
      .execute();
    await db.schema.createIndex('bill_payment_attempts_by_bill').on('bill_payment_attempts').column('bill_id').execute();
    await addIdColumn(db.schema.createTable('bill_notifications'), dialect)
      .addColumn('merchant_id', 'varchar(15)', (col) => col.notNull())
      .addColumn('bill_id', 'varchar(21)', (col) => col.notNull().references('bills.id'))
      .addColumn('sequence', 'integer', (col) => col.notNull())
      .addColumn('event', 'varchar(32)', (col) => col.notNull())
      .addColumn('body', 'text', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addUniqueConstraint('bill_notifications_bill_sequence', ['bill_id', 'sequence'])
      .execute();
    await db.schema.createIndex('bill_notifications_by_merchant').on('bill_notifications').columns(['merchant_id', 'id']).execute();
  },
};
