/**
 * E1-E3, E8: the payment gateway's tables (orderStore.ts and idempotencyKeys.ts say what each
 * column holds and which statements change them).
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';

export const gatewayTables: HostMigration = {
  name: '0015_gateway',
  async up(db) {
    await db.schema
      .createTable('gateway_orders')
      .addColumn('order_number', 'varchar(26)', (col) => col.primaryKey())
      .addColumn('merchant_no', 'varchar(32)', (col) => col.notNull())
      .addColumn('merchant_order_id', 'varchar(64)', (col) => col.notNull())
      .addColumn('amount_minor', 'bigint', (col) => col.notNull())
      .addColumn('currency', 'varchar(3)', (col) => col.notNull())
      .addColumn('description', 'varchar(256)', (col) => col.notNull())
      .addColumn('notify_url', 'varchar(512)', (col) => col.notNull())
      .addColumn('return_url', 'varchar(512)')
      .addColumn('account', 'varchar(64)')
      .addColumn('transaction_code', 'varchar(12)', (col) => col.notNull())
      .addColumn('state', 'varchar(8)', (col) => col.notNull())
      .addColumn('claim_token', 'varchar(32)')
      .addColumn('claim_until', 'text')
      .addColumn('payment_reference', 'varchar(64)')
      .addColumn('failure_reason', 'varchar(200)')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      .addColumn('ended_at', 'text')
      .addUniqueConstraint('gateway_orders_merchant_order', ['merchant_no', 'merchant_order_id'])
      .addCheckConstraint('gateway_orders_state', sql`state in ('created', 'paying', 'paid', 'failed', 'expired')`)
      .addCheckConstraint('gateway_orders_amount', sql`amount_minor > 0`)
      // A claim exists exactly while a payment holds the order.
      .addCheckConstraint('gateway_orders_claim', sql`(state = 'paying') = (claim_token is not null) and (claim_token is null) = (claim_until is null)`)
      .addCheckConstraint('gateway_orders_ended', sql`(state in ('paid', 'failed', 'expired')) = (ended_at is not null)`)
      .execute();
    // A transaction code names one live order: the database refuses a second one (the store draws
    // again). An ended order's code may be drawn again later; lookups prefer the live order.
    await db.schema
      .createIndex('gateway_orders_live_code')
      .on('gateway_orders')
      .column('transaction_code')
      .unique()
      .where(sql.ref('state'), 'in', sql`('created', 'paying')`)
      .execute();
    // findByCode of an ended order (to say "expired" rather than "not found").
    await db.schema.createIndex('gateway_orders_code').on('gateway_orders').columns(['transaction_code', 'created_at']).execute();
    await db.schema.createIndex('gateway_orders_account').on('gateway_orders').columns(['account', 'state', 'created_at']).execute();
    // The expiry sweep: open orders by expiry.
    await db.schema.createIndex('gateway_orders_due').on('gateway_orders').columns(['state', 'expires_at']).execute();

    await db.schema
      .createTable('gateway_idempotency_keys')
      .addColumn('merchant_no', 'varchar(32)', (col) => col.notNull())
      .addColumn('idempotency_key', 'varchar(255)', (col) => col.notNull())
      // SHA-256 (hex) of the method, path and body bytes of the first request.
      .addColumn('request_digest', 'varchar(64)', (col) => col.notNull())
      .addColumn('state', 'varchar(11)', (col) => col.notNull())
      // While in progress: after this a crashed request's key may be taken over.
      .addColumn('locked_until', 'text')
      .addColumn('response_status', 'integer')
      .addColumn('response_body', 'text')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('gateway_idempotency_keys_pk', ['merchant_no', 'idempotency_key'])
      .addCheckConstraint('gateway_idempotency_keys_state', sql`state in ('in_progress', 'done')`)
      .addCheckConstraint(
        'gateway_idempotency_keys_response',
        sql`(state = 'done') = (response_status is not null and response_body is not null) and (state = 'in_progress') = (locked_until is not null)`,
      )
      .execute();
    // The purge sweep.
    await db.schema.createIndex('gateway_idempotency_keys_created').on('gateway_idempotency_keys').column('created_at').execute();
  },
};
