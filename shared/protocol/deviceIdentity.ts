/**
 * Device identity (A8; docs/key-loading.md "Device identity"): the bytes a PIN pad signs with the
 * identity key it made in its vault, so MTMS can tell the device the factory enrolled from one that
 * only claims its serial. As ANSI X9.24-2 (TR-34) authenticates the key-receiving device by a
 * CA-issued credential and a signature over fresh data, MTMS hands out a single-use nonce and the
 * device signs it together with what it vouches for.
 *
 * Signed bytes: each field as [length]_16 || bytes (big-endian length), in this order:
 *   enrolment  DEVICE_ENROLMENT_CONTEXT || serial || nonce || device public key (65, SEC 1)
 *   TK intake  TK_INTAKE_CONTEXT        || serial || nonce || SHA-256(TK envelope)
 * The context label keeps a signature made for one purpose from passing for the other (an
 * enrolment proof is never a TK intake); the length prefixes keep one field from sliding into the
 * next. The signature is ECDSA P-256 / SHA-256 over these bytes (shared/crypto/ecdsa), r || s.
 * Runs in XS: no Node APIs.
 */
import { asciiToBytes } from '../bytes';
import { PaypadError } from '../errors';
import { sha256 } from '../crypto/primitives';
import { serial as serialField } from './fields';

export const DEVICE_ENROLMENT_CONTEXT = 'paypad-device-enrol-1';
export const TK_INTAKE_CONTEXT = 'paypad-tk-intake-1';
/** 256 bits from MTMS's CSPRNG: never repeats, never guessed. */
export const DEVICE_NONCE_BYTES = 32;
const P256_POINT_BYTES = 65;

function checkNonce(nonce: Uint8Array): void {
  if (!(nonce instanceof Uint8Array) || nonce.length !== DEVICE_NONCE_BYTES) {
    throw new PaypadError('BAD_LENGTH', `device challenge nonce: expected ${DEVICE_NONCE_BYTES} bytes`);
  }
}

/** The fields, each preceded by its length as 2 bytes big-endian. */
function lengthPrefixed(fields: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const f of fields) total += 2 + f.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const f of fields) {
    out[at] = f.length >> 8;
    out[at + 1] = f.length & 0xff;
    out.set(f, at + 2);
    at += 2 + f.length;
  }
  return out;
}

/** What the device signs to prove it holds the private key of `publicKey` when it is enrolled. */
export function enrolmentSignedBytes(serial: string, nonce: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkNonce(nonce);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== P256_POINT_BYTES) {
    throw new PaypadError('BAD_LENGTH', `device public key: expected ${P256_POINT_BYTES} bytes`);
  }
  return lengthPrefixed([asciiToBytes(DEVICE_ENROLMENT_CONTEXT), asciiToBytes(serialField(serial, 'serial')), nonce, publicKey]);
}

/** What the device signs to vouch for the TK envelope it made for MTMS (A5, A8, A10). */
export function tkIntakeSignedBytes(serial: string, nonce: Uint8Array, envelope: Uint8Array): Uint8Array {
  checkNonce(nonce);
  if (!(envelope instanceof Uint8Array) || envelope.length === 0) throw new PaypadError('BAD_ARGUMENT', 'TK envelope: expected bytes');
  return lengthPrefixed([asciiToBytes(TK_INTAKE_CONTEXT), asciiToBytes(serialField(serial, 'serial')), nonce, sha256(envelope)]);
}
