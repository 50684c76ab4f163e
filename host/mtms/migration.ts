/**
 * The MTMS role's tables (docs/key-loading.md; SPEC A3-A9, A14, X1): customers and how to reach
 * their KMS, the serial-number table, production orders, the TK intakes and MTMS's own intake
 * key. A TK is stored only as the terminal's envelope for MTMS's intake key (X1): opening it
 * takes the private key, which exists only as a TR-31 block under MTMS's LMK.
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';
import { addIdColumn } from '../db/migrations/columns';

export const mtmsTables: HostMigration = {
  name: '0005_mtms',
  async up(db, dialect) {
    // A7: the customer record holds the KMS's communication method and address.
    await db.schema
      .createTable('mtms_customers')
      .addColumn('code', 'varchar(16)', (col) => col.primaryKey())
      .addColumn('name', 'text', (col) => col.notNull())
      .addColumn('kms_url', 'text', (col) => col.notNull())
      .addColumn('kms_protocol', 'varchar(16)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addCheckConstraint('mtms_customers_protocol', sql`kms_protocol in ('https-mtls')`)
      .execute();

    // A9: a batch of serials made for one customer.
    await addIdColumn(db.schema.createTable('mtms_orders'), dialect)
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull().references('mtms_customers.code'))
      .addColumn('created_at', 'text', (col) => col.notNull())
      .execute();

    // A3: serial -> customer (and the production order it was made in).
    await db.schema
      .createTable('mtms_serials')
      .addColumn('serial', 'varchar(32)', (col) => col.primaryKey())
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull().references('mtms_customers.code'))
      .addColumn('order_id', 'bigint', (col) => col.references('mtms_orders.id'))
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('mtms_serials_order').on('mtms_serials').column('order_id').execute();

    // A5/A6: every TK upload, as received; the newest per serial is the one that counts.
    await addIdColumn(db.schema.createTable('mtms_tk_intakes'), dialect)
      .addColumn('serial', 'varchar(32)', (col) => col.notNull().references('mtms_serials.serial'))
      .addColumn('customer_code', 'varchar(16)', (col) => col.notNull().references('mtms_customers.code'))
      // The terminal's key-transport envelope for MTMS's intake key, uppercase hex.
      .addColumn('envelope', 'text', (col) => col.notNull())
      // The TK's CMAC check value, from MTMS's HSM when it verified the envelope: matches the KMS's.
      .addColumn('tk_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('delivery_id', 'varchar(64)', (col) => col.notNull().unique())
      .addColumn('operator_name', 'text', (col) => col.notNull())
      .addColumn('operator_cert_serial', 'varchar(40)', (col) => col.notNull())
      .addColumn('received_at', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('mtms_tk_intakes_serial').on('mtms_tk_intakes').columns(['serial', 'id']).execute();

    // MTMS's one intake key pair (A10): terminals wrap TK for its public key.
    await db.schema
      .createTable('mtms_intake_keys')
      .addColumn('id', 'integer', (col) => col.primaryKey())
      .addColumn('key_block', 'text', (col) => col.notNull())
      .addColumn('key_kcv', 'varchar(10)', (col) => col.notNull())
      // Uncompressed SEC 1 P-256 point, hex.
      .addColumn('public_key', 'varchar(130)', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addCheckConstraint('mtms_intake_keys_one', sql`id = 1`)
      .execute();
  },
};
