/**
 * The mobile payment platform's tables as Kysely sees them (migration.ts creates them). Mobile
 * numbers are stored in clear: they are the payee's public identifier (CN101976403A [0027]) and
 * the key of every lookup. Card numbers never are (X1): a payee's receiving card is kept sealed
 * (cardVault.ts) beside its 6/4 mask, and a paying card only as its mask.
 */
import type { ColumnType } from 'kysely';
import type { IsoTimestamp } from '../../db/schema';

export type RegistrationKind = 'register' | 'update';
export type RegistrationState = 'pending' | 'confirmed' | 'failed';
/** The channel a registration or update arrived by (C2). */
export type Channel = 'data' | 'sms' | 'email' | 'voice';
/** owed: recorded, waiting for reconciliation; crediting: the credit was sent, answer not yet kept; credited; credit_failed: the provider declined or did not answer. */
export type PaymentState = 'owed' | 'crediting' | 'credited' | 'credit_failed';

export type MobileTables = {
  mobile_payees: {
    mobile: ColumnType<string, string, never>;
    name: string;
    card_masked: string;
    card_sealed: string;
    registered_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    updated_at: IsoTimestamp;
    version: number;
  };
  mobile_registrations: {
    id: ColumnType<string, string, never>;
    kind: ColumnType<RegistrationKind, RegistrationKind, never>;
    mobile: ColumnType<string, string, never>;
    channel: ColumnType<Channel, Channel, never>;
    name: ColumnType<string, string, never>;
    card_masked: ColumnType<string, string, never>;
    card_sealed: ColumnType<string, string, never>;
    /** SHA-256 of the registration id and the code, hex: the code itself is never stored. */
    code_hash: ColumnType<string, string, never>;
    attempts: number;
    state: RegistrationState;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    expires_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  mobile_lookup_buckets: {
    bucket_key: ColumnType<string, string, never>;
    credit: number;
    refilled_at: IsoTimestamp;
    refused: number;
    version: number;
  };
  mobile_lookups: {
    id: ColumnType<string, string, never>;
    payee_mobile: ColumnType<string, string, never>;
    payer_mobile: ColumnType<string | null, string | null, never>;
    terminal_id: ColumnType<string, string, never>;
    merchant_id: ColumnType<string, string, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    expires_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  mobile_payments: {
    reference: ColumnType<string, string, never>;
    lookup_id: ColumnType<string, string, never>;
    payee_mobile: ColumnType<string, string, never>;
    payer_mobile: ColumnType<string | null, string | null, never>;
    terminal_id: ColumnType<string, string, never>;
    amount: ColumnType<number, number, never>;
    currency: ColumnType<string, string, never>;
    masked_pan: ColumnType<string, string, never>;
    /** YYYY-MM-DD (UTC) of recording: the settlement file it is reconciled against. */
    business_day: ColumnType<string, string, never>;
    recorded_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    state: PaymentState;
    credit_reference: string | null;
    credit_answer: string | null;
    credited_at: IsoTimestamp | null;
  };
};
