/** E4: the card readers' base derivation key, kept as the gateway HSM's key block (readerBdk.ts). */
import type { HostMigration } from '../db/migrate';

export const gatewayReaderKeys: HostMigration = {
  name: '0023_gateway_reader_keys',
  async up(db) {
    await db.schema
      .createTable('gateway_reader_keys')
      .addColumn('name', 'varchar(32)', (col) => col.primaryKey())
      // A TR-31 block under the gateway HSM's master key (or the token's wrapping key): never the key in clear.
      .addColumn('key_block', 'text', (col) => col.notNull())
      .addColumn('key_kcv', 'varchar(10)', (col) => col.notNull())
      .addColumn('loaded_at', 'text', (col) => col.notNull())
      .addColumn('loaded_by', 'varchar(200)', (col) => col.notNull())
      .execute();
  },
};
