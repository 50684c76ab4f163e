/**
 * The terminal transaction protocol: what a signed-on PIN pad asks POSP, the acquiring front end
 * beside its KMS (docs/payments.md; SPEC C3-C8, X1, X2). Two requests, each MAC'd under MAK in the
 * envelope of key loading (macEnvelope.ts) and numbered from the same persisted, strictly
 * increasing sequence (sequence.ts):
 *
 *   POST /posp/v1/terminals/<serial>/mobile/lookup   mobileLookupRequest -> mobileLookupResponse (C3-C5)
 *   POST /posp/v1/terminals/<serial>/mobile/pay      mobilePayRequest -> mobilePayResponse       (C6-C8)
 *
 * Every answer to an authenticated request is MAC'd under MAK with the request's serial and
 * sequence: a transaction outcome (200) carries the ISO 8583:1987 field 39 response code and a
 * reason a person can read on the POS; a refusal (4xx/5xx) is an errorBody (messages.ts).
 *
 * What never travels in clear (X1): the card's track 2 goes as `card`, IV || AES-CBC under TDK
 * (crypto/cardData.ts), the PIN only as an ISO 9564-1 format 4 block under PIK, made in the vault.
 * Amounts are integer minor units of an ISO 4217 currency (fen for CNY), as in ISO 8583 field 4.
 *
 * B6: either answer may carry `updateNotice` (updateMessages.ts), put there by the TMS for this
 * terminal and covered by the answer's MAC; the terminal then asks the TMS for its update (B1).
 *
 * Retries: the same sequence with the same bytes is a retry and gets the first answer again (never
 * a second debit); the same sequence with other bytes is PROTOCOL_REPLAY.
 * Runs in XS: no Node APIs.
 */
import { ENCIPHERED_CARD_DATA_MAX_BYTES, ENCIPHERED_CARD_DATA_MIN_BYTES } from '../crypto/cardData';
import { updateNoticeSchema } from './updateMessages';
import { type Infer, integer, object, optional, string, text, hex, version } from './validate';

export const POSP_API_PREFIX = '/posp/v1';
export const TRANSACTION_VERSION = 1;
/** A transaction body is a few hundred bytes; anything past this is refused before it is parsed. */
export const TRANSACTION_MAX_BODY_BYTES = 2048;

export type PospTransactionRoute = 'mobile/lookup' | 'mobile/pay';

/** e.g. /posp/v1/terminals/PP-0001/mobile/pay; `serial` is already validated. The MAC covers it. */
export function pospTerminalPath(serial: string, route: PospTransactionRoute): string {
  return `${POSP_API_PREFIX}/terminals/${serial}/${route}`;
}

/** ISO 8583:1987 field 4 is n 12. */
export const MAX_AMOUNT_MINOR = 999_999_999_999;
/** The longest reason a POS is shown, in code points. */
export const REASON_MAX_CHARS = 200;
/** ISO 9564-1:2017 format 4: one AES block. */
const PIN_BLOCK_BYTES = 16;

const v = version(TRANSACTION_VERSION);
/** A mobile number as keyed: an optional '+' and 5 to 15 digits (ITU-T E.164). The platform applies its number rule (C4). */
const mobile = string({ min: 5, max: 16, pattern: /^\+?[0-9]{5,15}$/, describe: "5 to 15 digits after an optional '+'" });
const lookupId = string({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/, describe: '1 to 64 of A-Z a-z 0-9 _ -' });
const amount = integer(1, MAX_AMOUNT_MINOR);
const currency = string({ min: 3, max: 3, pattern: /^[A-Z]{3}$/, describe: 'an ISO 4217 code such as CNY' });
/** ISO 8583:1987 field 39: two letters or digits. */
const responseCode = string({ min: 2, max: 2, pattern: /^[0-9A-Z]{2}$/, describe: 'two of 0-9 A-Z (ISO 8583 field 39)' });
/** ISO 8583 field 37: 12 letters or digits. */
const reference = string({ min: 12, max: 12, pattern: /^[0-9A-Z]{12}$/, describe: '12 of 0-9 A-Z' });
/** The PAN as it may be shown: first six and last four digits (shared/pan maskPan). */
const maskedPan = string({ min: 8, max: 19, pattern: /^[0-9*]+$/, describe: "8 to 19 of 0-9 '*'" });
const approvalCode = string({ min: 6, max: 6, pattern: /^[0-9A-Z ]{6}$/, describe: 'six of 0-9 A-Z space (ISO 8583 field 38)' });

export const transactionMessages = Object.freeze({
  /** Terminal -> POSP (C3, C4): who is registered for this payee mobile number? `payerMobile`, when keyed, is rate-limited too. */
  mobileLookupRequest: object({ v, payeeMobile: mobile, payerMobile: optional(mobile) }),
  /** POSP -> terminal (C5): the payee's name with its second character hidden, for the payer to confirm. */
  mobileLookupResponse: object({ v, lookupId, maskedName: text(1, 80), expiresAt: text(1, 40), updateNotice: optional(updateNoticeSchema) }),
  /**
   * Terminal -> POSP (C3, C6): pay the confirmed payee. `card` is IV || track 2 enciphered under TDK,
   * `pinBlock` ISO 9564-1 format 4 under PIK, both hex; `payerMobile` gets the success text (C8).
   */
  mobilePayRequest: object({
    v,
    lookupId,
    amount,
    currency,
    card: hex(ENCIPHERED_CARD_DATA_MIN_BYTES, ENCIPHERED_CARD_DATA_MAX_BYTES),
    pinBlock: hex(PIN_BLOCK_BYTES, PIN_BLOCK_BYTES),
    payerMobile: optional(mobile),
  }),
  /**
   * POSP -> terminal (C7, C8): the outcome. responseCode '00' is approved (the card was debited);
   * any other code is a decline or a failure with nothing debited, `reason` saying why.
   */
  mobilePayResponse: object({
    v,
    responseCode,
    reason: text(1, REASON_MAX_CHARS),
    reference,
    amount,
    currency,
    maskedPan,
    approvalCode: optional(approvalCode),
    updateNotice: optional(updateNoticeSchema),
  }),
} as const);

export type TransactionMessageName = keyof typeof transactionMessages;
export type TransactionMessage<N extends TransactionMessageName> = Infer<(typeof transactionMessages)[N]>;
export type MobileLookupRequest = TransactionMessage<'mobileLookupRequest'>;
export type MobileLookupResponse = TransactionMessage<'mobileLookupResponse'>;
export type MobilePayRequest = TransactionMessage<'mobilePayRequest'>;
export type MobilePayResponse = TransactionMessage<'mobilePayResponse'>;

/** The ISO 8583 field 39 code of an approval. */
export const APPROVED_RESPONSE_CODE = '00';

/** Parsed JSON as the named message, or PROTOCOL_MALFORMED / PROTOCOL_UNSUPPORTED_VERSION naming the field. */
export function validateTransactionMessage<N extends TransactionMessageName>(name: N, value: unknown): TransactionMessage<N> {
  return transactionMessages[name](value, name) as TransactionMessage<N>;
}
