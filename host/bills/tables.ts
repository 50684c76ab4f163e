/**
 * The bill platform's tables as Kysely sees them (migration.ts creates them). Mobile numbers are
 * stored in clear (they are whom a bill is for); card numbers never are (X1): a paid bill keeps
 * the masked PAN, a payment attempt a keyed fingerprint of the card (cardFingerprint.ts).
 */
import type { ColumnType } from 'kysely';
import type { IsoTimestamp } from '../db/schema';

/** 'paying': taken by one payment in flight (shown as open); an open bill past expires_at reads as expired. */
export type StoredBillState = 'open' | 'paying' | 'paid' | 'refused';
export type AttemptOutcome = 'paid' | 'insufficient_funds' | 'declined';

export type BillTables = {
  bills: {
    id: ColumnType<string, string, never>;
    merchant_id: ColumnType<string, string, never>;
    merchant_name: ColumnType<string, string, never>;
    merchant_certificate_subject: ColumnType<string, string, never>;
    order_id: ColumnType<string, string, never>;
    /** SHA-256 of the order's fields, hex: the same order id sent again with other fields is refused. */
    order_digest: ColumnType<string, string, never>;
    amount_minor: ColumnType<number, number, never>;
    currency: ColumnType<string, string, never>;
    goods: ColumnType<string, string, never>;
    designated_mobile: ColumnType<string, string, never>;
    buyer_mobile: ColumnType<string, string, never>;
    receiving_account: ColumnType<string, string, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    expires_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    state: StoredBillState;
    /** While 'paying': until when the payment in flight holds the bill. */
    paying_until: IsoTimestamp | null;
    paid_masked_pan: string | null;
    paid_reference: string | null;
    paid_at: IsoTimestamp | null;
    /** 'payer' (the user refused) or 'declined:<code>' (the bank declined for good). */
    refused_reason: string | null;
    refused_at: IsoTimestamp | null;
    /** The last merchant notification sequence number used for this bill (0: none yet). */
    notify_sequence: number;
  };
  bill_payment_attempts: {
    idempotency_key: ColumnType<string, string, never>;
    /** HMAC-SHA256 of the PAN under the platform's fingerprint key, hex. */
    card_fingerprint: ColumnType<string, string, never>;
    bill_id: ColumnType<string, string, never>;
    outcome: ColumnType<AttemptOutcome, AttemptOutcome, never>;
    response_code: ColumnType<string, string, never>;
    reference: ColumnType<string | null, string | null, never>;
    masked_pan: ColumnType<string, string, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  bill_notifications: {
    /** The merchant's cursor for the pull API: increasing in commit order per database. */
    id: ColumnType<number, never, never>;
    merchant_id: ColumnType<string, string, never>;
    bill_id: ColumnType<string, string, never>;
    sequence: ColumnType<number, number, never>;
    event: ColumnType<string, string, never>;
    /** The notification as sent: JSON text, the exact bytes signed. */
    body: ColumnType<string, string, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
};
