/**
 * The JSON messages of key loading (docs/key-loading.md, SPEC A2-A12), each declared once and
 * validated by the same code on the host and in the firmware. Every body carries `v`, the message
 * version; a peer speaking another version gets PROTOCOL_UNSUPPORTED_VERSION.
 *
 *   operator -> MTMS   lookupRequest -> customerInfo                       (A2, A3)
 *                      customerNameRequest -> customerInfo                 (A6, A14: one serial, one name)
 *                      deviceChallengeRequest -> deviceChallenge           (A8: a nonce for the device)
 *                      tkIntakeRequest -> tkIntakeReceipt                  (A5, A6, A8, A10)
 *                      deviceEnrolmentRequest -> deviceCertificate         (A8, production line)
 *   MTMS -> KMS        kmsTkDelivery -> kmsTkDeliveryAck                   (A7, A9, A13)
 *   terminal -> KMS    tmkRequest -> tmkResponse     MAC'd under K_tkmac   (A11, X2)
 *                      signOnRequest -> signOnResponse  MAC'd under K_tkmac (A12, X2)
 *   any failure        errorBody {error: {code, message}}
 *
 * Bodies hold hex and key block text only; callers turn hex into bytes at this edge (fromHex).
 */
import { isPaypadError } from '../errors';
import {
  certificateHex,
  customerCode,
  customerName,
  deliveryId,
  deviceNonceHex,
  ERROR_MESSAGE_MAX,
  errorCode,
  errorMessage,
  kcvHex,
  keyEnvelopeHex,
  publicKeyHex,
  serial,
  signatureHex,
  tr31Block,
} from './fields';
import { type Infer, array, fail, integer, isControlOrSurrogate, object, oneOf, optional, string, version } from './validate';

export const MESSAGE_VERSION = 1;
const v = version(MESSAGE_VERSION);

/** MTMS's intake id (A7, A13): a positive safe integer, so JSON numbers carry it exactly on both ends. */
const intakeSequence = integer(1, Number.MAX_SAFE_INTEGER);

/** How a KMS answers a TK delivery (kmsTkDeliveryAck); every one ends MTMS's retries. */
export const KMS_TK_DELIVERY_OUTCOMES = Object.freeze(['applied', 'duplicate', 'superseded'] as const);

/** The working keys sign-on delivers under TMK (A12) and the TR-31 usage each must carry. */
export const WORKING_KEY_NAMES = Object.freeze(['PIK', 'MAK', 'TDK', 'DMK'] as const);
export type WorkingKeyName = (typeof WORKING_KEY_NAMES)[number];

/** ISO 8601 UTC with milliseconds, as Date.prototype.toISOString writes it. */
const isoTime = string({ min: 24, max: 24, pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, describe: 'an ISO 8601 UTC time' });

const workingKey = object({ name: oneOf(...WORKING_KEY_NAMES), block: tr31Block, kcv: kcvHex });
const signOnKeys = object({ v, keys: array(workingKey, WORKING_KEY_NAMES.length, WORKING_KEY_NAMES.length) });

/** Sign-on answers each working key exactly once: with four items, no repeat means none missing. */
function signOnResponse(value: unknown, path: string): Infer<typeof signOnKeys> {
  const message = signOnKeys(value, path);
  const seen: string[] = [];
  message.keys.forEach((key, i) => {
    if (seen.includes(key.name)) fail(`${path}.keys[${i}].name`, `${key.name} appears more than once`);
    seen.push(key.name);
  });
  return message;
}

export const messages = Object.freeze({
  /** Operator -> MTMS (A2/A3): who is this serial's customer? */
  lookupRequest: object({ v, serial }),
  /** Operator -> MTMS (A6): the name of this customer code, for this serial only (A14). */
  customerNameRequest: object({ v, serial, customerCode }),
  /** MTMS -> operator: the answer to both requests above (A3, A6). */
  customerInfo: object({ v, serial, customerCode, customerName }),
  /** Operator -> MTMS (A8): a nonce for the device with this serial to sign, for a TK intake or its enrolment. */
  deviceChallengeRequest: object({ v, serial }),
  /** MTMS -> operator: the nonce, single-use, for this station only, until `expiresAt`. */
  deviceChallenge: object({ v, serial, nonce: deviceNonceHex, expiresAt: isoTime }),
  /**
   * Operator -> MTMS (A5/A6/A8): the terminal's envelope, which the operator relays but cannot open
   * (A10). `confirmed` must be true: the operator confirmed the customer shown (A4). With
   * `customerCode` the serial is re-associated with that customer, audited (A6). The device vouches
   * for the envelope: `deviceSignature` over MTMS's `nonce` (shared/protocol/deviceIdentity) under
   * the key of `deviceCertificate` (DER). MTMS refuses an upload without them (DEVICE_CERT_INVALID),
   * so they are optional here only to give that answer rather than a schema error.
   */
  tkIntakeRequest: object({
    v,
    serial,
    tkEnvelope: keyEnvelopeHex,
    customerCode: optional(customerCode),
    confirmed: oneOf(true),
    nonce: optional(deviceNonceHex),
    deviceSignature: optional(signatureHex),
    deviceCertificate: optional(certificateHex),
  }),
  /** Operator -> MTMS (A8, production line): the device's identity key, signed over MTMS's enrolment nonce. */
  deviceEnrolmentRequest: object({ v, serial, publicKey: publicKeyHex, nonce: deviceNonceHex, signature: signatureHex }),
  /** MTMS -> operator: the device certificate the CA issued (DER), for the device to keep. */
  deviceCertificate: object({ v, serial, certificate: certificateHex }),
  /** MTMS -> operator: accepted and queued for the customer's KMS under this delivery id (A7). */
  tkIntakeReceipt: object({ v, serial, customerCode, deliveryId }),
  /**
   * MTMS -> KMS (A7, A9, A13): the TK as an envelope for the KMS's intake key; applied once per id.
   * `intakeSequence` is MTMS's intake id, strictly increasing for every intake: the KMS installs a
   * TK only over one of an older intake, so an old delivery retried after a repair's newer one
   * cannot bring the replaced TK back.
   */
  kmsTkDelivery: object({ v, deliveryId, serial, envelope: keyEnvelopeHex, customerCode, intakeSequence }),
  /**
   * KMS -> MTMS: 'applied' now, 'duplicate' when this id was applied before, 'superseded' when the
   * KMS holds the TK of a newer intake for the serial (nothing changed). All three end the retries.
   */
  kmsTkDeliveryAck: object({ v, deliveryId, outcome: oneOf(...KMS_TK_DELIVERY_OUTCOMES) }),
  /** Terminal -> KMS (A11): the serial, sequence and key id travel in the MAC'd envelope headers. */
  tmkRequest: object({ v }),
  /** KMS -> terminal: TMK as a TR-31 block under TK, and its CMAC KCV to check after unwrapping. */
  tmkResponse: object({ v, tmkBlock: tr31Block, kcv: kcvHex }),
  /** Terminal -> KMS (A12). */
  signOnRequest: object({ v }),
  /** KMS -> terminal: PIK, MAK, TDK and DMK, each a TR-31 block under TMK with its CMAC KCV. */
  signOnResponse,
  /** Any party's failure answer: a stable code and a message for people, never a stack trace. */
  errorBody: object({ error: object({ code: errorCode, message: errorMessage }) }),
} as const);

export type MessageName = keyof typeof messages;
export type Message<N extends MessageName> = Infer<(typeof messages)[N]>;

export type LookupRequest = Message<'lookupRequest'>;
export type CustomerNameRequest = Message<'customerNameRequest'>;
export type CustomerInfo = Message<'customerInfo'>;
export type DeviceChallengeMessage = Message<'deviceChallenge'>;
export type TkIntakeRequest = Message<'tkIntakeRequest'>;
export type DeviceEnrolmentRequest = Message<'deviceEnrolmentRequest'>;
export type DeviceCertificateMessage = Message<'deviceCertificate'>;
export type TkIntakeReceipt = Message<'tkIntakeReceipt'>;
export type KmsTkDelivery = Message<'kmsTkDelivery'>;
export type KmsTkDeliveryAck = Message<'kmsTkDeliveryAck'>;
export type TmkRequest = Message<'tmkRequest'>;
export type TmkResponse = Message<'tmkResponse'>;
export type SignOnRequest = Message<'signOnRequest'>;
export type SignOnResponse = Message<'signOnResponse'>;
export type ErrorBody = Message<'errorBody'>;

/**
 * Validates parsed JSON as the named message: the typed value, or PaypadError PROTOCOL_MALFORMED
 * (or PROTOCOL_UNSUPPORTED_VERSION) naming the field path, e.g. "signOnResponse.keys[1].kcv".
 */
export function validateMessage<N extends MessageName>(name: N, value: unknown): Message<N> {
  return messages[name](value, name) as Message<N>;
}

/**
 * The error body for a failure. A PaypadError keeps its code and message (messages never hold
 * secrets, X1); anything else becomes INTERNAL with a fixed message, so no stack or internal
 * detail reaches a peer. Control characters are replaced and the message is cut to the limit the
 * receiver enforces, so the body always validates.
 */
export function toErrorBody(e: unknown): ErrorBody {
  if (!isPaypadError(e)) return { error: { code: 'INTERNAL', message: 'internal error' } };
  let message = '';
  let length = 0;
  for (const ch of e.message) {
    if (length === ERROR_MESSAGE_MAX) break;
    message += isControlOrSurrogate(ch.codePointAt(0) as number) ? ' ' : ch;
    length++;
  }
  return { error: { code: e.code, message: message || e.code } };
}
