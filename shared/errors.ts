/**
 * Typed errors for everything in shared/ and firmware/core.
 *
 * Every failure carries a stable `code` that callers, tests and HTTP responses rely on; the
 * message is for people. Messages never include key, PIN or PAN values (X1).
 * Runs in XS and Node: no Node APIs.
 */
export type ErrorCode =
  // encoding and input shape
  | 'BAD_HEX'
  | 'BAD_LENGTH'
  | 'BAD_ARGUMENT'
  // keys and MACs
  | 'KEY_LENGTH'
  | 'MAC_MISMATCH'
  | 'KEY_UNWRAP_FAILED'
  // TR-31 key blocks
  | 'TR31_MALFORMED'
  | 'TR31_UNSUPPORTED'
  | 'TR31_MAC_MISMATCH'
  | 'TR31_USAGE_NOT_ALLOWED'
  | 'TR31_KEY_LENGTH'
  // ISO 9564 PIN blocks
  | 'PIN_INVALID'
  | 'PAN_INVALID'
  | 'PIN_BLOCK_INVALID'
  | 'PIN_INCORRECT'
  // AES DUKPT (shared/crypto/dukpt, dukptTerminal): KSNs, the device's counter and stored state
  | 'DUKPT_KSN_INVALID'
  | 'DUKPT_COUNTER_EXHAUSTED'
  | 'DUKPT_STATE_INVALID'
  // ECDH key transport
  | 'PUBLIC_KEY_INVALID'
  | 'KEY_ENVELOPE_UNSUPPORTED'
  // power-up known-answer tests of the crypto primitives
  | 'CRYPTO_SELF_TEST_FAILED'
  // host: configuration, storage and HTTP edge
  | 'CONFIG_INVALID'
  | 'DATA_DIR_LOCKED'
  | 'DB_UNAVAILABLE'
  | 'MIGRATION_FAILED'
  | 'BAD_JSON'
  | 'BAD_REQUEST'
  | 'PAYLOAD_TOO_LARGE'
  | 'HEADERS_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_FOUND'
  | 'LISTEN_FAILED'
  | 'INTERNAL'
  // terminal protocol: MAC'd envelope, message validation, local link framing
  | 'PROTOCOL_MALFORMED'
  | 'PROTOCOL_REPLAY'
  | 'PROTOCOL_UNSUPPORTED_VERSION'
  | 'LINK_FRAME_TOO_LARGE'
  // firmware HAL: device storage, randomness, network, input devices, firmware update
  | 'STORAGE_LIMIT'
  | 'STORAGE_FAILED'
  | 'STORAGE_CORRUPT'
  | 'RNG_FAILED'
  | 'HTTP_FAILED'
  | 'HTTP_TIMEOUT'
  | 'DEVICE_BUSY'
  | 'UPDATE_STATE'
  | 'UPDATE_FAILED'
  | 'UPDATE_UNSUPPORTED'
  // CA and mutual TLS (A8): the CA's files and register, client and peer certificates
  | 'CA_NOT_INITIALIZED'
  | 'CA_EXISTS'
  | 'CA_INVALID'
  | 'CSR_INVALID'
  | 'CERT_SUBJECT_INVALID'
  | 'CERT_EXISTS'
  | 'CERT_NOT_FOUND'
  | 'CERT_ALREADY_REVOKED'
  | 'FILE_EXISTS'
  | 'CLIENT_CERT_REQUIRED'
  | 'CLIENT_CERT_UNTRUSTED'
  | 'CLIENT_CERT_REVOKED'
  | 'CLIENT_CERT_ROLE'
  | 'PEER_CERT_UNTRUSTED'
  | 'PEER_CERT_MISMATCH'
  | 'PEER_CERT_REVOKED'
  | 'SERVER_CERT_REVOKED'
  // device identity (A8): the PIN pad's certificate and its signature over an MTMS challenge
  | 'DEVICE_CERT_INVALID'
  | 'DEVICE_CERT_REVOKED'
  | 'DEVICE_SIGNATURE_INVALID'
  // firmware key vault (A1, A11, A12, A13)
  | 'VAULT_SLOT_EMPTY'
  | 'VAULT_SLOT_OCCUPIED'
  | 'VAULT_RECORD_INVALID'
  | 'KCV_MISMATCH'
  // host HSM (host/hsm): master key file, key handles, key strength, key components, commands a backend refuses
  | 'HSM_UNAVAILABLE'
  | 'HSM_LMK_INVALID'
  | 'HSM_HANDLE_INVALID'
  | 'HSM_KEY_TOO_WEAK'
  | 'HSM_COMMAND_UNSUPPORTED'
  | 'KEY_COMPONENTS_INVALID'
  // KMS role (A7, A11-A13): terminals it holds keys for, deliveries from MTMS
  | 'KMS_TERMINAL_UNKNOWN'
  | 'KMS_KEY_STATE'
  | 'KMS_CUSTOMER_MISMATCH'
  | 'DELIVERY_CONFLICT'
  // MTMS role (A2-A9, A14): serial table, customers, production orders, forwarding to KMSs
  | 'MTMS_SERIAL_UNKNOWN'
  | 'MTMS_REPAIR_NOT_AUTHORISED'
  | 'MTMS_SERIAL_EXISTS'
  | 'MTMS_CUSTOMER_UNKNOWN'
  | 'MTMS_CUSTOMER_EXISTS'
  | 'MTMS_ORDER_UNKNOWN'
  | 'MTMS_DELIVERY_FAILED'
  | 'MTMS_KMS_KEY_CHANGED'
  | 'MTMS_LOOKUP_RATE_LIMITED'
  | 'MTMS_CHALLENGE_INVALID'
  | 'MTMS_DEVICE_ENROLLED'
  // host outbox (ARCHITECTURE §5): queued outbound messages
  | 'OUTBOX_ROW_UNKNOWN'
  | 'OUTBOX_ROW_STATE'
  // host ledger (host/payments/ledger; SPEC C8, C9): double-entry accounts and transfers
  | 'LEDGER_ACCOUNT_UNKNOWN'
  | 'LEDGER_ACCOUNT_EXISTS_DIFFERENT'
  | 'LEDGER_TRANSFER_UNKNOWN'
  | 'LEDGER_TRANSFER_EXISTS_DIFFERENT'
  | 'LEDGER_CURRENCY_MISMATCH'
  | 'LEDGER_INSUFFICIENT_FUNDS'
  | 'LEDGER_OVERFLOW'
  | 'LEDGER_NOT_PENDING'
  | 'LEDGER_PENDING_RESOLVED'
  | 'LEDGER_PENDING_EXPIRED'
  | 'LEDGER_AMOUNT_EXCEEDS_PENDING'
  | 'LEDGER_INVARIANT_BROKEN'
  // operating terminal (A2-A6, A13): its local link to the PIN pad, MTMS's answers, the operator
  | 'LINK_UNAVAILABLE'
  | 'LINK_TIMEOUT'
  | 'LINK_REFUSED'
  | 'MTMS_REFUSED'
  | 'OPERATOR_CANCELLED'
  // PIN pad application (A1, A2, A10-A13, X2): its identity, key-loading state and KMS exchanges
  | 'TERMINAL_NOT_INITIALIZED'
  | 'TERMINAL_ALREADY_INITIALIZED'
  | 'TERMINAL_STATE'
  | 'TERMINAL_SERIAL_MISMATCH'
  | 'KMS_REFUSED'
  | 'KMS_RESPONSE_UNSIGNED'
  | 'ROOT_KEY_INVALID'
  // demos (bin/demo): a step of a scripted walk-through failed or its results disagree
  | 'DEMO_STEP_FAILED'
  // local link over a board's UART (firmware/hal/moddable): more answer bytes queued than the line can carry
  | 'LINK_OVERRUN'
  // ISO 8583 acquirer link (host/payments/iso8583): message bytes, field values, the TCP channel
  | 'ISO8583_MALFORMED'
  | 'ISO8583_FIELD_INVALID'
  | 'ACQUIRER_LINK_TIMEOUT'
  | 'ACQUIRER_LINK_CLOSED'
  | 'ACQUIRER_LINK_FRAME_TIMEOUT'
  | 'ACQUIRER_LINK_DUPLICATE_REQUEST'
  // simulated outside parties (host/simulators, X5): card schemes and banks, the provider's files, SMS
  | 'BIN_TABLE_INVALID'
  | 'SIMULATOR_FIXTURE_INVALID'
  | 'PAYMENT_REQUEST_INVALID'
  | 'SETTLEMENT_FILE_MALFORMED'
  | 'SETTLEMENT_FILE_TOTALS_MISMATCH'
  | 'SMS_MESSAGE_INVALID'
  | 'SMS_GATEWAY_UNAVAILABLE'
  // mobile-number payments (host/payments/mobile; SPEC C1-C9): payees, lookups, payments, reconciliation
  | 'MOBILE_NUMBER_INVALID'
  | 'PAYEE_REGISTRATION_INVALID'
  | 'PAYEE_EXISTS'
  | 'PAYEE_UNKNOWN'
  | 'PAYEE_CARD_NOT_VERIFIED'
  | 'REGISTRATION_UNKNOWN'
  | 'VERIFICATION_CODE_INVALID'
  | 'VERIFICATION_CODE_EXPIRED'
  | 'VERIFICATION_ATTEMPTS_EXCEEDED'
  | 'RATE_LIMITED'
  | 'LOOKUP_UNKNOWN'
  | 'LOOKUP_EXPIRED'
  | 'CARD_BANK_NOT_CONTRACTED'
  | 'PAYMENT_EXISTS_DIFFERENT'
  | 'MOBILE_COMMAND_INVALID'
  | 'OPERATOR_ONLY'
  | 'MAIL_MESSAGE_INVALID'
  | 'VOICE_CALL_INVALID'
  // POSP, the acquiring front end (host/posp; SPEC C3-C8, X2): card data under TDK, the terminal transaction exchange
  | 'CARD_DATA_INVALID'
  | 'POSP_REFUSED'
  | 'POSP_RESPONSE_UNSIGNED'
  | 'POSP_REQUEST_IN_PROGRESS'
  // program updates (SPEC B1-B7; shared/protocol/update*): what the terminal refuses, each with its
  // numbered status code (shared/protocol/updateCodes), and the TMS's answers as the terminal sees them
  | 'UPDATE_AUTH_FAILED'
  | 'UPDATE_RANGE_MISMATCH'
  | 'UPDATE_CHUNK_INVALID'
  | 'UPDATE_IMAGE_MISMATCH'
  | 'UPDATE_SIGNATURE_INVALID'
  | 'UPDATE_MODEL_MISMATCH'
  | 'UPDATE_DOWNGRADE'
  | 'UPDATE_SECURITY_COUNTER'
  | 'UPDATE_METADATA_EXPIRED'
  | 'UPDATE_METADATA_ROLLBACK'
  | 'UPDATE_NOT_CONFIRMED'
  | 'TMS_REFUSED'
  | 'TMS_RESPONSE_UNSIGNED'
  // The TMS (host/tms; SPEC B1-B7): packages, deployments and download sessions as it refuses them
  | 'TMS_PACKAGE_INVALID'
  | 'TMS_PACKAGE_EXISTS'
  | 'TMS_PACKAGE_UNKNOWN'
  | 'TMS_IMAGE_MISSING'
  | 'TMS_DEPLOYMENT_INVALID'
  | 'TMS_DEPLOYMENT_UNKNOWN'
  | 'TMS_DEPLOYMENT_STATE'
  | 'TMS_NOT_OFFERED'
  | 'TMS_SESSION_UNKNOWN'
  | 'TMS_SESSION_EXPIRED'
  | 'TMS_SESSION_STATE'
  | 'TMS_SAC_INVALID'
  | 'TMS_RANGE_INVALID'
  // bill payments (host/bills, host/merchants; SPEC D2-D8): merchants' signed requests, bills, paying them
  | 'MERCHANT_UNKNOWN'
  | 'MERCHANT_EXISTS'
  | 'MERCHANT_SIGNATURE_INVALID'
  | 'MERCHANT_DIGEST_MISMATCH'
  | 'MERCHANT_REQUEST_STALE'
  | 'MERCHANT_REQUEST_REPLAYED'
  | 'BILL_ORDER_INVALID'
  | 'BILL_ORDER_EXISTS_DIFFERENT'
  | 'BILL_NOT_FOUND'
  | 'BILL_EXPIRED'
  | 'BILL_ALREADY_PAID'
  | 'BILL_NOT_FOR_THIS_NUMBER'
  | 'BILL_REFUSED'
  | 'BILL_PAYMENT_EXISTS_DIFFERENT'
  | 'NOTIFICATION_SIGNATURE_INVALID'
  // the phone payment client (shared/client, host/bills/client; SPEC D1, D3, D4, D6): enrolment,
  // the secure element, bound cards, the push channel
  | 'PHONE_ENROLMENT_UNKNOWN'
  | 'PHONE_NOT_ENROLLED'
  | 'PHONE_ELEMENT_INVALID'
  | 'PHONE_CARD_NOT_VERIFIED'
  | 'PHONE_CARD_NOT_BOUND'
  | 'PHONE_CARD_UNKNOWN'
  | 'PHONE_PUSH_REFUSED'
  // the online payment gateway (host/gateway; SPEC E1-E3, E8): orders, transaction codes, idempotency keys
  | 'GATEWAY_ORDER_INVALID'
  | 'GATEWAY_ORDER_EXISTS'
  | 'GATEWAY_ORDER_NOT_FOUND'
  | 'GATEWAY_ORDER_EXPIRED'
  | 'GATEWAY_ORDER_NOT_PAYABLE'
  | 'GATEWAY_CLAIM_INVALID'
  | 'GATEWAY_MERCHANT_MISMATCH'
  | 'TRANSACTION_CODE_INVALID'
  | 'IDEMPOTENCY_KEY_INVALID'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'IDEMPOTENCY_KEY_IN_PROGRESS'
  | 'GATEWAY_NOTIFY_FAILED'
  // the card readers' BDK at the gateway (host/gateway/readerBdk; E4): loaded already, replace not asked for
  | 'READER_BDK_LOADED'
  // outbound voice calls and the voice PIN channel (host/voice, host/gateway/voicePin*; requirement E5)
  | 'VOICE_PROVIDER_UNAVAILABLE'
  | 'VOICE_CALL_ENDED'
  | 'VOICE_PIN_REQUEST_INVALID'
  | 'VOICE_PIN_CAPTURE_NOT_FOUND'
  | 'VOICE_PIN_CAPTURE_BUSY'
  | 'PIN_TRIES_EXCEEDED'
  // card readers for the checkout page (E4): the reader channel and the keyboard-wedge swipe
  | 'CARD_READER_NOT_PAIRED'
  | 'CARD_READER_DISCONNECTED'
  | 'CARD_READ_FAILED'
  | 'CARD_SWIPE_INVALID'
  // the gateway's payment flow and checkout page (host/gateway/payment*, checkout*; SPEC E5-E9)
  | 'PAYMENT_DECLINED'
  | 'PAYMENT_INSUFFICIENT_FUNDS'
  | 'PAYMENT_OUTCOME_UNKNOWN'
  | 'PAYMENT_PIN_NOT_CAPTURED'
  | 'PAYMENT_REQUEST_REPLAYED'
  | 'PAYMENT_IN_PROGRESS';

export class PaypadError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    // Defined, not assigned: the Moddable runtime freezes Error.prototype, and assigning to an
    // inherited read-only property throws ("set name: not writable").
    Object.defineProperty(this, 'name', { value: 'PaypadError', writable: true, configurable: true });
    this.code = code;
  }
}

/** True when `e` is a PaypadError, optionally with the given code. Works across bundles. */
export function isPaypadError(e: unknown, code?: ErrorCode): e is PaypadError {
  if (typeof e !== 'object' || e === null) return false;
  const err = e as { name?: unknown; code?: unknown };
  return err.name === 'PaypadError' && typeof err.code === 'string' && (code === undefined || err.code === code);
}
