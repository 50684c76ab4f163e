/**
 * A7/A13: a KMS installs a terminal's TK only over the TK of an OLDER intake. MTMS's outbox
 * delivers at least once with backoff, so after a repair an older intake's delivery that failed
 * before may be retried and arrive after the newer one; without an order it would silently put
 * the replaced TK back. Each delivery carries MTMS's intake id (kmsTkDelivery.intakeSequence),
 * strictly increasing for every intake, and the KMS keeps the one of the TK it holds.
 *
 * Defaults keep rows written before this migration valid and ordered: 0 is below every real
 * intake id (they start at 1), so the next delivery for such a serial still installs, and an
 * inbox row with 0 recorded no sequence (it is not compared). Every old inbox row was applied.
 */
import { sql } from 'kysely';
import type { HostMigration } from '../db/migrate';

export const kmsIntakeSequence: HostMigration = {
  name: '0006_kms_intake_sequence',
  async up(db) {
    // SQLite adds one column per ALTER TABLE statement; a NOT NULL column needs its default there.
    await db.schema
      .alterTable('kms_terminals')
      // The intake sequence of the newest delivery applied for the TK held (0: from before sequences).
      .addColumn('tk_intake_sequence', 'bigint', (col) => col.notNull().defaultTo(0).check(sql`tk_intake_sequence >= 0`))
      .execute();
    await db.schema
      .alterTable('kms_deliveries')
      .addColumn('intake_sequence', 'bigint', (col) => col.notNull().defaultTo(0).check(sql`intake_sequence >= 0`))
      .execute();
    // What the KMS did with the delivery the first time, so a resend gets the same answer.
    await db.schema
      .alterTable('kms_deliveries')
      .addColumn('outcome', 'varchar(16)', (col) => col.notNull().defaultTo('applied').check(sql`outcome in ('applied', 'superseded')`))
      .execute();
  },
};
