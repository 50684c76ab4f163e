/** A14: one token bucket per operator certificate for lookups at MTMS (lookupLimits.ts). */
import type { HostMigration } from '../db/migrate';

export const mtmsLookupBuckets: HostMigration = {
  name: '0009_mtms_lookup_buckets',
  async up(db) {
    await db.schema
      .createTable('mtms_lookup_buckets')
      // Canonical uppercase hex, as the CA register keys certificates.
      .addColumn('operator_cert_serial', 'varchar(40)', (col) => col.primaryKey())
      // Tokens × 60 000 (whole numbers); below zero after a miss is a debt.
      .addColumn('credit', 'bigint', (col) => col.notNull())
      .addColumn('refilled_at', 'text', (col) => col.notNull())
      .addColumn('refused', 'integer', (col) => col.notNull())
      .addColumn('version', 'integer', (col) => col.notNull())
      .execute();
  },
};
