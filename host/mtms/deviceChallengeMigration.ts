/**
 * A8: the single-use nonces MTMS hands out for a device to sign (deviceChallenges.ts), at
 * enrolment and at each TK intake. A row is consumed once, by a conditional update.
 */
import type { HostMigration } from '../db/migrate';

export const mtmsTkChallenges: HostMigration = {
  name: '0010_mtms_tk_challenges',
  async up(db) {
    await db.schema
      .createTable('mtms_tk_challenges')
      // 32 random bytes, uppercase hex.
      .addColumn('nonce', 'varchar(64)', (col) => col.primaryKey())
      .addColumn('serial', 'varchar(32)', (col) => col.notNull())
      // 'enrol' or 'tk': a nonce signed for one purpose is never taken for the other.
      .addColumn('purpose', 'varchar(8)', (col) => col.notNull())
      // The operator certificate that asked: only its station can use the nonce.
      .addColumn('operator_cert_serial', 'varchar(40)', (col) => col.notNull())
      .addColumn('issued_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      // Set once, by the request that used it.
      .addColumn('used_at', 'text')
      .execute();
    await db.schema.createIndex('mtms_tk_challenges_expires').on('mtms_tk_challenges').column('expires_at').execute();
  },
};
