/**
 * The audit log every role writes to: who did what to which subject, when. Append-only.
 */
import type { HostMigration } from '../migrate';
import { addIdColumn } from './columns';

export const auditLog: HostMigration = {
  name: '0001_audit_log',
  async up(db, dialect) {
    await addIdColumn(db.schema.createTable('audit_log'), dialect)
      .addColumn('at', 'text', (col) => col.notNull())
      .addColumn('actor', 'text', (col) => col.notNull())
      .addColumn('action', 'text', (col) => col.notNull())
      .addColumn('subject', 'text', (col) => col.notNull())
      .addColumn('detail', 'text', (col) => col.notNull())
      .execute();
    // listBySubject reads one subject's history in id order.
    await db.schema.createIndex('audit_log_subject_id').on('audit_log').columns(['subject', 'id']).execute();
  },
};
