/** The pinned intake key of each customer's KMS (kmsKeyPins.ts), and a changed key waiting for an administrator. */
import type { HostMigration } from '../db/migrate';

export const mtmsKmsKeyPins: HostMigration = {
  name: '0008_mtms_kms_key_pins',
  async up(db) {
    await db.schema
      .createTable('mtms_kms_keys')
      .addColumn('customer_code', 'varchar(16)', (col) => col.primaryKey().references('mtms_customers.code'))
      .addColumn('public_key', 'varchar(130)', (col) => col.notNull())
      .addColumn('kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('pinned_at', 'text', (col) => col.notNull())
      .addColumn('pinned_by', 'text', (col) => col.notNull())
      .addColumn('cert_serial', 'varchar(40)', (col) => col.notNull())
      .addColumn('offered_public_key', 'varchar(130)')
      .addColumn('offered_kcv', 'varchar(10)')
      .addColumn('offered_at', 'text')
      .addColumn('offered_cert_serial', 'varchar(40)')
      .execute();
  },
};
