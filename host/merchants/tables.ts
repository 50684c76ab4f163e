/**
 * The merchant directory's tables as Kysely sees them (migration.ts creates them). A merchant's
 * certificate is public; its private key never reaches the platform (the CA certified its CSR).
 */
import type { ColumnType } from 'kysely';
import type { IsoTimestamp } from '../db/schema';

export type MerchantTables = {
  merchants: {
    /** The merchant number: 15 digits, as ISO 8583 field 42 carries a card acceptor. */
    merchant_id: ColumnType<string, string, never>;
    /** The certificate's CN: what bills show as the verified merchant name. */
    legal_name: ColumnType<string, string, never>;
    certificate_serial: string;
    certificate_pem: string;
    /** The account the merchant's bills are paid into. */
    receiving_account: string;
    /** Where the platform POSTs its signed notifications. */
    notify_url: string;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  signed_request_nonces: {
    key_id: ColumnType<string, string, never>;
    nonce: ColumnType<string, string, never>;
    seen_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
};
