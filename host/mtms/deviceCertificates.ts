/**
 * How MTMS knows the PIN pad behind a request is the device enrolled under a serial (A8;
 * docs/key-loading.md "Device identity"): its certificate chains to the paypad CA, is within its
 * validity, is in the CA's register and not revoked, has role device and names that serial; and
 * its signature over the challenge bytes (shared/protocol/deviceIdentity) verifies under the
 * certificate's key. Verification is OpenSSL's (node:crypto); the device signs with its own
 * ECDSA (RFC 6979), so the two sides share no code but the signed bytes.
 */
import { createPublicKey, type KeyObject, verify, X509Certificate } from 'node:crypto';
import { PaypadError } from '../../shared/errors';
import type { RevocationSource } from '../tls/peer';
import { peerIdentityOf } from '../tls/peer';

export interface DeviceCertificate {
  /** The CA register's key for it: canonical uppercase hex. */
  readonly certSerial: string;
  readonly publicKey: KeyObject;
}

export interface DeviceCertificates {
  /** @throws PaypadError DEVICE_CERT_INVALID, DEVICE_CERT_REVOKED. */
  check(der: Uint8Array, serial: string, at: Date): Promise<DeviceCertificate>;
}

/** `caPem`: the paypad CA certificate; `revocation`: its register. */
export function createDeviceCertificates(caPem: string, revocation: RevocationSource): DeviceCertificates {
  const ca = new X509Certificate(caPem);
  return {
    async check(der, serial, at) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(der);
      } catch {
        throw invalid('the device certificate is not a DER X.509 certificate');
      }
      if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw invalid('the device certificate was not issued by the paypad CA');
      if (at < new Date(cert.validFrom) || at > new Date(cert.validTo)) throw invalid(`the device certificate is not valid at ${at.toISOString()}`);
      let subject;
      try {
        subject = peerIdentityOf(new Uint8Array(cert.raw));
      } catch (e) {
        throw invalid(`the device certificate's subject is not one the paypad CA issues: ${(e as Error).message}`);
      }
      if (subject.role !== 'device') throw invalid(`the certificate is for role ${subject.role}, not a device`);
      if (subject.name !== serial) throw invalid(`the device certificate is for serial ${subject.name}, not ${serial}`);
      const status = await revocation.revocationStatus(subject.serial);
      if (status === 'revoked') throw new PaypadError('DEVICE_CERT_REVOKED', `the device certificate ${subject.serial} of serial ${serial} has been revoked`);
      if (status !== 'good') throw invalid(`the device certificate ${subject.serial} is not in the CA's register`);
      return { certSerial: subject.serial, publicKey: cert.publicKey };
    },
  };
}

/** The uncompressed P-256 point as a key; PUBLIC_KEY_INVALID when it is not on the curve. */
export function p256PublicKeyObject(point: Uint8Array): KeyObject {
  try {
    if (point.length !== 65 || point[0] !== 0x04) throw new Error('not uncompressed');
    const x = Buffer.from(point.subarray(1, 33)).toString('base64url');
    const y = Buffer.from(point.subarray(33)).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
  } catch {
    throw new PaypadError('PUBLIC_KEY_INVALID', 'the device public key is not an uncompressed P-256 point on the curve');
  }
}

/** DEVICE_SIGNATURE_INVALID unless `signature` (r || s) is the device's ECDSA P-256 / SHA-256 signature of `message`. */
export function assertDeviceSignature(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array, serial: string): void {
  let ok = false;
  try {
    ok = signature.length === 64 && verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new PaypadError('DEVICE_SIGNATURE_INVALID', `the device signature for serial ${serial} does not verify over MTMS's challenge and what it vouches for`);
}

function invalid(message: string): PaypadError {
  return new PaypadError('DEVICE_CERT_INVALID', message);
}
