/**
 * The client gateway's tables as Kysely sees them (migration.ts creates them). No row holds a key,
 * a PAN or a PIN in clear (X1): session keys are HSM key blocks under its master key, a bound card
 * is its keyed reference and 6/4 mask, and an enrolment code only its hash.
 */
import type { ColumnType } from 'kysely';
import type { IsoTimestamp } from '../../db/schema';

export type EnrolmentState = 'pending' | 'confirmed' | 'failed';

/** A KeyHandle's two parts, as columns. */
type HandleColumns<P extends string> = { [K in `${P}_block` | `${P}_kcv`]: ColumnType<string, string, never> };

export type BillClientTables = {
  /** The platform's own keys for the phone client: the enrolment key pair, the card reference key. */
  bill_client_keys: {
    name: ColumnType<string, string, never>;
    key_block: ColumnType<string, string, never>;
    key_kcv: ColumnType<string, string, never>;
    /** Uncompressed P-256 point, hex; null for a symmetric key. */
    public_key: ColumnType<string | null, string | null, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  bill_client_enrolments: {
    id: ColumnType<string, string, never>;
    phone_id: ColumnType<string, string, never>;
    /** E.164. */
    mobile: ColumnType<string, string, never>;
    /** SHA-256 of the enrolment id and the code, hex (host/payments/mobile/verificationCodes). */
    code_hash: ColumnType<string, string, never>;
    attempts: number;
    /** The last sequence accepted for the finishing step, so a replayed finish changes nothing. */
    last_seq: number;
    state: EnrolmentState;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    expires_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  } & HandleColumns<'mac' | 'enc' | 'pin'>;
  bill_client_phones: {
    phone_id: ColumnType<string, string, never>;
    mobile: ColumnType<string, string, never>;
    /** The last message sequence accepted from the phone (requests and push hellos). */
    last_seq: number;
    enrolled_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  } & HandleColumns<'mac' | 'enc' | 'pin'>;
  bill_client_cards: {
    phone_id: ColumnType<string, string, never>;
    /** CMAC of the PAN under the card reference key, hex: names the card, cannot be reversed by trying PANs without the HSM. */
    card_ref: ColumnType<string, string, never>;
    masked_pan: ColumnType<string, string, never>;
    bound_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
};
