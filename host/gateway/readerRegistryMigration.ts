/** E4: which initial key ID each card reader was injected with (readerRegistry.ts). */
import type { HostMigration } from '../db/migrate';

export const gatewayCardReaders: HostMigration = {
  name: '0024_gateway_card_readers',
  async up(db) {
    await db.schema
      .createTable('gateway_card_readers')
      .addColumn('reader_id', 'varchar(64)', (col) => col.primaryKey())
      // BDK ID and derivation ID, 16 hex digits: sent in clear in every KSN, not a secret.
      .addColumn('initial_key_id', 'varchar(16)', (col) => col.notNull())
      .addColumn('registered_at', 'text', (col) => col.notNull())
      .addColumn('registered_by', 'varchar(200)', (col) => col.notNull())
      .execute();
  },
};
