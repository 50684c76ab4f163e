/**
 * Repair authorisations (A13 under control): a new TK for a serial MTMS already delivered a TK for
 * is accepted only against an authorisation an MTMS administrator opened for that serial, used by
 * one intake, within its window. Opening, withdrawing and using one are audited.
 *
 * Why MTMS decides: it is the one party that sees every TK intake and knows the serial already has
 * keys at its KMS (an earlier intake with another TK check value). The KMS cannot tell a repair
 * from a takeover; the terminal on the link cannot prove anything yet. See docs/key-loading.md.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { serial as serialField } from '../../shared/protocol/fields';
import { createAuditStore } from '../audit/auditStore';
import { isoTimestamp, type Schema } from '../db/schema';
import type { MtmsTables } from './mtmsTables';

/** Long enough for a technician to reach the terminal, short enough not to leave a door open. */
export const REPAIR_WINDOW_DEFAULT_MINUTES = 60;
export const REPAIR_WINDOW_MAX_MINUTES = 24 * 60;

export interface RepairAuthorisation {
  readonly id: number;
  readonly serial: string;
  readonly openedBy: string;
  readonly openedAt: Date;
  readonly expiresAt: Date;
  /** When an intake used it or an administrator withdrew it; absent while open. */
  readonly closedAt?: Date;
  readonly closedBy?: string;
}

export interface RepairAuthorisations {
  /** Opens one for `serial` for `minutes` (1 .. REPAIR_WINDOW_MAX_MINUTES). @throws BAD_ARGUMENT, MTMS_SERIAL_UNKNOWN. */
  openRepair(serial: string, minutes: number, actor: string): Promise<RepairAuthorisation>;
  /** Closes every open one of `serial`; returns how many. */
  withdrawRepair(serial: string, actor: string): Promise<number>;
  /** The newest first, open or not. */
  repairAuthorisations(serial: string): Promise<RepairAuthorisation[]>;
}

function fromRow(row: Selectable<MtmsTables['mtms_repair_authorisations']>): RepairAuthorisation {
  return {
    id: row.id,
    serial: row.serial,
    openedBy: row.opened_by,
    openedAt: new Date(row.opened_at),
    expiresAt: new Date(row.expires_at),
    ...(row.closed_at === null ? {} : { closedAt: new Date(row.closed_at) }),
    ...(row.closed_by === null ? {} : { closedBy: row.closed_by }),
  };
}

export function createRepairAuthorisations(schemaDb: Kysely<Schema>, clock: () => Date): RepairAuthorisations {
  const db = schemaDb.withTables<MtmsTables>();
  return {
    async openRepair(serial, minutes, actor) {
      serialField(serial, 'serial');
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > REPAIR_WINDOW_MAX_MINUTES) {
        throw new PaypadError('BAD_ARGUMENT', `a repair window is 1 to ${REPAIR_WINDOW_MAX_MINUTES} whole minutes, got ${minutes}`);
      }
      const now = clock();
      return schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<MtmsTables>();
        const known = await trx.selectFrom('mtms_serials').select('serial').where('serial', '=', serial).executeTakeFirst();
        if (known === undefined) throw new PaypadError('MTMS_SERIAL_UNKNOWN', `serial ${serial} is not in the MTMS serial table`);
        const row = await trx
          .insertInto('mtms_repair_authorisations')
          .values({ serial, opened_by: actor, opened_at: isoTimestamp(now), expires_at: isoTimestamp(new Date(now.getTime() + minutes * 60_000)), closed_at: null, closed_by: null })
          .returningAll()
          .executeTakeFirstOrThrow();
        await createAuditStore(base, () => now).append({ actor, action: 'mtms.repair.authorised', subject: `terminal:${serial}`, detail: { id: row.id, expiresAt: row.expires_at } });
        return fromRow(row);
      });
    },

    async withdrawRepair(serial, actor) {
      const now = clock();
      return schemaDb.transaction().execute(async (base) => {
        const closed = await base
          .withTables<MtmsTables>()
          .updateTable('mtms_repair_authorisations')
          .set({ closed_at: isoTimestamp(now), closed_by: actor })
          .where('serial', '=', serial)
          .where('closed_at', 'is', null)
          .executeTakeFirst();
        const count = Number(closed.numUpdatedRows);
        if (count > 0) await createAuditStore(base, () => now).append({ actor, action: 'mtms.repair.withdrawn', subject: `terminal:${serial}`, detail: { count } });
        return count;
      });
    },

    async repairAuthorisations(serial) {
      const rows = await db.selectFrom('mtms_repair_authorisations').selectAll().where('serial', '=', serial).orderBy('id', 'desc').execute();
      return rows.map(fromRow);
    },
  };
}

/**
 * Inside an intake's transaction: closes the newest open, unexpired authorisation of `serial` in
 * the name of `deliveryId`, or throws MTMS_REPAIR_NOT_AUTHORISED. The close is conditional on the
 * row still being open, so two intakes racing for one authorisation cannot both use it.
 */
export async function useRepairAuthorisation(base: Transaction<Schema>, serial: string, deliveryId: string, at: Date): Promise<number> {
  const trx = base.withTables<MtmsTables>();
  const open = await trx
    .selectFrom('mtms_repair_authorisations')
    .select('id')
    .where('serial', '=', serial)
    .where('closed_at', 'is', null)
    .where('expires_at', '>', isoTimestamp(at))
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const closed =
    open &&
    (await trx
      .updateTable('mtms_repair_authorisations')
      .set({ closed_at: isoTimestamp(at), closed_by: `intake:${deliveryId}` })
      .where('id', '=', open.id)
      .where('closed_at', 'is', null)
      .executeTakeFirst());
  if (!open || !closed || closed.numUpdatedRows !== 1n) {
    throw new PaypadError(
      'MTMS_REPAIR_NOT_AUTHORISED',
      `terminal ${serial} already has a TK at its KMS; a new one is accepted only after an MTMS administrator authorises the repair (paypad mtms repair authorize --serial ${serial})`,
    );
  }
  return open.id;
}
