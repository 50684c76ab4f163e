/**
 * What the terminals told the TMS (tms_reports, append-only): every query (its model and installed
 * programs) and every status report, with its stage and numbered code. The inventory is each
 * terminal's latest row (Uptane's director keeps its inventory from the devices' own version
 * reports the same way); the history says which version a terminal ran at any moment, which
 * the payment KPIs need (paymentKpis.ts).
 */
import type { Kysely } from 'kysely';
import { isoTimestamp, type Schema } from '../db/schema';
import type { TmsTables } from './tmsTables';

export type InstalledVersions = Readonly<Record<string, string>>;

export interface TerminalReport {
  readonly customerCode: string;
  readonly serial: string;
  readonly model: string;
  readonly versions: InstalledVersions;
  readonly deploymentId?: number;
  /** 'query', or the update stage a status report speaks for (shared/protocol/updateCodes). */
  readonly stage: string;
  readonly code: number;
  readonly at: Date;
}

export interface InventoryEntry {
  readonly customerCode: string;
  readonly serial: string;
  readonly model: string;
  readonly versions: InstalledVersions;
  readonly reportedAt: Date;
}

export interface Inventory {
  record(report: TerminalReport): Promise<void>;
  /** Every terminal's latest report, by serial. */
  entries(): Promise<InventoryEntry[]>;
  entry(serial: string): Promise<InventoryEntry | undefined>;
  /** The reports of these serials, oldest first (a version's time on each terminal). */
  history(serials: readonly string[]): Promise<InventoryEntry[]>;
  /** The status reports of one terminal in one deployment, oldest first. */
  reports(deploymentId: number, serial: string): Promise<TerminalReport[]>;
}

type Row = { customer_code: string; serial: string; model: string; versions: string; at: string };
const toEntry = (r: Row): InventoryEntry => ({ customerCode: r.customer_code, serial: r.serial, model: r.model, versions: JSON.parse(r.versions) as InstalledVersions, reportedAt: new Date(r.at) });

export function createInventory(schemaDb: Kysely<Schema>): Inventory {
  const db = schemaDb.withTables<TmsTables>();
  const latest = () => db.selectFrom('tms_reports').select((eb) => ['serial', eb.fn.max('id').as('id')]).groupBy('serial');
  return {
    async record(r) {
      await db
        .insertInto('tms_reports')
        .values({
          customer_code: r.customerCode,
          serial: r.serial,
          model: r.model,
          versions: JSON.stringify(r.versions),
          deployment_id: r.deploymentId ?? null,
          stage: r.stage,
          code: r.code,
          at: isoTimestamp(r.at),
        })
        .execute();
    },

    async entries() {
      const rows = await db.selectFrom('tms_reports as r').innerJoin(latest().as('l'), 'l.id', 'r.id').selectAll('r').orderBy('r.serial').execute();
      return rows.map(toEntry);
    },

    async entry(serial) {
      const row = await db.selectFrom('tms_reports').selectAll().where('serial', '=', serial).orderBy('id', 'desc').limit(1).executeTakeFirst();
      return row === undefined ? undefined : toEntry(row);
    },

    async history(serials) {
      if (serials.length === 0) return [];
      return (await db.selectFrom('tms_reports').selectAll().where('serial', 'in', [...serials]).orderBy('id').execute()).map(toEntry);
    },

    async reports(deploymentId, serial) {
      const rows = await db.selectFrom('tms_reports').selectAll().where('deployment_id', '=', deploymentId).where('serial', '=', serial).orderBy('id').execute();
      return rows.map((r) => ({ ...toEntry(r), deploymentId, stage: r.stage, code: r.code, at: new Date(r.at) }));
    },
  };
}
