/**
 * How a KMS applies MTMS's TK deliveries (A7, A13) to its tables (kmsStore.ts KmsTables): the
 * inbox of delivery ids and the terminal's TK, changed together in one transaction.
 *
 * Invariants kept here:
 * - A7 "delivered at least once, applied exactly once": the inbox insert decides; a delivery id
 *   seen before changes nothing and reports what happened the first time.
 * - A7/A13 ordering: the outbox retries with backoff, so an older intake's delivery can arrive
 *   after a newer one (a repair). A TK is installed only when its intake sequence (MTMS's intake
 *   id, strictly increasing) is above the one of the TK held; an older one is 'superseded': its id
 *   is recorded as seen, nothing else changes, and the sender stops retrying. The sequence held
 *   only grows: every change of it is one conditional statement (sequence below the new one, and
 *   the generation read still current), so two hosts applying two deliveries at once cannot both
 *   win, and the loser's transaction rolls back whole and is retried.
 * - A13: a new TK replaces the serial's whole key hierarchy and restarts the sequence at 0; the
 *   same TK under a newer intake (an envelope uploaded again) only records the newer sequence,
 *   since restarting X2's sequence under an unchanged MAC key would let old messages be replayed.
 * - X1: the TK is a KeyHandle (TR-31 block under the LMK); the audit log gets its check value only.
 */
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { createAuditStore } from '../audit/auditStore';
import { isoTimestamp, type Schema } from '../db/schema';
import type { KeyHandle } from '../hsm/hsm';
import type { KmsTables } from './kmsStore';

/** What the KMS did with a delivery the first time it saw its id. */
export type DeliveryOutcome = 'applied' | 'superseded';

export interface DeliveryRecord {
  readonly deliveryId: string;
  readonly serial: string;
  readonly envelopeSha256: string;
  /** MTMS's intake sequence; 0 for a delivery recorded before deliveries carried one. */
  readonly intakeSequence: number;
  readonly outcome: DeliveryOutcome;
  /** When the id was first seen (applied or found superseded). */
  readonly appliedAt: Date;
}

export interface TkDelivery {
  readonly customerCode: string;
  readonly deliveryId: string;
  readonly serial: string;
  readonly envelopeSha256: string;
  /** MTMS's intake id (kmsTkDelivery.intakeSequence): a positive safe integer. */
  readonly intakeSequence: number;
  /** The TK as the instance's HSM imported it. */
  readonly tk: KeyHandle;
  readonly at: Date;
}

/**
 * 'installed': the serial's first TK. 'replaced': a new TK for a known serial (A13): keys and
 * sequence reset. 'unchanged': the serial already holds this very TK (same check value; an
 * envelope re-uploaded under a newer intake): only the intake sequence held advances.
 */
export type TkChange = 'installed' | 'replaced' | 'unchanged';

export type ApplyResult =
  | { readonly outcome: 'applied'; readonly change: TkChange; readonly generation: number }
  /** The serial holds the TK of intake `heldSequence`, not older than this delivery's: nothing changed. */
  | { readonly outcome: 'superseded'; readonly heldSequence: number }
  | { readonly outcome: 'duplicate'; readonly delivery: DeliveryRecord };

export const NO_WORKING_KEYS = { pik_block: null, pik_kcv: null, mak_block: null, mak_kcv: null, tdk_block: null, tdk_kcv: null, dmk_block: null, dmk_kcv: null };

/** The inbox record of `deliveryId`, read through `db` (the store or a transaction). */
export async function findDelivery(db: Kysely<Schema>, customerCode: string, deliveryId: string): Promise<DeliveryRecord | undefined> {
  const row = await db
    .withTables<KmsTables>()
    .selectFrom('kms_deliveries')
    .selectAll()
    .where('customer_code', '=', customerCode)
    .where('delivery_id', '=', deliveryId)
    .executeTakeFirst();
  return (
    row && {
      deliveryId: row.delivery_id,
      serial: row.serial,
      envelopeSha256: row.envelope_sha256,
      intakeSequence: row.intake_sequence,
      outcome: row.outcome,
      appliedAt: new Date(row.applied_at),
    }
  );
}

/**
 * Records `d` and, unless its id was seen before or its intake is not newer than the TK held,
 * installs its TK: all in one transaction.
 * @throws PaypadError BAD_ARGUMENT for an intake sequence that is not a positive safe integer;
 * DB_UNAVAILABLE when another delivery for the serial committed meanwhile (nothing was kept:
 * the sender retries).
 */
export function applyTkDelivery(schemaDb: Kysely<Schema>, d: TkDelivery): Promise<ApplyResult> {
  if (!Number.isSafeInteger(d.intakeSequence) || d.intakeSequence < 1) {
    return Promise.reject(new PaypadError('BAD_ARGUMENT', `delivery ${d.deliveryId} needs an intake sequence that is a positive safe integer`));
  }
  return schemaDb.transaction().execute(async (base): Promise<ApplyResult> => {
    const trx = base.withTables<KmsTables>();
    const current = await trx
      .selectFrom('kms_terminals')
      .select(['generation', 'tk_kcv', 'tk_intake_sequence'])
      .where('customer_code', '=', d.customerCode)
      .where('serial', '=', d.serial)
      .executeTakeFirst();
    // The held sequence only grows, so "not older than this one" read here stays true.
    const superseded = current !== undefined && current.tk_intake_sequence >= d.intakeSequence;
    const inserted = await trx
      .insertInto('kms_deliveries')
      .values({
        customer_code: d.customerCode,
        delivery_id: d.deliveryId,
        serial: d.serial,
        envelope_sha256: d.envelopeSha256,
        intake_sequence: d.intakeSequence,
        outcome: superseded ? 'superseded' : 'applied',
        applied_at: isoTimestamp(d.at),
      })
      .onConflict((oc) => oc.columns(['customer_code', 'delivery_id']).doNothing())
      .executeTakeFirst();
    if (inserted.numInsertedOrUpdatedRows === 0n) {
      const first = await findDelivery(base, d.customerCode, d.deliveryId);
      if (first === undefined) throw new PaypadError('INTERNAL', `delivery ${d.deliveryId} was neither recorded nor found`);
      return { outcome: 'duplicate', delivery: first };
    }

    const audit = createAuditStore(base);
    const subject = `terminal:${d.serial}`;
    if (current !== undefined && superseded) {
      await audit.append({
        actor: `kms:${d.customerCode}`,
        action: 'kms.tk.superseded',
        subject,
        detail: { deliveryId: d.deliveryId, intakeSequence: d.intakeSequence, heldIntakeSequence: current.tk_intake_sequence, generation: current.generation, tkKcv: d.tk.kcv },
      });
      return { outcome: 'superseded', heldSequence: current.tk_intake_sequence };
    }

    const updatedAt = isoTimestamp(d.at);
    // A new TK starts the terminal over: new MAC key, so the sequence restarts (X2); no TMK or
    // working keys until the terminal asks for them under this TK (A11, A12, A13).
    const newTk = {
      last_seq: 0,
      tk_delivery_id: d.deliveryId,
      tk_intake_sequence: d.intakeSequence,
      tk_block: d.tk.block,
      tk_kcv: d.tk.kcv,
      tmk_block: null,
      tmk_kcv: null,
      ...NO_WORKING_KEYS,
      updated_at: updatedAt,
    };
    let change: TkChange;
    let generation: number;
    if (current === undefined) {
      change = 'installed';
      generation = 1;
      const created = await trx
        .insertInto('kms_terminals')
        .values({ customer_code: d.customerCode, serial: d.serial, generation, ...newTk })
        .onConflict((oc) => oc.columns(['customer_code', 'serial']).doNothing())
        .executeTakeFirst();
      if (created.numInsertedOrUpdatedRows !== 1n) throw raced(d.serial);
    } else {
      const unchanged = current.tk_kcv === d.tk.kcv;
      change = unchanged ? 'unchanged' : 'replaced';
      generation = unchanged ? current.generation : current.generation + 1;
      const result = await trx
        .updateTable('kms_terminals')
        .set(
          unchanged
            ? { tk_intake_sequence: d.intakeSequence, updated_at: updatedAt }
            : { generation, ...newTk },
        )
        .where('customer_code', '=', d.customerCode)
        .where('serial', '=', d.serial)
        .where('generation', '=', current.generation)
        .where('tk_intake_sequence', '<', d.intakeSequence)
        .executeTakeFirst();
      if (result.numUpdatedRows !== 1n) throw raced(d.serial);
    }
    await audit.append({
      actor: `kms:${d.customerCode}`,
      action: `kms.tk.${change}`,
      subject,
      detail: { deliveryId: d.deliveryId, intakeSequence: d.intakeSequence, generation, tkKcv: d.tk.kcv },
    });
    return { outcome: 'applied', change, generation };
  });
}

/**
 * Another delivery for the same serial committed between our read and our write (two hosts). The
 * transaction rolls back whole, inbox row included, and the sender's retry applies it cleanly:
 * DB_UNAVAILABLE is the code MTMS's outbox treats as "try again later".
 */
function raced(serial: string): PaypadError {
  return new PaypadError('DB_UNAVAILABLE', `terminal ${serial} changed while its TK was being installed; retry the delivery`);
}
