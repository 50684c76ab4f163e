/** The phone client's enrolment buckets (enrolmentLimits.ts): one row per number, host/tokenBuckets.ts columns. */
import type { HostMigration } from '../../db/migrate';

export const billClientEnrolmentBuckets: HostMigration = {
  name: '0022_bill_client_enrolment_buckets',
  async up(db) {
    await db.schema
      .createTable('bill_client_enrolment_buckets')
      .addColumn('mobile', 'varchar(16)', (col) => col.primaryKey())
      .addColumn('credit', 'bigint', (col) => col.notNull())
      .addColumn('refilled_at', 'text', (col) => col.notNull())
      .addColumn('refused', 'integer', (col) => col.notNull())
      .addColumn('version', 'integer', (col) => col.notNull())
      .execute();
  },
};
