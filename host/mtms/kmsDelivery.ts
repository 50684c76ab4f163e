/**
 * The outbox handler of topic kms.tk (A7, A8, A10): forwards one TK intake to its customer's KMS.
 *
 *   1. GET  <kms_url>/kms/v1/intake-key over mutual TLS; the peer must present a certificate of
 *      role kms for THIS customer (mtlsRequest checks it in the handshake) that the CA's register
 *      holds and has not revoked (checked before the request is written), and the key it sends
 *      must be labelled with this customer too. The key must be the one MTMS pinned for this
 *      customer at its first delivery (kmsKeyPins.ts): another one stops the delivery with
 *      MTMS_KMS_KEY_CHANGED, retried until an administrator accepts the change.
 *   2. MTMS's HSM translates the terminal's envelope into one for the pinned key, context
 *      `paypad-tk|<serial>` in and out: the TK is in clear only inside the HSM.
 *   3. POST <kms_url>/kms/v1/tk, kmsTkDelivery with the outbox key as delivery id and the intake
 *      id as intake sequence; 'applied', 'duplicate' and 'superseded' all end the delivery (the
 *      KMS applies each id once, and a TK only over one of an older intake).
 *
 * A delivery whose serial has since moved to another customer (A6), or whose intake is no longer
 * the serial's newest (a repair uploaded a new TK, A13), is discarded, not sent: the outbox
 * retries with backoff, so an old intake's retry could otherwise land after the newer TK. The
 * check here saves the send; the KMS's sequence check decides when the newer intake arrives while
 * this one is on its way. Errors a retry cannot cure (the KMS refuses the delivery as such) make
 * the row dead at once; everything else (KMS down, 5xx, timeouts, certificate trouble an
 * administrator can fix) is retried.
 */
import { fromHex, toHex } from '../../shared/bytes';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { customerCode as customerCodeField } from '../../shared/protocol/fields';
import { MESSAGE_VERSION, validateMessage } from '../../shared/protocol/messages';
import { hex, object, version } from '../../shared/protocol/validate';
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import { KMS_API_PREFIX } from '../../shared/protocol/kmsPaths';
import { type DeliveryOutcome, type OutboxDelivery, type OutboxHandler, permanentFailure } from '../outbox/outboxWorker';
import type { TlsIdentity } from '../tls/identity';
import type { RevocationSource } from '../tls/peer';
import { type MtlsResponse, mtlsRequest } from '../tls/mtlsRequest';
import type { KmsKeyPins } from './kmsKeyPins';
import type { MtmsStore } from './mtmsStore';
import { type Customer, readKmsTkPayload } from './mtmsTables';
import { publicKeyCheckValue } from '../../shared/protocol/publicKeyCheck';

/** The body of GET /kms/v1/intake-key (host/kms/router.ts KmsIntakeKey), checked field by field. */
const kmsIntakeKey = object({ v: version(MESSAGE_VERSION), customerCode: customerCodeField, publicKey: hex(65, 65), kcv: hex(5, 5) });

/** Codes with which a KMS refuses the delivery itself: sending it again cannot succeed. */
const PERMANENT_KMS_CODES = new Set(['DELIVERY_CONFLICT', 'KMS_CUSTOMER_MISMATCH', 'PROTOCOL_MALFORMED', 'PROTOCOL_UNSUPPORTED_VERSION', 'BAD_JSON']);

export interface KmsTkHandlerOptions {
  readonly store: MtmsStore;
  readonly hsm: Hsm;
  /** MTMS's intake private key (the terminal's envelopes are for it). */
  readonly intakeKey: KeyHandle;
  /** MTMS's client certificate (role mtms) and the paypad CA. */
  readonly identity: TlsIdentity;
  /** The CA's register: a KMS certificate it does not hold as good gets no request (A8). */
  readonly revocation: RevocationSource;
  /** The intake key pinned per customer. */
  readonly kmsKeys: KmsKeyPins;
  /** Per request; two requests per attempt, so the outbox lease must exceed twice this. */
  readonly timeoutMs?: number;
  /**
   * Where the customer's KMS answers now; default its recorded URL (A7). The host passes the
   * bound URL of a KMS it runs itself, whose port may be ephemeral (host/kmsFleet.ts). The peer
   * check (role kms, this customer) applies whatever the URL.
   */
  readonly kmsUrlOf?: (customer: Customer) => string;
}

export function createKmsTkHandler(options: KmsTkHandlerOptions): OutboxHandler {
  const { store, hsm } = options;

  return async (delivery: OutboxDelivery): Promise<DeliveryOutcome> => {
    const payload = permanentOnError(() => readKmsTkPayload(delivery.payload));
    const intake = await store.intake(payload.intakeId);
    if (intake === undefined || intake.deliveryId !== delivery.idempotencyKey || intake.serial !== payload.serial) {
      throw permanentFailure(new PaypadError('INTERNAL', `outbox row ${delivery.id} names intake ${payload.intakeId}, which does not match it`));
    }
    const current = await store.serial(intake.serial);
    if (current === undefined || current.customerCode !== intake.customerCode) {
      return { outcome: 'discarded', reason: `serial ${intake.serial} now belongs to customer ${current?.customerCode ?? '(none)'}, not ${intake.customerCode}` };
    }
    const newest = await store.latestIntake(intake.serial);
    if (newest !== undefined && newest.id !== intake.id) {
      return { outcome: 'discarded', reason: `intake ${intake.id} of serial ${intake.serial} was superseded by intake ${newest.id} (a newer TK, sent as delivery ${newest.deliveryId})` };
    }
    const customer = await store.customer(intake.customerCode);
    if (customer === undefined) throw permanentFailure(new PaypadError('MTMS_CUSTOMER_UNKNOWN', `there is no customer ${intake.customerCode}`));

    const kmsUrl = options.kmsUrlOf?.(customer) ?? customer.kmsUrl;
    const call = (path: string, body?: unknown) =>
      mtlsRequest({
        url: `${kmsUrl}${KMS_API_PREFIX}${path}`,
        identity: options.identity,
        expectPeer: { role: 'kms', customerCode: customer.code },
        revocation: options.revocation,
        ...(body === undefined ? {} : { body }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      });

    const keyAnswer = await call('/intake-key');
    if (keyAnswer.status !== 200) throw refused(keyAnswer, customer.code, 'intake key');
    const kmsKey = await options.kmsKeys.pinnedKmsKey(customer.code, { ...readKmsIntakeKey(keyAnswer.json, customer.code), certSerial: keyAnswer.peer.serial });

    const context = tkTransportContext(intake.serial);
    let envelope: Uint8Array;
    try {
      envelope = await hsm.translateTransportedKey(options.intakeKey, fromHex(intake.envelope, 'stored envelope'), context, kmsKey, context);
    } catch (e) {
      // The envelope opened when it was received: now it does not, so MTMS's key or LMK changed.
      if (isPaypadError(e) && e.code !== 'HSM_UNAVAILABLE') throw permanentFailure(e);
      throw e;
    }

    const answer = await call(
      '/tk',
      validateMessage('kmsTkDelivery', { v: MESSAGE_VERSION, deliveryId: intake.deliveryId, serial: intake.serial, envelope: toHex(envelope), customerCode: customer.code, intakeSequence: intake.id }),
    );
    if (answer.status !== 200) throw refused(answer, customer.code, 'delivery');
    // A garbled acknowledgement is retried: the KMS answers a resend of an applied id 'duplicate'.
    const ack = validateMessage('kmsTkDeliveryAck', answer.json);
    if (ack.deliveryId !== intake.deliveryId) {
      throw new PaypadError('MTMS_DELIVERY_FAILED', `the KMS of ${customer.code} acknowledged delivery ${ack.deliveryId}, not ${intake.deliveryId}`);
    }
    // 'superseded': the KMS holds a newer intake's TK and keeps it. The KMS has the message and
    // answered for good, so the delivery is over (sending it again gets the same answer).
    return { outcome: 'delivered' };
  };
}

/** The KMS's intake public key and its check value, if the body is well formed and labelled with the customer we called. */
function readKmsIntakeKey(json: unknown, customerCode: string): { publicKey: Uint8Array; kcv: string } {
  let body;
  try {
    body = kmsIntakeKey(json, 'kmsIntakeKey');
  } catch (e) {
    throw new PaypadError('MTMS_DELIVERY_FAILED', `the KMS of ${customerCode} sent a malformed intake key: ${(e as Error).message}`);
  }
  if (body.customerCode !== customerCode) throw new PaypadError('MTMS_DELIVERY_FAILED', `the KMS of ${customerCode} sent the intake key of customer ${body.customerCode}`);
  const publicKey = fromHex(body.publicKey, 'KMS intake public key');
  if (publicKeyCheckValue(publicKey) !== body.kcv) throw new PaypadError('MTMS_DELIVERY_FAILED', `the intake key of the KMS of ${customerCode} does not match its check value`);
  return { publicKey, kcv: body.kcv };
}

/** A KMS's error answer as our error: permanent when the KMS refuses the message itself (4xx with such a code). */
function refused(response: MtlsResponse, customerCode: string, what: string): PaypadError {
  let code = 'unknown';
  let message = 'no error body';
  try {
    const body = validateMessage('errorBody', response.json);
    code = body.error.code;
    message = body.error.message;
  } catch {
    // Not a paypad error body (a proxy's page): the status is all there is.
  }
  const error = new PaypadError('MTMS_DELIVERY_FAILED', `the KMS of ${customerCode} refused the ${what} with ${response.status} ${code}: ${message}`);
  return response.status >= 400 && response.status < 500 && PERMANENT_KMS_CODES.has(code) ? permanentFailure(error) : error;
}

function permanentOnError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw permanentFailure(isPaypadError(e) ? e : new PaypadError('INTERNAL', (e as Error).message));
  }
}
