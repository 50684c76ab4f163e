/**
 * B6: the TMS tells the transaction platform that a terminal has an update waiting (tms_notices),
 * and POSP hands the notice to the terminal inside its next transaction answer, under that
 * answer's MAC (host/posp/pospService's UpdateNoticeSource). A notice is posted when a phase
 * starts for each of its terminals, and delivered once; the terminal then runs the query (B1),
 * where targeting (targeting.ts) decides again, so a notice that arrives late, or a terminal that
 * also checks on its schedule (B7), never downloads twice: the offer, not the notice, starts a
 * download.
 */
import type { Kysely } from 'kysely';
import type { UpdateNotice } from '../../shared/protocol/updateMessages';
import { isoTimestamp, type Schema } from '../db/schema';
import type { KmsTables } from '../kms/kmsStore';
import type { TmsTables } from './tmsTables';

export interface UpdateNotices {
  /** Posts a notice for each of these serials this host's KMSs know (their customer is the KMS's). */
  post(deploymentId: number, serials: readonly string[], at: Date): Promise<void>;
  /**
   * The oldest undelivered notice of a running deployment for this terminal, unless it succeeded
   * in that deployment meanwhile, now marked delivered.
   */
  take(customerCode: string, serial: string, at: Date): Promise<UpdateNotice | undefined>;
}

export function createUpdateNotices(schemaDb: Kysely<Schema>): UpdateNotices {
  const db = schemaDb.withTables<TmsTables & KmsTables>();
  return {
    async post(deploymentId, serials, at) {
      if (serials.length === 0) return;
      const terminals = await db.selectFrom('kms_terminals').select(['customer_code', 'serial']).where('serial', 'in', [...serials]).execute();
      if (terminals.length === 0) return;
      await db
        .insertInto('tms_notices')
        .values(terminals.map((t) => ({ customer_code: t.customer_code, serial: t.serial, deployment_id: deploymentId, created_at: isoTimestamp(at), delivered_at: null })))
        .onConflict((oc) => oc.columns(['customer_code', 'serial', 'deployment_id']).doNothing())
        .execute();
    },

    async take(customerCode, serial, at) {
      const row = await db
        .selectFrom('tms_notices as n')
        .innerJoin('tms_deployments as d', 'd.id', 'n.deployment_id')
        .innerJoin('tms_packages as p', 'p.id', 'd.package_id')
        .innerJoin('tms_deployment_terminals as t', (join) => join.onRef('t.deployment_id', '=', 'n.deployment_id').onRef('t.serial', '=', 'n.serial'))
        .select(['n.deployment_id', 'p.name', 'p.version'])
        .where('n.customer_code', '=', customerCode)
        .where('n.serial', '=', serial)
        .where('n.delivered_at', 'is', null)
        .where('d.state', '=', 'running')
        // B7: a terminal its schedule already updated has no use for the notice.
        .where('t.status', '!=', 'success')
        .orderBy('n.created_at')
        .limit(1)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      // Conditional: of two answers racing for one notice, one carries it.
      const r = await db
        .updateTable('tms_notices')
        .set({ delivered_at: isoTimestamp(at) })
        .where('customer_code', '=', customerCode)
        .where('serial', '=', serial)
        .where('deployment_id', '=', row.deployment_id)
        .where('delivered_at', 'is', null)
        .executeTakeFirst();
      return r.numUpdatedRows === 1n ? { name: row.name, version: row.version } : undefined;
    },
  };
}
