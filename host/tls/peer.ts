/**
 * Who is on the other end of a mutually authenticated TLS connection: the role, name and
 * customer code read from the subject of a certificate the paypad CA issued (docs/key-loading.md).
 * Both sides use it: servers for their clients (requireClientCert), clients for the server they
 * called (mtlsRequest).
 */
import type { PeerCertificate } from 'node:tls';
import { PaypadError } from '../../shared/errors';
import { normalizeSerial } from '../ca/certificates';
import type { RevocationStatus } from '../ca/certificateStore';
import { type CertRole, type CertSubject, certSubjectOf } from '../ca/roles';
import { x509 } from '../ca/x509';

export interface PeerIdentity extends CertSubject {
  /** Canonical uppercase hex, as the CA register keys it. */
  readonly serial: string;
  readonly notAfter: Date;
}

export type { RevocationStatus };

/**
 * Where revocation status comes from: the CA register (a CertificateStore or CertificateAuthority).
 * Servers ask it about their clients (requireClientCert), clients about the server they called
 * (mtlsRequest), and a server about its own certificate (servingCertificate).
 */
export interface RevocationSource {
  revocationStatus(serial: string): Promise<RevocationStatus>;
}

/** What a caller expects of the peer: its role and, for a KMS, the customer it serves. */
export interface ExpectedPeer {
  readonly roles: readonly CertRole[];
  readonly customerCode?: string;
}

/**
 * Reads the identity from a certificate's DER bytes.
 * @throws PaypadError CERT_SUBJECT_INVALID when the certificate does not name a paypad role.
 */
export function peerIdentityOf(der: Uint8Array): PeerIdentity {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch {
    throw new PaypadError('CERT_SUBJECT_INVALID', 'the peer certificate is not a DER X.509 certificate');
  }
  return { ...certSubjectOf(cert), serial: normalizeSerial(cert.serialNumber), notAfter: cert.notAfter };
}

/** A peer certificate from node:tls, or undefined when the peer sent none (Node gives `{}` then). */
export function presentedCertificate(cert: PeerCertificate | object | null | undefined): Uint8Array | undefined {
  const raw = (cert as Partial<PeerCertificate> | null | undefined)?.raw;
  return raw instanceof Uint8Array && raw.length > 0 ? raw : undefined;
}

/**
 * Why `peer` does not match `expected`, or undefined when it does. A customer code binds only
 * KMS peers: other roles serve every customer.
 */
export function peerMismatch(peer: PeerIdentity, expected: ExpectedPeer): string | undefined {
  if (!expected.roles.includes(peer.role)) return `the peer's certificate is for role ${peer.role}; this needs ${expected.roles.join(' or ')}`;
  if (expected.customerCode !== undefined && peer.role === 'kms' && peer.customerCode !== expected.customerCode) {
    return `the peer's certificate is for the KMS of customer ${peer.customerCode}, not ${expected.customerCode}`;
  }
  return undefined;
}
