/**
 * Device enrolment, the last step of manufacture (A8; docs/key-loading.md "Device identity"): the
 * production line's station reads the PIN pad's identity public key, signed over an MTMS nonce,
 * and MTMS has the CA certify it (role device, CN = serial) once it has checked:
 *   - the signature verifies under that key over the enrolment bytes (proof of possession,
 *     as a CSR's self-signature is for PKCS#10, RFC 2986 §4.2) -> DEVICE_SIGNATURE_INVALID;
 *   - the nonce was issued to this station for this serial, unused, unexpired -> MTMS_CHALLENGE_INVALID;
 *   - the serial is in MTMS's serial table -> MTMS_SERIAL_UNKNOWN;
 *   - the serial has no device certificate in force -> MTMS_DEVICE_ENROLLED (409);
 *   - a serial already in the field (MTMS took a TK for it) has an open repair authorisation
 *     (repairAuthorisations.ts) -> MTMS_REPAIR_NOT_AUTHORISED (403).
 * The last two rules keep a device that claims a terminal's serial from being enrolled in its
 * place: a second device for a serial needs an administrator to revoke the first one's
 * certificate (`paypad ca revoke`), and a terminal that has keys (one onboarded before it had an
 * identity, or one whose certificate was revoked) is enrolled only while an administrator's repair
 * authorisation is open; both on purpose and audited. The authorisation is not used up here: the
 * TK intake that may follow uses it. Two enrolments racing for one serial both see the other's
 * certificate after issuing, and both revoke their own and refuse.
 * Every enrolment and every refusal is audited (mtms.device.enrolled, mtms.device.refused).
 */
import type { Kysely } from 'kysely';
import { fromHex, toHex } from '../../shared/bytes';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { enrolmentSignedBytes } from '../../shared/protocol/deviceIdentity';
import { type DeviceCertificateMessage, MESSAGE_VERSION, validateMessage } from '../../shared/protocol/messages';
import { createAuditStore } from '../audit/auditStore';
import type { CertificateAuthority } from '../ca/authority';
import { x509 } from '../ca/x509';
import type { Schema } from '../db/schema';
import type { DeviceChallenges } from './deviceChallenges';
import { assertDeviceSignature, p256PublicKeyObject } from './deviceCertificates';
import type { MtmsStore } from './mtmsStore';
import type { OperatorIdentity } from './mtmsTables';
import { publicKeyCheckValue } from '../../shared/protocol/publicKeyCheck';

export interface DeviceEnrolmentOptions {
  readonly db: Kysely<Schema>;
  readonly ca: CertificateAuthority;
  readonly challenges: DeviceChallenges;
  readonly store: Pick<MtmsStore, 'serial' | 'latestIntake' | 'repairAuthorisations'>;
  readonly clock: () => Date;
}

/** Takes a deviceEnrolmentRequest (validated here); answers the device certificate. */
export type EnrolDevice = (request: unknown, operator: OperatorIdentity) => Promise<DeviceCertificateMessage>;

export function createDeviceEnrolment(options: DeviceEnrolmentOptions): EnrolDevice {
  const { ca, challenges, clock, store } = options;
  const audit = createAuditStore(options.db, clock);

  const enrol = async (serial: string, publicKey: Uint8Array, nonce: Uint8Array, signature: Uint8Array, operator: OperatorIdentity) => {
    assertDeviceSignature(p256PublicKeyObject(publicKey), enrolmentSignedBytes(serial, nonce, publicKey), signature, serial);
    await challenges.consume(serial, 'enrol', nonce, operator);
    if ((await store.serial(serial)) === undefined) throw new PaypadError('MTMS_SERIAL_UNKNOWN', `serial ${serial} is not in the MTMS serial table`);
    const subject = { role: 'device' as const, name: serial };
    const inForce = () => ca.current(subject, clock());
    const enrolled = (certSerial: string) =>
      new PaypadError('MTMS_DEVICE_ENROLLED', `serial ${serial} already has a device certificate in force (${certSerial}); an administrator revokes it first (paypad ca revoke --serial ${certSerial})`);
    const existing = await inForce();
    if (existing.length > 0) throw enrolled(existing[0].serial);
    if ((await store.latestIntake(serial)) !== undefined) {
      const at = clock();
      const open = (await store.repairAuthorisations(serial)).some((a) => a.closedAt === undefined && a.expiresAt > at);
      if (!open) {
        throw new PaypadError(
          'MTMS_REPAIR_NOT_AUTHORISED',
          `terminal ${serial} already has a TK at its KMS; its device is enrolled only while an MTMS administrator's repair authorisation is open (paypad mtms repair authorize --serial ${serial})`,
        );
      }
    }
    const issued = await ca.issue({ subject, publicKey });
    const now = await inForce();
    if (now.length > 1) {
      await ca.revoke(issued.record.serial, 'superseded');
      throw enrolled(now.find((c) => c.serial !== issued.record.serial)!.serial);
    }
    return issued;
  };

  return async (input, operator) => {
    const request = validateMessage('deviceEnrolmentRequest', input);
    const publicKey = fromHex(request.publicKey, 'publicKey');
    const keyCheck = publicKeyCheckValue(publicKey);
    const entry = { actor: `operator:${operator.name}`, subject: `terminal:${request.serial}` };
    let issued;
    try {
      issued = await enrol(request.serial, publicKey, fromHex(request.nonce, 'nonce'), fromHex(request.signature, 'signature'), operator);
    } catch (e) {
      if (isPaypadError(e)) {
        await audit.append({ ...entry, action: 'mtms.device.refused', detail: { reason: e.code, publicKeyCheck: keyCheck, operatorCertSerial: operator.certSerial } });
      }
      throw e;
    }
    await audit.append({ ...entry, action: 'mtms.device.enrolled', detail: { deviceCertSerial: issued.record.serial, publicKeyCheck: keyCheck, operatorCertSerial: operator.certSerial } });
    const der = new Uint8Array(new x509.X509Certificate(issued.certPem).rawData);
    return validateMessage('deviceCertificate', { v: MESSAGE_VERSION, serial: request.serial, certificate: toHex(der) });
  };
}
