/**
 * What a KMS instance remembers (tables of migration.ts and intakeSequenceMigration.ts), keyed by its customer code: its intake
 * key, each terminal's keys and message sequence, and the deliveries it applied.
 *
 * Invariants kept here:
 * - X1: keys are KeyHandles (TR-31 blocks under the instance's LMK plus a check value); no clear
 *   key is ever passed in or written.
 * - A7: a delivery id is applied once, and a TK only over one of an older intake (A13): see
 *   tkDeliveries.ts, which applies deliveries to these tables.
 * - X2: a terminal's sequence only grows, and only together with the key change it authorised:
 *   each update is one conditional statement (last_seq < seq, and the TK generation that
 *   verified the request still current), so two hosts cannot both accept one number and a
 *   request made under a replaced TK changes nothing.
 * - A13: a new TK replaces the serial's whole key hierarchy and restarts the sequence at 0.
 */
import type { ColumnType, Kysely, Selectable } from 'kysely';
import { fromHex, toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { WORKING_KEY_NAMES, type WorkingKeyName } from '../../shared/protocol/messages';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';
import type { KeyHandle } from '../hsm/hsm';
import { type ApplyResult, applyTkDelivery, type DeliveryOutcome, type DeliveryRecord, findDelivery, NO_WORKING_KEYS, type TkDelivery } from './tkDeliveries';

export type { ApplyResult, DeliveryOutcome, DeliveryRecord, TkChange, TkDelivery } from './tkDeliveries';

type KeyColumns<P extends string> = { [K in `${P}_block` | `${P}_kcv`]: string | null };

export type KmsTerminalsTable = {
  customer_code: ColumnType<string, string, never>;
  serial: ColumnType<string, string, never>;
  generation: number;
  last_seq: number;
  tk_delivery_id: string;
  /** Migration 0006 (intakeSequenceMigration.ts). */
  tk_intake_sequence: number;
  tk_block: string;
  tk_kcv: string;
  updated_at: IsoTimestamp;
} & KeyColumns<'tmk' | 'pik' | 'mak' | 'tdk' | 'dmk'>;

// Type aliases, not interfaces: Kysely's withTables needs types with implicit index signatures.
export type KmsTables = {
  kms_intake_keys: {
    customer_code: ColumnType<string, string, never>;
    key_block: ColumnType<string, string, never>;
    key_kcv: ColumnType<string, string, never>;
    public_key: ColumnType<string, string, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  kms_terminals: KmsTerminalsTable;
  kms_deliveries: {
    customer_code: ColumnType<string, string, never>;
    delivery_id: ColumnType<string, string, never>;
    serial: ColumnType<string, string, never>;
    envelope_sha256: ColumnType<string, string, never>;
    intake_sequence: ColumnType<number, number, never>;
    outcome: ColumnType<DeliveryOutcome, DeliveryOutcome, never>;
    applied_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
};

export interface IntakeKey {
  /** The private key, usage K3, never exportable (host/hsm). */
  readonly handle: KeyHandle;
  /** Uncompressed SEC 1 P-256 point (65 bytes). */
  readonly publicKey: Uint8Array;
}

export type WorkingKeys = Readonly<Record<WorkingKeyName, KeyHandle>>;

export interface TerminalRecord {
  readonly customerCode: string;
  readonly serial: string;
  /** 1 for the first TK, one more for each TK that replaced it (A13). */
  readonly generation: number;
  /** The highest sequence number accepted since this TK arrived; 0 when none (X2). */
  readonly lastSeq: number;
  readonly tkDeliveryId: string;
  /**
   * MTMS's intake sequence of the newest delivery applied for this TK (A7, A13): only a delivery
   * of a newer intake can replace it. 0 for a TK installed before deliveries carried one.
   */
  readonly intakeSequence: number;
  readonly tk: KeyHandle;
  /** Present once the terminal downloaded a TMK (A11). */
  readonly tmk?: KeyHandle;
  /** Present once the terminal signed on under its current TMK (A12). */
  readonly workingKeys?: WorkingKeys;
  readonly updatedAt: Date;
}

/** Names the terminal, the TK generation and the sequence number a key update is conditional on. */
export interface SequencedUpdate {
  readonly customerCode: string;
  readonly serial: string;
  readonly generation: number;
  readonly seq: number;
  readonly at: Date;
}

export interface KmsStore {
  intakeKey(customerCode: string): Promise<IntakeKey | undefined>;
  /** Keeps `key` as the instance's intake key unless it has one already (another host won); returns the one kept. */
  keepIntakeKey(customerCode: string, key: IntakeKey, at: Date): Promise<IntakeKey>;
  delivery(customerCode: string, deliveryId: string): Promise<DeliveryRecord | undefined>;
  /**
   * A7/A13: records the delivery and installs its TK, in one transaction; 'duplicate' (id seen
   * before) and 'superseded' (the TK held is of a newer intake) change nothing else.
   * @throws PaypadError BAD_ARGUMENT, DB_UNAVAILABLE (raced another delivery: retry), see tkDeliveries.ts.
   */
  applyTkDelivery(delivery: TkDelivery): Promise<ApplyResult>;
  terminal(customerCode: string, serial: string): Promise<TerminalRecord | undefined>;
  /**
   * A11: stores a new TMK and drops the working keys made under the previous one, advancing the
   * sequence to `seq`. False (nothing changed) when the sequence is not above last_seq or the TK
   * changed since the request was verified.
   */
  storeTmk(update: SequencedUpdate & { readonly tmk: KeyHandle }): Promise<boolean>;
  /**
   * A12: stores the working keys issued under the TMK `tmkBlock`, advancing the sequence. False
   * (nothing changed) as storeTmk, or when the TMK was replaced meanwhile.
   */
  storeWorkingKeys(update: SequencedUpdate & { readonly tmkBlock: string; readonly keys: WorkingKeys }): Promise<boolean>;
}

export function createKmsStore(schemaDb: Kysely<Schema>): KmsStore {
  const db = schemaDb.withTables<KmsTables>();

  const delivery = (customerCode: string, deliveryId: string): Promise<DeliveryRecord | undefined> => findDelivery(schemaDb, customerCode, deliveryId);

  const intakeKey = async (customerCode: string): Promise<IntakeKey | undefined> => {
    const row = await db.selectFrom('kms_intake_keys').selectAll().where('customer_code', '=', customerCode).executeTakeFirst();
    return row && { handle: { block: row.key_block, kcv: row.key_kcv }, publicKey: fromHex(row.public_key, 'stored intake public key') };
  };

  return {
    intakeKey,

    async keepIntakeKey(customerCode, key, at) {
      await db
        .insertInto('kms_intake_keys')
        .values({ customer_code: customerCode, key_block: key.handle.block, key_kcv: key.handle.kcv, public_key: toHex(key.publicKey), created_at: isoTimestamp(at) })
        .onConflict((oc) => oc.column('customer_code').doNothing())
        .execute();
      const kept = await intakeKey(customerCode);
      if (kept === undefined) throw new PaypadError('INTERNAL', `the intake key of KMS ${customerCode} was not kept`);
      return kept;
    },

    delivery,

    applyTkDelivery: (d) => applyTkDelivery(schemaDb, d),

    async terminal(customerCode, serial) {
      const row = await db.selectFrom('kms_terminals').selectAll().where('customer_code', '=', customerCode).where('serial', '=', serial).executeTakeFirst();
      return row && fromRow(row);
    },

    async storeTmk(u) {
      const result = await db
        .updateTable('kms_terminals')
        .set({ last_seq: u.seq, tmk_block: u.tmk.block, tmk_kcv: u.tmk.kcv, ...NO_WORKING_KEYS, updated_at: isoTimestamp(u.at) })
        .where('customer_code', '=', u.customerCode)
        .where('serial', '=', u.serial)
        .where('generation', '=', u.generation)
        .where('last_seq', '<', u.seq)
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    async storeWorkingKeys(u) {
      const columns: Record<string, string> = {};
      for (const name of WORKING_KEY_NAMES) {
        columns[`${name.toLowerCase()}_block`] = u.keys[name].block;
        columns[`${name.toLowerCase()}_kcv`] = u.keys[name].kcv;
      }
      const result = await db
        .updateTable('kms_terminals')
        .set({ last_seq: u.seq, ...columns, updated_at: isoTimestamp(u.at) })
        .where('customer_code', '=', u.customerCode)
        .where('serial', '=', u.serial)
        .where('generation', '=', u.generation)
        .where('tmk_block', '=', u.tmkBlock)
        .where('last_seq', '<', u.seq)
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },
  };
}

function handleOf(row: Selectable<KmsTerminalsTable>, prefix: 'tmk' | 'pik' | 'mak' | 'tdk' | 'dmk'): KeyHandle | undefined {
  const block = row[`${prefix}_block`];
  const kcv = row[`${prefix}_kcv`];
  return block === null || kcv === null ? undefined : { block, kcv };
}

function fromRow(row: Selectable<KmsTerminalsTable>): TerminalRecord {
  const tmk = handleOf(row, 'tmk');
  const pik = handleOf(row, 'pik');
  const mak = handleOf(row, 'mak');
  const tdk = handleOf(row, 'tdk');
  const dmk = handleOf(row, 'dmk');
  return {
    customerCode: row.customer_code,
    serial: row.serial,
    generation: row.generation,
    lastSeq: row.last_seq,
    tkDeliveryId: row.tk_delivery_id,
    intakeSequence: row.tk_intake_sequence,
    tk: { block: row.tk_block, kcv: row.tk_kcv },
    ...(tmk === undefined ? {} : { tmk }),
    // The table's check constraint keeps the four together.
    ...(pik && mak && tdk && dmk ? { workingKeys: { PIK: pik, MAK: mak, TDK: tdk, DMK: dmk } } : {}),
    updatedAt: new Date(row.updated_at),
  };
}
