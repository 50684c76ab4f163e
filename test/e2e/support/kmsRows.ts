/**
 * What the KMSs of a database hold about one terminal, read straight from the tables: its
 * kms_terminals rows (keys as TR-31 blocks under the LMK and their KCVs, generation, sequence),
 * the deliveries applied for it, and the audit entries about it. Two snapshots taken around an
 * attack must be equal: a refused request changes nothing (X2).
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../../../host/db/schema';
import type { KmsTables } from '../../../host/kms/kmsStore';

export interface KmsRows {
  readonly terminals: readonly Record<string, unknown>[];
  readonly deliveries: readonly Record<string, unknown>[];
  readonly audit: readonly Record<string, unknown>[];
}

export async function kmsRowsOf(db: Kysely<Schema>, serial: string): Promise<KmsRows> {
  const kms = db.withTables<KmsTables>();
  const [terminals, deliveries, audit] = await Promise.all([
    kms.selectFrom('kms_terminals').selectAll().where('serial', '=', serial).orderBy('customer_code').execute(),
    kms.selectFrom('kms_deliveries').selectAll().where('serial', '=', serial).orderBy('delivery_id').execute(),
    db.selectFrom('audit_log').selectAll().where('subject', '=', `terminal:${serial}`).orderBy('id').execute(),
  ]);
  return { terminals, deliveries, audit };
}

/** Every row of kms_deliveries with this delivery id, whichever KMS recorded it. */
export function deliveriesWithId(db: Kysely<Schema>, deliveryId: string): Promise<Record<string, unknown>[]> {
  return db.withTables<KmsTables>().selectFrom('kms_deliveries').selectAll().where('delivery_id', '=', deliveryId).execute();
}
