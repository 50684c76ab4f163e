/**
 * The transactional outbox (ARCHITECTURE §5): a message to another party is a row written in the
 * same transaction as the change that causes it, and a worker sends it afterwards. Nothing is
 * lost when the process dies between the commit and the send, and a row is sent until the
 * receiver acknowledges it (at least once; the receiver dedupes on idempotency_key).
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';
import { addIdColumn } from '../db/migrations/columns';

export const outbox: HostMigration = {
  name: '0004_outbox',
  async up(db, dialect) {
    await addIdColumn(db.schema.createTable('outbox'), dialect)
      .addColumn('topic', 'varchar(64)', (col) => col.notNull())
      // Who the message goes to (a customer code, a merchant id): for status, never for routing.
      .addColumn('destination', 'varchar(200)', (col) => col.notNull())
      // The receiver's dedup key (a delivery id): one row per key, enforced here.
      .addColumn('idempotency_key', 'varchar(64)', (col) => col.notNull().unique())
      // A JSON object, as text (db/schema.ts conventions).
      .addColumn('payload', 'text', (col) => col.notNull())
      .addColumn('state', 'varchar(16)', (col) => col.notNull())
      // Attempts started, counted when a row is claimed: an attempt cut short by a crash counts.
      .addColumn('attempts', 'integer', (col) => col.notNull())
      .addColumn('next_attempt_at', 'text', (col) => col.notNull())
      // The claim of one worker: while lease_until is in the future nobody else sends the row.
      .addColumn('lease_until', 'text')
      .addColumn('lease_token', 'varchar(32)')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addColumn('finished_at', 'text')
      .addCheckConstraint('outbox_state', sql`state in ('pending', 'delivered', 'discarded', 'dead')`)
      .addCheckConstraint('outbox_attempts', sql`attempts >= 0`)
      .addCheckConstraint('outbox_lease', sql`(lease_until is null) = (lease_token is null)`)
      // A finished row has a finish time and no claim; a pending one neither.
      .addCheckConstraint('outbox_finished', sql`(state = 'pending') = (finished_at is null) and (state = 'pending' or lease_until is null)`)
      .execute();
    // The worker's claim query: due pending rows in time order.
    await db.schema.createIndex('outbox_due').on('outbox').columns(['state', 'next_attempt_at']).execute();
  },
};
