/** D2: the merchant directory and the nonces of merchants' signed requests (tables.ts says what each column holds). */
import type { HostMigration } from '../db/migrate';

export const merchantTables: HostMigration = {
  name: '0016_merchants',
  async up(db) {
    await db.schema
      .createTable('merchants')
      .addColumn('merchant_id', 'varchar(15)', (col) => col.primaryKey())
      .addColumn('legal_name', 'varchar(64)', (col) => col.notNull().unique())
      .addColumn('certificate_serial', 'varchar(40)', (col) => col.notNull())
      .addColumn('certificate_pem', 'text', (col) => col.notNull())
      .addColumn('receiving_account', 'varchar(34)', (col) => col.notNull())
      .addColumn('notify_url', 'varchar(500)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .execute();
    // A request id is good once per signer; rows older than twice the signature tolerance are purged.
    await db.schema
      .createTable('signed_request_nonces')
      .addColumn('key_id', 'varchar(64)', (col) => col.notNull())
      .addColumn('nonce', 'varchar(64)', (col) => col.notNull())
      .addColumn('seen_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('signed_request_nonces_pk', ['key_id', 'nonce'])
      .execute();
    await db.schema.createIndex('signed_request_nonces_by_time').on('signed_request_nonces').column('seen_at').execute();
  },
};
