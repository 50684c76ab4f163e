/**
 * The MTMS tables as Kysely sees them (migration.ts), the records the store hands out, and the
 * one outbox message MTMS sends: a TK delivery to a customer's KMS (topic kms.tk).
 */
import type { ColumnType, Selectable } from 'kysely';
import { PaypadError } from '../../shared/errors';
import type { IsoTimestamp } from '../db/schema';
import type { OutboxMessage, OutboxPayload } from '../outbox/outboxStore';

// Type aliases, not interfaces: Kysely's withTables needs types with implicit index signatures.
export type MtmsTables = {
  mtms_customers: {
    code: ColumnType<string, string, never>;
    name: string;
    kms_url: string;
    kms_protocol: KmsProtocol;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  mtms_orders: {
    id: ColumnType<number, never, never>;
    customer_code: ColumnType<string, string, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  mtms_serials: {
    serial: ColumnType<string, string, never>;
    customer_code: string;
    order_id: number | null;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    updated_at: IsoTimestamp;
  };
  mtms_tk_intakes: {
    id: ColumnType<number, never, never>;
    serial: ColumnType<string, string, never>;
    customer_code: ColumnType<string, string, never>;
    envelope: ColumnType<string, string, never>;
    tk_kcv: ColumnType<string, string, never>;
    delivery_id: ColumnType<string, string, never>;
    operator_name: ColumnType<string, string, never>;
    operator_cert_serial: ColumnType<string, string, never>;
    received_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  mtms_repair_authorisations: {
    id: ColumnType<number, never, never>;
    serial: ColumnType<string, string, never>;
    opened_by: ColumnType<string, string, never>;
    opened_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    expires_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    closed_at: IsoTimestamp | null;
    closed_by: string | null;
  };
  mtms_tk_challenges: {
    nonce: ColumnType<string, string, never>;
    serial: ColumnType<string, string, never>;
    purpose: ColumnType<DeviceChallengePurpose, DeviceChallengePurpose, never>;
    operator_cert_serial: ColumnType<string, string, never>;
    issued_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    expires_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    used_at: IsoTimestamp | null;
  };
  mtms_intake_keys: {
    id: ColumnType<number, number, never>;
    key_block: ColumnType<string, string, never>;
    key_kcv: ColumnType<string, string, never>;
    public_key: ColumnType<string, string, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
};

/** What a device signs a challenge for (shared/protocol/deviceIdentity): its enrolment, or a TK intake. */
export type DeviceChallengePurpose = 'enrol' | 'tk';

/** A7: how MTMS reaches a customer's KMS. Mutual TLS with certificates of the paypad CA is the one method. */
export const KMS_PROTOCOLS = ['https-mtls'] as const;
export type KmsProtocol = (typeof KMS_PROTOCOLS)[number];

export interface Customer {
  readonly code: string;
  readonly name: string;
  /** The KMS's base URL, https://host:port (the /kms/v1 routes are below it). */
  readonly kmsUrl: string;
  readonly kmsProtocol: KmsProtocol;
  readonly createdAt: Date;
}

export interface SerialRecord {
  readonly serial: string;
  readonly customerCode: string;
  readonly customerName: string;
  readonly orderId?: number;
}

export interface ProductionOrder {
  readonly id: number;
  readonly customerCode: string;
  /** In serial order. */
  readonly serials: readonly string[];
  readonly createdAt: Date;
}

/** Who uploaded: from the operator's client certificate (A8). */
export interface OperatorIdentity {
  readonly name: string;
  /** The certificate serial, canonical uppercase hex. */
  readonly certSerial: string;
}

export interface TkIntake {
  readonly id: number;
  readonly serial: string;
  readonly customerCode: string;
  /** The terminal's envelope for MTMS's intake key, uppercase hex: never a clear TK (X1). */
  readonly envelope: string;
  readonly tkKcv: string;
  readonly deliveryId: string;
  readonly operator: OperatorIdentity;
  readonly receivedAt: Date;
}

export function intakeFromRow(row: Selectable<MtmsTables['mtms_tk_intakes']>): TkIntake {
  return {
    id: row.id,
    serial: row.serial,
    customerCode: row.customer_code,
    envelope: row.envelope,
    tkKcv: row.tk_kcv,
    deliveryId: row.delivery_id,
    operator: { name: row.operator_name, certSerial: row.operator_cert_serial },
    receivedAt: new Date(row.received_at),
  };
}

export function customerFromRow(row: Selectable<MtmsTables['mtms_customers']>): Customer {
  return { code: row.code, name: row.name, kmsUrl: row.kms_url, kmsProtocol: row.kms_protocol, createdAt: new Date(row.created_at) };
}

/** The outbox topic of TK deliveries to a KMS (A7, A9). */
export const KMS_TK_TOPIC = 'kms.tk';

/** What a kms.tk row carries: a reference to the intake, never the envelope itself. */
export interface KmsTkPayload {
  readonly intakeId: number;
  readonly serial: string;
  readonly customerCode: string;
}

/** The outbox message that delivers `intake` to its customer's KMS; the KMS dedupes on the delivery id. */
export function kmsTkMessage(intake: TkIntake): OutboxMessage {
  const payload: KmsTkPayload = { intakeId: intake.id, serial: intake.serial, customerCode: intake.customerCode };
  return { topic: KMS_TK_TOPIC, destination: intake.customerCode, idempotencyKey: intake.deliveryId, payload: { ...payload } };
}

/** @throws PaypadError INTERNAL when a kms.tk row does not hold what kmsTkMessage wrote. */
export function readKmsTkPayload(payload: OutboxPayload): KmsTkPayload {
  const { intakeId, serial, customerCode } = payload;
  if (!Number.isSafeInteger(intakeId) || typeof serial !== 'string' || typeof customerCode !== 'string') {
    throw new PaypadError('INTERNAL', 'a kms.tk outbox row does not name an intake, a serial and a customer');
  }
  return { intakeId: intakeId as number, serial, customerCode };
}
