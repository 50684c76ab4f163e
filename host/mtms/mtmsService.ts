/**
 * MTMS, the factory's traceability system (docs/key-loading.md; SPEC A3-A7, A9, A14): it tells an
 * operator whose terminal is in hand, takes the terminal's TK envelope, and queues it for the
 * customer's KMS.
 *
 * Decisions:
 * - A14: an operator learns a customer name only together with a serial that exists: lookup
 *   answers the serial's own customer, customerNameFor answers the named customer only for an
 *   existing serial. Nothing lists customers or serials. Both lookups draw on the operator
 *   certificate's token bucket (lookupLimits.ts: a miss costs more than a hit) and every one is
 *   audited with the certificate, so probing serials or codes stops soon and leaves a trail.
 * - A5/A10: MTMS's HSM opens each uploaded envelope once, to prove it is for MTMS's intake key and
 *   this serial (a wrong one is refused now, not discovered at delivery) and to record the TK's
 *   check value; the TK itself stays inside the HSM and only the envelope is stored (X1).
 * - A8: a TK is taken only from the device enrolled under its serial (deviceCertificates.ts,
 *   deviceEnrolment.ts): its certificate, its signature over the envelope and a fresh MTMS nonce,
 *   then the nonce used once. These come before anything about the serial is looked up, so an
 *   upload that does not authenticate learns nothing (not even whether the serial exists), and
 *   every refusal is audited (mtms.tk.refused) and changes nothing else.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { fromHex, toHex } from '../../shared/bytes';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { tkIntakeSignedBytes } from '../../shared/protocol/deviceIdentity';
import { type CustomerInfo, type DeviceCertificateMessage, type DeviceChallengeMessage, MESSAGE_VERSION, type TkIntakeReceipt, type TkIntakeRequest, validateMessage } from '../../shared/protocol/messages';
// The envelope context is the terminal's (firmware/core/keyVault): one definition for every end.
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import { createAuditStore } from '../audit/auditStore';
import type { CertificateAuthority } from '../ca/authority';
import type { Schema } from '../db/schema';
import type { Hsm, KeyAttributes, KeyPair } from '../hsm/hsm';
import { createLookupBuckets, DEFAULT_LOOKUP_LIMITS, HIT_COST, LookupRateLimited, type LookupLimits } from './lookupLimits';
import { assertDeviceSignature, createDeviceCertificates, type DeviceCertificate } from './deviceCertificates';
import { createDeviceChallenges } from './deviceChallenges';
import { createDeviceEnrolment } from './deviceEnrolment';
import type { MtmsStore } from './mtmsStore';
import type { DeviceChallengePurpose, OperatorIdentity } from './mtmsTables';
import type { OrderTransferResult } from './orderTransfer';
import { publicKeyCheckValue } from '../../shared/protocol/publicKeyCheck';

/** How MTMS's HSM holds a TK for the moment it checks an envelope: never exportable, then dropped. */
const TK_CHECK_ATTRIBUTES: KeyAttributes = { usage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N' };

export interface MtmsIntakePublicKey {
  /** Uncompressed SEC 1 P-256 point (65 bytes): the terminal wraps TK for it (A10). */
  readonly publicKey: Uint8Array;
  /** Leftmost 5 bytes of SHA-256 of the public key, hex, as a KMS's intake key (host/hsm KeyHandle.kcv). */
  readonly kcv: string;
}

export interface MtmsService {
  intakePublicKey(): MtmsIntakePublicKey;
  /**
   * A3: the customer of a serial, charged to the operator's bucket and audited (A14).
   * @throws PaypadError MTMS_SERIAL_UNKNOWN (404), PROTOCOL_MALFORMED, LookupRateLimited (429).
   */
  lookup(serial: string, operator: OperatorIdentity): Promise<CustomerInfo>;
  /**
   * A6/A14: the name of `customerCode`, answered only for a serial that exists; charged and audited as lookup.
   * @throws PaypadError MTMS_SERIAL_UNKNOWN, MTMS_CUSTOMER_UNKNOWN (both 404), PROTOCOL_MALFORMED, LookupRateLimited (429).
   */
  customerNameFor(serial: string, customerCode: string, operator: OperatorIdentity): Promise<CustomerInfo>;
  /**
   * A8: a single-use nonce for the device with `serial` to sign, for this operator's station only:
   * for a TK intake ('tk') or its enrolment ('enrol'). Answered for any well-formed serial; an
   * enrolment challenge is charged and audited as a lookup (A14).
   * @throws PaypadError PROTOCOL_MALFORMED, LookupRateLimited (429, enrolment only).
   */
  deviceChallenge(serial: string, purpose: DeviceChallengePurpose, operator: OperatorIdentity): Promise<DeviceChallengeMessage>;
  /**
   * A5/A6/A7/A8: takes a tkIntakeRequest (validated here), authenticates the device that signed
   * it, re-associates the serial when it names another customer (audited), stores the intake and
   * queues its delivery in one transaction.
   * @throws PaypadError PROTOCOL_MALFORMED, DEVICE_CERT_INVALID, DEVICE_CERT_REVOKED,
   * DEVICE_SIGNATURE_INVALID, MTMS_CHALLENGE_INVALID, MTMS_SERIAL_UNKNOWN, MTMS_CUSTOMER_UNKNOWN,
   * MTMS_REPAIR_NOT_AUTHORISED, KEY_UNWRAP_FAILED / KEY_ENVELOPE_UNSUPPORTED (not an envelope for
   * MTMS and this serial).
   */
  intakeTk(request: unknown, operator: OperatorIdentity): Promise<TkIntakeReceipt>;
  /** A8: see deviceEnrolment.ts. */
  enrolDevice(request: unknown, operator: OperatorIdentity): Promise<DeviceCertificateMessage>;
  /** A9: see orderTransfer.ts. */
  transferOrder(orderId: number, actor: string): Promise<OrderTransferResult>;
}

export interface MtmsServiceOptions {
  readonly db: Kysely<Schema>;
  readonly hsm: Hsm;
  readonly store: MtmsStore;
  /** Certifies enrolled devices, and its register says whether a device certificate is revoked (A8). */
  readonly ca: CertificateAuthority;
  /** From loadMtmsIntakeKey. */
  readonly intakeKey: KeyPair;
  /** Called after a delivery was queued and committed: wakes the outbox worker. */
  readonly onQueued?: () => void;
  /** Operators' lookup buckets (default DEFAULT_LOOKUP_LIMITS). */
  readonly lookupLimits?: LookupLimits;
  readonly clock?: () => Date;
}

export function createMtmsService(options: MtmsServiceOptions): MtmsService {
  const { hsm, store, intakeKey: intake } = options;
  const clock = options.clock ?? (() => new Date());
  const onQueued = options.onQueued ?? (() => {});
  const intakeKcv = publicKeyCheckValue(intake.publicKey);
  const audit = createAuditStore(options.db, clock);
  const lookupLimits = options.lookupLimits ?? DEFAULT_LOOKUP_LIMITS;
  const buckets = createLookupBuckets(options.db, lookupLimits, clock);
  const challenges = createDeviceChallenges(options.db, clock);
  const deviceCertificates = createDeviceCertificates(options.ca.caCertificatePem, options.ca);
  const enrolDevice = createDeviceEnrolment({ db: options.db, ca: options.ca, challenges, store, clock });

  /** A8: the device enrolled under the serial vouches for this envelope, over a nonce used here once. */
  const authenticateDevice = async (request: TkIntakeRequest, envelope: Uint8Array, operator: OperatorIdentity): Promise<DeviceCertificate> => {
    const { deviceCertificate, deviceSignature, nonce } = request;
    if (deviceCertificate === undefined || deviceSignature === undefined || nonce === undefined) {
      throw new PaypadError('DEVICE_CERT_INVALID', `the upload for serial ${request.serial} carries no device certificate, signature and nonce: the PIN pad must be enrolled and sign MTMS's TK challenge`);
    }
    const device = await deviceCertificates.check(fromHex(deviceCertificate, 'deviceCertificate'), request.serial, clock());
    const challenge = fromHex(nonce, 'nonce');
    assertDeviceSignature(device.publicKey, tkIntakeSignedBytes(request.serial, challenge, envelope), fromHex(deviceSignature, 'deviceSignature'), request.serial);
    await challenges.consume(request.serial, 'tk', challenge, operator);
    return device;
  };

  /**
   * A14: charges the operator's bucket for a request that asked about `serial` (a hit or a miss)
   * and audits it as `action`. An empty bucket refuses whatever was found (only the first refusal
   * of a run is audited, the next answered request counts the rest).
   */
  const charge = async (operator: OperatorIdentity, action: string, serial: string, detail: Record<string, string>, found: boolean): Promise<void> => {
    const decision = await buckets.take(operator.certSerial, found ? HIT_COST : lookupLimits.missCost);
    const entry = { actor: `operator:${operator.name}`, subject: `terminal:${serial}` };
    if (!decision.allowed) {
      if (decision.firstRefusal) {
        await audit.append({ ...entry, action: 'mtms.lookup.limited', detail: { ...detail, lookup: action, operatorCertSerial: operator.certSerial, retryAfterS: decision.retryAfterS } });
      }
      throw new LookupRateLimited(decision.retryAfterS);
    }
    await audit.append({
      ...entry,
      action,
      detail: {
        ...detail,
        found,
        operatorCertSerial: operator.certSerial,
        bucketLeft: Math.floor(decision.tokensLeft),
        ...(decision.refusedBefore > 0 ? { refusedBefore: decision.refusedBefore } : {}),
      },
    });
  };

  /** A14: answers a lookup, then charges it by what it found; a miss is thrown (404) after it was charged. */
  const charged = async <T>(operator: OperatorIdentity, action: string, serial: string, detail: Record<string, string>, answer: () => Promise<T>): Promise<T> => {
    let found: { value: T } | undefined;
    let miss: PaypadError | undefined;
    try {
      found = { value: await answer() };
    } catch (e) {
      if (!isPaypadError(e, 'MTMS_SERIAL_UNKNOWN') && !isPaypadError(e, 'MTMS_CUSTOMER_UNKNOWN')) throw e;
      miss = e;
    }
    await charge(operator, action, serial, detail, found !== undefined);
    if (found === undefined) throw miss as PaypadError;
    return found.value;
  };

  const serialRecord = async (serial: string) => {
    const record = await store.serial(serial);
    if (record === undefined) throw new PaypadError('MTMS_SERIAL_UNKNOWN', `serial ${serial} is not in the MTMS serial table`);
    return record;
  };

  return {
    intakePublicKey: () => ({ publicKey: intake.publicKey.slice(), kcv: intakeKcv }),

    async lookup(serial, operator) {
      const request = validateMessage('lookupRequest', { v: MESSAGE_VERSION, serial });
      return charged(operator, 'mtms.serial.looked-up', request.serial, {}, async () => {
        const record = await serialRecord(request.serial);
        return { v: MESSAGE_VERSION, serial: record.serial, customerCode: record.customerCode, customerName: record.customerName };
      });
    },

    async customerNameFor(serial, customerCode, operator) {
      const request = validateMessage('customerNameRequest', { v: MESSAGE_VERSION, serial, customerCode });
      return charged(operator, 'mtms.customer-name.asked', request.serial, { customerCode: request.customerCode }, async () => {
        await serialRecord(request.serial);
        const customer = await store.customer(request.customerCode);
        if (customer === undefined) throw new PaypadError('MTMS_CUSTOMER_UNKNOWN', `there is no customer ${request.customerCode}`);
        return { v: MESSAGE_VERSION, serial: request.serial, customerCode: customer.code, customerName: customer.name };
      });
    },

    async deviceChallenge(serial, purpose, operator) {
      const request = validateMessage('deviceChallengeRequest', { v: MESSAGE_VERSION, serial });
      // An enrolment tells whether MTMS knows the serial (MTMS_SERIAL_UNKNOWN), and each needs a
      // challenge: the challenge is charged as a lookup, so enrolment is no faster way to map the
      // serial table than lookups are. It is still answered for any serial (the answer tells nothing).
      // A TK challenge follows a lookup that was charged already, and its intake needs the device.
      if (purpose === 'enrol') await charge(operator, 'mtms.device.challenged', request.serial, {}, (await store.serial(request.serial)) !== undefined);
      const challenge = await challenges.issue(request.serial, purpose, operator);
      return validateMessage('deviceChallenge', { v: MESSAGE_VERSION, serial: challenge.serial, nonce: toHex(challenge.nonce), expiresAt: challenge.expiresAt.toISOString() });
    },

    enrolDevice,

    async intakeTk(input, operator) {
      const request = validateMessage('tkIntakeRequest', input);
      const envelope = fromHex(request.tkEnvelope, 'tkEnvelope');
      let device: DeviceCertificate;
      try {
        device = await authenticateDevice(request, envelope, operator);
      } catch (e) {
        if (isPaypadError(e)) {
          await audit.append({
            actor: `operator:${operator.name}`,
            action: 'mtms.tk.refused',
            subject: `terminal:${request.serial}`,
            detail: { reason: e.code, operatorCertSerial: operator.certSerial },
          });
        }
        throw e;
      }
      const current = await serialRecord(request.serial);
      const tk = await hsm.importTransportedKey(intake.handle, envelope, tkTransportContext(request.serial), TK_CHECK_ATTRIBUTES);
      const customerCode = request.customerCode ?? current.customerCode;
      let result;
      try {
        result = await store.recordIntake({ serial: request.serial, customerCode, envelope, tkKcv: tk.kcv, deliveryId: newDeliveryId(), operator, at: clock() });
      } catch (e) {
        // The refused takeover or replay leaves a trace of who tried (the intake itself rolled back).
        if (isPaypadError(e, 'MTMS_REPAIR_NOT_AUTHORISED')) {
          await audit.append({
            actor: `operator:${operator.name}`,
            action: 'mtms.tk.refused',
            subject: `terminal:${request.serial}`,
            detail: { reason: e.code, customerCode, tkKcv: tk.kcv, operatorCertSerial: operator.certSerial, deviceCertSerial: device.certSerial },
          });
        }
        throw e;
      }
      if (result.created) onQueued();
      return validateMessage('tkIntakeReceipt', { v: MESSAGE_VERSION, serial: result.intake.serial, customerCode: result.intake.customerCode, deliveryId: result.intake.deliveryId });
    },

    async transferOrder(orderId, actor) {
      const result = await store.transferOrder(orderId, actor);
      if (result.sent > 0) onQueued();
      return result;
    },
  };
}

/** 128 random bits: unique across hosts without coordination; the KMS applies each id once (A7). */
function newDeliveryId(): string {
  return `tk-${randomBytes(16).toString('hex')}`;
}

/**
 * MTMS's intake key pair: made in its HSM on first start and kept in the store (the first host to
 * start wins). @throws PaypadError CONFIG_INVALID when the stored key does not open in `hsm`
 * (another LMK file).
 */
export async function loadMtmsIntakeKey(hsm: Hsm, store: MtmsStore, clock: () => Date = () => new Date()): Promise<KeyPair> {
  let intake = await store.intakeKey();
  if (intake === undefined) intake = await store.keepIntakeKey(await hsm.generateKeyPair('P-256'), clock());
  try {
    await hsm.keyCheckValue(intake.handle);
  } catch (e) {
    throw Object.assign(new PaypadError('CONFIG_INVALID', "MTMS's intake key does not open in this HSM: its master key file is not the one the key was made under"), { cause: e });
  }
  return intake;
}
