/**
 * The production line's last step of manufacture (A8; docs/key-loading.md "Device identity"):
 * enrolling the PIN pad on the link, so that MTMS will later take a TK only from it.
 *
 *   1. read the serial from the terminal
 *   2. ask MTMS for an enrolment challenge for that serial
 *   3. the terminal makes its identity key (on the first ask; never again) and answers the
 *      public key signed over the nonce
 *   4. MTMS checks the signature and has the CA certify the key (role device, CN = serial)
 *   5. the terminal keeps the certificate
 * The station relays; it holds no key of the device and cannot make the signature. The terminal
 * must answer the same serial throughout, as in onboarding.ts.
 */
import { X509Certificate } from 'node:crypto';
import { fromHex, toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import type { EnrolmentLink } from './linkClient';
import type { EnrolmentPort } from './mtmsClient';
import { publicKeyCheckValue } from '../../shared/protocol/publicKeyCheck';

export interface EnrolmentResult {
  readonly serial: string;
  /** The device certificate's serial in the CA's register (revoke it by this). */
  readonly deviceCertSerial: string;
  /** Leftmost 5 bytes of SHA-256 of the identity public key, hex: to compare by eye. */
  readonly publicKeyCheck: string;
}

export async function enrolTerminal(link: EnrolmentLink, mtms: EnrolmentPort): Promise<EnrolmentResult> {
  const serial = await link.readSerial();
  const challenge = await mtms.deviceChallenge(serial);
  const identity = await link.readIdentity(challenge.nonce);
  if (identity.serial !== serial) throw swapped(serial, identity.serial);
  const { certificate } = await mtms.enrolDevice({ serial, publicKey: identity.publicKey, nonce: challenge.nonce, signature: identity.signature });
  const certified = await link.certify(certificate);
  if (certified !== serial) throw swapped(serial, certified);
  return {
    serial,
    deviceCertSerial: new X509Certificate(fromHex(certificate, 'certificate')).serialNumber.toUpperCase(),
    publicKeyCheck: publicKeyCheckValue(fromHex(identity.publicKey, 'publicKey')),
  };
}

function swapped(expected: string, got: string): PaypadError {
  return new PaypadError('PROTOCOL_MALFORMED', `the terminal on the link answered serial ${got}, but this enrolment is for ${expected}: was the device changed?`);
}
