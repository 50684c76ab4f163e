/**
 * The phone payment client's protocol with the bill platform (SPEC D1, D3, D4, D6, D7;
 * docs/bill-payments.md "The phone client protocol"), which also carries the payment gateway's
 * orders (E3; docs/online-payments.md "Paying from the phone client"): paths, the phone id, the three session keys
 * and how they reach the platform, the enciphered fields, and every message body, declared once
 * for the client core (shared/client, in Node and the browser) and the client gateway
 * (host/bills/client).
 *
 * Session keys. At enrolment the phone's element makes three AES-128 keys and sends each to the
 * platform with shared/crypto/keyTransport (SP 800-56A r3 C(1e, 1s) ECDH on P-256, the SP 800-56C
 * r2 one-step KDF, RFC 5649 key wrap) addressed to the platform's enrolment public key, under the
 * context
 *
 *   "paypad-phone-1|" phoneId "|" mobile (E.164) "|" name         name = MAC, ENC or PIN
 *
 * so each key is bound to this phone, this number and its one job: K_mac (AES-CMAC over every
 * message), K_enc (the sensitive fields) and K_pin (ISO 9564-1 format 4 PIN blocks). The platform
 * keeps them only inside its HSM (M6 mode C, D0 mode D, P0 mode D: a PIN key cannot decipher a
 * field, a data key cannot verify a PIN block), as key blocks under its master key.
 *
 * Enciphered fields. A sensitive field (card number, expiry, holder name, PIN block, mobile number)
 * travels as shared/crypto/cardData under K_enc: a random IV and AES-CBC over
 *
 *   name "=" value (UTF-8), ISO/IEC 9797-1 padding method 2, at most 64 bytes
 *
 * in hex. The name inside stops a ciphertext being moved to another field; the message MAC (over
 * the whole body, verified first) stops it being altered or moved to another message.
 */
import { asciiToBytes, bytesToUtf8, fromHex, type Rng, toHex, utf8ToBytes, wipe } from '../bytes';
import { CARD_DATA_MAX_BYTES, decipherCardData, encipherCardData } from '../crypto/cardData';
import { PaypadError } from '../errors';
import { array, fail, hex, integer, object, oneOf, optional, string, text } from './validate';

export const PHONE_CLIENT_BASE = '/bills/client';
export const PHONE_CLIENT_PATHS = Object.freeze({
  enrolmentKey: `${PHONE_CLIENT_BASE}/enrolment-key`,
  enrolStart: `${PHONE_CLIENT_BASE}/enrol/start`,
  enrolFinish: `${PHONE_CLIENT_BASE}/enrol/finish`,
  cards: `${PHONE_CLIENT_BASE}/cards`,
  bills: `${PHONE_CLIENT_BASE}/bills`,
  push: `${PHONE_CLIENT_BASE}/push`,
  /** The payment gateway's orders (E3): listed for the phone's account, found by code, paid. */
  orders: `${PHONE_CLIENT_BASE}/orders`,
  orderFind: `${PHONE_CLIENT_BASE}/orders/find`,
  orderPay: `${PHONE_CLIENT_BASE}/orders/pay`,
});
/**
 * The media type of MAC'd bodies: JSON, but not application/json, so no JSON parser on the way
 * re-encodes the bytes the MAC covers.
 */
export const PHONE_CONTENT_TYPE = 'application/vnd.paypad.phone+json';
export const billPayPath = (billId: string): string => `${PHONE_CLIENT_PATHS.bills}/${billId}/pay`;
export const billRefusePath = (billId: string): string => `${PHONE_CLIENT_PATHS.bills}/${billId}/refuse`;

/** The session keys' names, as they appear in the key transport context. */
export const PHONE_KEY_NAMES = Object.freeze(['MAC', 'ENC', 'PIN'] as const);
export type PhoneKeyName = (typeof PHONE_KEY_NAMES)[number];
export const PHONE_KEY_BYTES = 16;
const CONTEXT_TAG = 'paypad-phone-1';

/** A phone id: 128 random bits the element draws, 32 uppercase hex digits. */
export const phoneId = string({ min: 32, max: 32, pattern: /^[0-9A-F]+$/, describe: '32 uppercase hex digits' });
/** A bill id as the platform makes it: 'B' and 20 base32 characters. */
export const billId = string({ min: 21, max: 21, pattern: /^B[A-Z2-7]+$/, describe: "'B' and 20 of A-Z 2-7" });
/** E.164 mainland number, '+86' and 11 digits. */
export const e164Mobile = string({ min: 14, max: 14, pattern: /^\+861\d{10}$/, describe: "'+86' and an 11-digit mobile number" });
/** An enciphered field: IV and 1 to 5 AES blocks, hex. */
export const encipheredField = hex(32, 96);
const idempotencyKey = string({ min: 16, max: 64, pattern: /^[A-Za-z0-9_-]+$/, describe: '16 to 64 of A-Z a-z 0-9 _ -' });
const maskedPan = string({ min: 8, max: 19, pattern: /^[0-9*]+$/, describe: 'a masked card number' });
const cardRef = hex(16, 16);
const timestamp = string({ min: 20, max: 30, pattern: /^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$/, describe: 'an ISO 8601 UTC timestamp' });
const code = string({ min: 6, max: 6, pattern: /^\d+$/, describe: '6 digits' });
const enrolmentId = string({ min: 36, max: 36, pattern: /^[0-9a-f-]+$/, describe: 'a UUID' });

/** The transport context of one session key (see the module comment). */
export function phoneKeyContext(id: string, mobileE164: string, name: PhoneKeyName): Uint8Array {
  phoneId(id, 'phoneId');
  e164Mobile(mobileE164, 'mobile');
  if (!PHONE_KEY_NAMES.includes(name)) throw new PaypadError('BAD_ARGUMENT', `phone key name: expected one of ${PHONE_KEY_NAMES.join(', ')}`);
  return asciiToBytes(`${CONTEXT_TAG}|${id}|${mobileE164}|${name}`);
}

/** Names of the fields that travel enciphered under K_enc. */
export const ENCIPHERED_FIELD_NAMES = Object.freeze(['pan', 'expiry', 'holder', 'pinBlock', 'mobile'] as const);
export type EncipheredFieldName = (typeof ENCIPHERED_FIELD_NAMES)[number];

/** `value` for field `name`, enciphered under K_enc with a fresh IV: hex for the JSON body. */
export function encipherField(kEnc: Uint8Array, name: EncipheredFieldName, value: string, rng: Rng): string {
  const plain = utf8ToBytes(`${name}=${value}`);
  try {
    if (plain.length > CARD_DATA_MAX_BYTES) throw new PaypadError('BAD_ARGUMENT', `${name}: at most ${CARD_DATA_MAX_BYTES - name.length - 1} bytes`);
    return toHex(encipherCardData(kEnc, plain, rng));
  } finally {
    wipe(plain);
  }
}

/**
 * The value of field `name` from what was deciphered (by the HSM on the platform, by
 * decipherFieldWith on the phone). PROTOCOL_MALFORMED when it is another field's, or not UTF-8.
 * `clear` is wiped.
 */
export function fieldValue(name: EncipheredFieldName, clear: Uint8Array): string {
  let textValue: string;
  try {
    textValue = bytesToUtf8(clear);
  } catch {
    fail(name, 'does not decipher to text');
  } finally {
    wipe(clear);
  }
  const prefix = `${name}=`;
  if (!textValue.startsWith(prefix)) fail(name, 'deciphers to another field');
  return textValue.slice(prefix.length);
}

/** decipherCardData then fieldValue, for a side that holds K_enc in clear (tests, tools). */
export function decipherFieldWith(kEnc: Uint8Array, name: EncipheredFieldName, enciphered: string): string {
  return fieldValue(name, decipherCardData(kEnc, fromHex(encipheredField(enciphered, name), name)));
}

// --- Message bodies (JSON) ---------------------------------------------------------------------

/** GET enrolmentKey: the platform's enrolment public key (the TLS of the host's origin vouches for it). */
export const enrolmentKeyResponse = object({ v: oneOf(1), publicKey: hex(65, 65), kcv: hex(5, 5) });

/** POST enrolStart (not MAC'd: no key is agreed yet). Each envelope is shared/crypto/keyTransport's encoding. */
export const enrolStartRequest = object({
  v: oneOf(1),
  phoneId,
  mobile: e164Mobile,
  macKey: hex(90, 106),
  encKey: hex(90, 106),
  pinKey: hex(90, 106),
});
export const enrolStartResponse = object({ v: oneOf(1), enrolmentId, expiresAt: timestamp });

/** POST enrolFinish, MAC'd under the K_mac of the pending enrolment, sequence 1. */
export const enrolFinishRequest = object({ v: oneOf(1), enrolmentId, code });
export const enrolFinishResponse = object({ v: oneOf(1), phoneId, mobile: e164Mobile });

/** POST cards: bind a card (D1), verified with its issuing bank. */
export const bindCardRequest = object({ v: oneOf(1), pan: encipheredField, holder: encipheredField });
export const boundCard = object({ cardRef, maskedPan, boundAt: timestamp });
export const bindCardResponse = object({ v: oneOf(1), card: boundCard });

/** A bill as the phone is shown it (D3): the merchant's verified name, what, how much, until when. */
export const phoneBill = object({
  id: billId,
  merchantName: text(1, 120),
  merchantCertificateSubject: text(1, 400),
  orderId: text(1, 64),
  amountMinor: integer(1, 999_999_999_999),
  currency: string({ min: 3, max: 3, pattern: /^[A-Z]+$/, describe: 'an ISO 4217 code' }),
  goods: text(1, 400),
  receivingAccount: text(1, 64),
  forAnotherPerson: oneOf(true, false),
  buyerMobile: e164Mobile,
  createdAt: timestamp,
  expiresAt: timestamp,
  state: oneOf('open', 'paid', 'refused', 'expired'),
  paidWithMaskedPan: optional(maskedPan),
});
export const billsResponse = object({ v: oneOf(1), bills: array(phoneBill, 0, 200) });

/**
 * POST bills/:id/pay (D4): the paying card, the PIN block under K_pin and the payer's number, each
 * under K_enc, and what the payer confirmed (amount, currency, receiving account), which the
 * platform checks against the bill. The same idempotency key on every card tried for a bill (D6).
 */
export const payRequest = object({
  v: oneOf(1),
  pan: encipheredField,
  expiry: encipheredField,
  pinBlock: encipheredField,
  mobile: encipheredField,
  amountMinor: integer(1, 999_999_999_999),
  currency: string({ min: 3, max: 3, pattern: /^[A-Z]+$/, describe: 'an ISO 4217 code' }),
  receivingAccount: text(1, 64),
  idempotencyKey,
});
export const payResponse = object({
  v: oneOf(1),
  outcome: oneOf('paid', 'insufficient_funds', 'declined'),
  bill: phoneBill,
  reference: optional(string({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/, describe: 'a payment reference' })),
  responseCode: optional(string({ min: 2, max: 2, pattern: /^[0-9A-Z]+$/, describe: 'an ISO 8583 response code' })),
});

/** POST bills/:id/refuse (D7): an empty MAC'd body. */
export const refuseRequest = object({ v: oneOf(1) });
export const refuseResponse = object({ v: oneOf(1), bill: phoneBill });

/** Text frames on the push channel (D3): the client's hello, then MAC'd pushes from the platform. */
export const pushHello = object({ v: oneOf(1), phoneId, seq: integer(1, Number.MAX_SAFE_INTEGER), mac: hex(16, 16) });
export const pushFrame = object({ mac: hex(16, 16), body: string({ min: 2, max: 16_384, pattern: /^\{[\s\S]*\}$/, describe: 'a JSON object' }) });
export const pushMessage = object({
  v: oneOf(1),
  hello: integer(1, Number.MAX_SAFE_INTEGER),
  n: integer(1, Number.MAX_SAFE_INTEGER),
  kind: oneOf('bill', 'waiting'),
  bill: phoneBill,
});

// --- Gateway orders (E3): found by transaction code or listed for the phone's account, then paid ---

/** A gateway order number: 'GO' and 24 of A-Z 0-9. */
export const gatewayOrderNumber = string({ min: 26, max: 26, pattern: /^GO[A-Z0-9]+$/, describe: "'GO' and 24 of A-Z 0-9" });
/**
 * A transaction code as the buyer typed it: digits, with the spaces or dashes it was shown with.
 * The platform checks its length and Damm check digit (TRANSACTION_CODE_INVALID), so the client
 * need not carry the check.
 */
export const typedTransactionCode = string({ min: 1, max: 32, pattern: /^[0-9 -]+$/, describe: 'the transaction code: digits, spaces or dashes' });

/** An order as the phone shows it before the buyer confirms: who is paid, for what, how much, until when. */
export const phoneOrder = object({
  orderNumber: gatewayOrderNumber,
  merchantName: text(1, 120),
  merchantOrderId: text(1, 64),
  description: text(1, 256),
  amountMinor: integer(1, 1_000_000_000_000),
  currency: string({ min: 3, max: 3, pattern: /^[A-Z]+$/, describe: 'an ISO 4217 code' }),
  transactionCode: string({ min: 12, max: 12, pattern: /^\d+$/, describe: '12 digits' }),
  state: oneOf('created', 'paying', 'paid', 'failed', 'expired'),
  expiresAt: timestamp,
  /** The order names this phone's paypad account (its enrolled number): it can be paid without the code. */
  forThisAccount: oneOf(true, false),
});

/** GET orders: the orders open for the phone's account, newest first. */
export const ordersResponse = object({ v: oneOf(1), orders: array(phoneOrder, 0, 200) });
/** POST orders/find: the order a typed code names (the code stays out of the URL and the logs). */
export const findOrderRequest = object({ v: oneOf(1), code: typedTransactionCode });
export const orderResponse = object({ v: oneOf(1), order: phoneOrder });

/**
 * POST orders/pay: the order as it was found (by its code, or its number when it names this
 * phone's account), what the payer confirmed (amount, currency), the bound card and the PIN block
 * under K_pin, each under K_enc. The text after the payment goes to the phone's enrolled number.
 * No idempotency key: the gateway's claim lets an order be paid once, and a second try is
 * refused GATEWAY_ORDER_NOT_PAYABLE.
 */
export const payOrderRequest = object({
  v: oneOf(1),
  orderNumber: gatewayOrderNumber,
  code: optional(typedTransactionCode),
  pan: encipheredField,
  expiry: encipheredField,
  pinBlock: encipheredField,
  amountMinor: integer(1, 1_000_000_000_000),
  currency: string({ min: 3, max: 3, pattern: /^[A-Z]+$/, describe: 'an ISO 4217 code' }),
});
export const payOrderResponse = object({
  v: oneOf(1),
  outcome: oneOf('paid'),
  order: phoneOrder,
  reference: string({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/, describe: 'a payment reference' }),
  maskedPan,
});

export type PhoneBill = ReturnType<typeof phoneBill>;
export type PhoneOrder = ReturnType<typeof phoneOrder>;
export type PayOrderResponse = ReturnType<typeof payOrderResponse>;
export type BoundCard = ReturnType<typeof boundCard>;
export type PayResponse = ReturnType<typeof payResponse>;
export type PushMessage = ReturnType<typeof pushMessage>;
