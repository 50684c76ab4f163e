/**
 * A13 under control: a new TK for a serial MTMS has already delivered a TK for (the KMS holds
 * keys for it) needs a repair authorisation that an MTMS administrator opened for that serial: one
 * intake, within a time window. Without one the intake is refused and audited, so neither a fake
 * PIN pad claiming a live serial nor a replayed old envelope can replace the terminal's keys.
 */
import type { HostMigration } from '../db/migrate';
import { addIdColumn } from '../db/migrations/columns';

export const mtmsRepairAuthorisations: HostMigration = {
  name: '0007_mtms_repair_authorisations',
  async up(db, dialect) {
    await addIdColumn(db.schema.createTable('mtms_repair_authorisations'), dialect)
      .addColumn('serial', 'varchar(32)', (col) => col.notNull().references('mtms_serials.serial'))
      .addColumn('opened_by', 'text', (col) => col.notNull())
      .addColumn('opened_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text', (col) => col.notNull())
      // Set once, by the intake that used it (or by an administrator withdrawing it).
      .addColumn('closed_at', 'text')
      .addColumn('closed_by', 'text')
      .execute();
    await db.schema.createIndex('mtms_repair_authorisations_serial').on('mtms_repair_authorisations').columns(['serial', 'closed_at']).execute();
  },
};
