/**
 * What MTMS remembers (tables of migration.ts): customers, the serial table, production orders,
 * TK intakes and its intake key.
 *
 * Invariants kept here:
 * - X1: a TK is stored only as the terminal's envelope for MTMS's intake key, and the outbox row
 *   that forwards it holds a reference to the intake, not the envelope.
 * - A5/A7: an intake and the outbox row that delivers it commit together, or neither does.
 * - A6: a serial changes customer only together with an intake for the new customer and an audit
 *   entry naming the old and new customer and the operator. The change is conditional on the
 *   customer read in the same transaction, so the audit entry always tells the truth.
 * - A9: an order's transfer never sends a TK to a customer the serial no longer belongs to.
 */
import type { Kysely } from 'kysely';
import { fromHex, toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { createAuditStore } from '../audit/auditStore';
import type { Dialect } from '../db/database';
import { isoTimestamp, type Schema } from '../db/schema';
import type { KeyPair } from '../hsm/hsm';
import { enqueue } from '../outbox/outboxStore';
import { type Customer, customerFromRow, intakeFromRow, kmsTkMessage, type MtmsTables, type OperatorIdentity, type SerialRecord, type TkIntake } from './mtmsTables';
import { createOrderTransfer, type OrderTransfer } from './orderTransfer';
import { createRegistry, type Registry } from './registry';
import { createRepairAuthorisations, type RepairAuthorisations, useRepairAuthorisation } from './repairAuthorisations';

export interface IntakeInput {
  readonly serial: string;
  /** The customer the TK goes to; a different one than the serial's re-associates it (A6). */
  readonly customerCode: string;
  /** The terminal's envelope, as received. */
  readonly envelope: Uint8Array;
  /** The TK's check value, from MTMS's HSM opening the envelope. */
  readonly tkKcv: string;
  /** Used only when this creates a new intake. */
  readonly deliveryId: string;
  readonly operator: OperatorIdentity;
  readonly at: Date;
}

export interface IntakeResult {
  readonly intake: TkIntake;
  /** False when this exact upload was recorded before (an operator's retry): nothing changed. */
  readonly created: boolean;
  /** The customer the serial belonged to before this intake re-associated it (A6). */
  readonly reassociatedFrom?: string;
}

export interface MtmsStore extends Registry, OrderTransfer, RepairAuthorisations {
  intakeKey(): Promise<KeyPair | undefined>;
  /** Keeps `key` unless MTMS has one already (another host won the race); returns the one kept. */
  keepIntakeKey(key: KeyPair, at: Date): Promise<KeyPair>;
  serial(serial: string): Promise<SerialRecord | undefined>;
  customer(code: string): Promise<Customer | undefined>;
  intake(id: number): Promise<TkIntake | undefined>;
  latestIntake(serial: string): Promise<TkIntake | undefined>;
  /**
   * A5/A6/A7: records the intake, re-associates the serial when the customer differs (audited),
   * and queues the KMS delivery, in one transaction.
   * @throws PaypadError MTMS_SERIAL_UNKNOWN, MTMS_CUSTOMER_UNKNOWN, DB_UNAVAILABLE (the serial
   * changed customer meanwhile: retry).
   */
  recordIntake(input: IntakeInput): Promise<IntakeResult>;
}

export function createMtmsStore(schemaDb: Kysely<Schema>, dialect: Dialect, clock: () => Date = () => new Date()): MtmsStore {
  const db = schemaDb.withTables<MtmsTables>();

  const intakeKey = async (): Promise<KeyPair | undefined> => {
    const row = await db.selectFrom('mtms_intake_keys').selectAll().where('id', '=', 1).executeTakeFirst();
    return row && { handle: { block: row.key_block, kcv: row.key_kcv }, publicKey: fromHex(row.public_key, 'stored MTMS intake public key') };
  };

  return {
    ...createRegistry(schemaDb, clock),
    ...createOrderTransfer(schemaDb, dialect, clock),
    ...createRepairAuthorisations(schemaDb, clock),

    intakeKey,

    async keepIntakeKey(key, at) {
      await db
        .insertInto('mtms_intake_keys')
        .values({ id: 1, key_block: key.handle.block, key_kcv: key.handle.kcv, public_key: toHex(key.publicKey), created_at: isoTimestamp(at) })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      const kept = await intakeKey();
      if (kept === undefined) throw new PaypadError('INTERNAL', 'the MTMS intake key was not kept');
      return kept;
    },

    async serial(serial) {
      const row = await db
        .selectFrom('mtms_serials')
        .innerJoin('mtms_customers', 'mtms_customers.code', 'mtms_serials.customer_code')
        .select(['mtms_serials.serial', 'mtms_serials.customer_code', 'mtms_serials.order_id', 'mtms_customers.name'])
        .where('mtms_serials.serial', '=', serial)
        .executeTakeFirst();
      return row && { serial: row.serial, customerCode: row.customer_code, customerName: row.name, ...(row.order_id === null ? {} : { orderId: row.order_id }) };
    },

    async customer(code) {
      const row = await db.selectFrom('mtms_customers').selectAll().where('code', '=', code).executeTakeFirst();
      return row && customerFromRow(row);
    },

    async intake(id) {
      const row = await db.selectFrom('mtms_tk_intakes').selectAll().where('id', '=', id).executeTakeFirst();
      return row && intakeFromRow(row);
    },

    async latestIntake(serial) {
      const row = await db.selectFrom('mtms_tk_intakes').selectAll().where('serial', '=', serial).orderBy('id', 'desc').limit(1).executeTakeFirst();
      return row && intakeFromRow(row);
    },

    recordIntake(input) {
      const envelope = toHex(input.envelope);
      return schemaDb.transaction().execute(async (base): Promise<IntakeResult> => {
        const trx = base.withTables<MtmsTables>();
        const current = await trx.selectFrom('mtms_serials').select('customer_code').where('serial', '=', input.serial).executeTakeFirst();
        if (current === undefined) throw new PaypadError('MTMS_SERIAL_UNKNOWN', `serial ${input.serial} is not in the MTMS serial table`);
        const target = await trx.selectFrom('mtms_customers').select('code').where('code', '=', input.customerCode).executeTakeFirst();
        if (target === undefined) throw new PaypadError('MTMS_CUSTOMER_UNKNOWN', `there is no customer ${input.customerCode}`);

        // The same TK for the same customer again (an operator's retry, or the terminal's TK
        // exported anew: each envelope has its own ephemeral key) gets the first receipt, not a
        // second delivery.
        const latestRow = await trx.selectFrom('mtms_tk_intakes').selectAll().where('serial', '=', input.serial).orderBy('id', 'desc').limit(1).executeTakeFirst();
        if (latestRow !== undefined && latestRow.tk_kcv === input.tkKcv && latestRow.customer_code === input.customerCode && current.customer_code === input.customerCode) {
          return { intake: intakeFromRow(latestRow), created: false };
        }
        // Another TK for a serial whose KMS already got one: a repair, which an administrator
        // must have authorised (A13; repairAuthorisations.ts). Refused otherwise, whoever asks.
        const repairAuthorisation = latestRow !== undefined && latestRow.tk_kcv !== input.tkKcv ? await useRepairAuthorisation(base, input.serial, input.deliveryId, input.at) : undefined;

        const at = isoTimestamp(input.at);
        const audit = createAuditStore(base, () => input.at);
        const actor = `operator:${input.operator.name}`;
        const subject = `terminal:${input.serial}`;
        let reassociatedFrom: string | undefined;
        if (current.customer_code !== input.customerCode) {
          const moved = await trx
            .updateTable('mtms_serials')
            .set({ customer_code: input.customerCode, updated_at: at })
            .where('serial', '=', input.serial)
            .where('customer_code', '=', current.customer_code)
            .executeTakeFirst();
          if (moved.numUpdatedRows !== 1n) throw new PaypadError('DB_UNAVAILABLE', `serial ${input.serial} changed customer while this upload was recorded; upload again`);
          reassociatedFrom = current.customer_code;
          await audit.append({
            actor,
            action: 'mtms.serial.reassociated',
            subject,
            detail: { from: current.customer_code, to: input.customerCode, operatorCertSerial: input.operator.certSerial, deliveryId: input.deliveryId },
          });
        }
        const row = await trx
          .insertInto('mtms_tk_intakes')
          .values({
            serial: input.serial,
            customer_code: input.customerCode,
            envelope,
            tk_kcv: input.tkKcv,
            delivery_id: input.deliveryId,
            operator_name: input.operator.name,
            operator_cert_serial: input.operator.certSerial,
            received_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const intake = intakeFromRow(row);
        await audit.append({
          actor,
          action: 'mtms.tk.received',
          subject,
          detail: {
            customerCode: intake.customerCode,
            deliveryId: intake.deliveryId,
            tkKcv: intake.tkKcv,
            operatorCertSerial: input.operator.certSerial,
            ...(repairAuthorisation === undefined ? {} : { repairAuthorisation }),
          },
        });
        await enqueue(base, kmsTkMessage(intake), input.at);
        return { intake, created: true, ...(reassociatedFrom === undefined ? {} : { reassociatedFrom }) };
      });
    },
  };
}
