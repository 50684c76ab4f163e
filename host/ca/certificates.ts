/**
 * Building the CA's signed objects: the self-signed CA certificate, role certificates and CRLs,
 * all ECDSA P-256 / SHA-256 (docs/key-loading.md). Profiles follow RFC 5280; this module only
 * signs, the authority (authority.ts) decides what to sign and records it.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { assertCertSubject, type CertSubject, extendedKeyUsages, servesTls, subjectName } from './roles';
import { EC_SIGNING_ALGORITHM, x509, type CryptoKey, type CryptoKeyPair } from './x509';

export const CA_VALIDITY_YEARS = 10;
export const LEAF_VALIDITY_DAYS = 365;
/** Leaf certificates start a little in the past so a peer whose clock lags is not refused. */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Names a server certificate answers for when the caller gives none: the loopback host. */
export const DEFAULT_SERVER_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];

export interface CaKeys {
  readonly certificate: x509.X509Certificate;
  readonly privateKey: CryptoKey;
}

/**
 * 16 random bytes as a positive INTEGER (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B
 * Baseline Requirements §7.1: at least 64 bits from a CSPRNG). The top bit is cleared so DER
 * needs no sign octet and the first octet is non-zero, so the hex form is always 32 digits,
 * the same as normalizeSerial gives for it.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return toHex(bytes);
}

/**
 * The canonical form of a serial: uppercase hex without leading zero octets (Node prints serials
 * that way; @peculiar/x509 keeps a DER sign octet).
 * @throws PaypadError BAD_ARGUMENT when `hex` is not 1-20 octets of hex.
 */
export function normalizeSerial(hex: string): string {
  if (typeof hex !== 'string' || !/^(?:[0-9A-Fa-f]{2}){1,21}$/.test(hex)) {
    throw new PaypadError('BAD_ARGUMENT', 'certificate serial must be an even number of hex digits, at most 20 octets');
  }
  const stripped = hex.toUpperCase().replace(/^(?:00)+(?=..)/, '');
  if (stripped.length > 40) throw new PaypadError('BAD_ARGUMENT', 'certificate serial must be at most 20 octets');
  return stripped;
}

/** A self-signed CA certificate: basicConstraints CA with pathLen 0 (no sub-CAs), keyCertSign and cRLSign. */
export async function createCaCertificate(keys: CryptoKeyPair, commonName: string, now: Date): Promise<x509.X509Certificate> {
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    notBefore: now,
    notAfter,
    keys,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions: [
      // RFC 5280 §4.2.1.9 and §4.2.1.3: both critical in a CA certificate.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      // Its own key identifier as authority key identifier too (RFC 5280 §4.2.1.1 allows it in a
      // self-signed certificate). Moddable's TLS client (modules/crypt/ssl/ssl_cert.js) compares
      // the AKI of every certificate the server sends, the CA included, and throws, aborting the
      // terminal, when one has none.
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

export interface LeafRequest {
  readonly subject: CertSubject;
  readonly publicKey: CryptoKey;
  readonly serial: string;
  readonly now: Date;
  /** DNS names and IP addresses for the subjectAltName of a server role. */
  readonly hosts?: readonly string[];
}

/** A role certificate: one year (capped at the CA's own expiry), digitalSignature, the role's EKUs (a device has none). */
export async function signLeafCertificate(ca: CaKeys, request: LeafRequest): Promise<x509.X509Certificate> {
  const subject = assertCertSubject(request.subject);
  const now = request.now;
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  const oneYear = new Date(now.getTime() + LEAF_VALIDITY_DAYS * 86_400_000);
  const notAfter = oneYear < ca.certificate.notAfter ? oneYear : ca.certificate.notAfter;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // ECDHE_ECDSA key exchange signs with the certificate key: digitalSignature only (RFC 8422 §5.3).
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(request.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
  ];
  const ekus = extendedKeyUsages(subject.role);
  // RFC 5280 §4.2.1.12: the extension lists at least one purpose; none, no extension.
  if (ekus.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(ekus));
  if (servesTls(subject.role)) {
    // RFC 6125 §6.4.4: clients match the host only against subjectAltName, never the CN.
    extensions.push(new x509.SubjectAlternativeNameExtension(subjectAltNames(request.hosts ?? DEFAULT_SERVER_HOSTS)));
  } else if (request.hosts !== undefined && request.hosts.length > 0) {
    throw new PaypadError('BAD_ARGUMENT', `${subject.role} certificates are client-only and name no hosts`);
  }
  return x509.X509CertificateGenerator.create({
    serialNumber: request.serial,
    subject: subjectName(subject),
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: request.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions,
  });
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function subjectAltNames(hosts: readonly string[]): x509.JsonGeneralNames {
  if (hosts.length === 0 || hosts.length > 16) throw new PaypadError('BAD_ARGUMENT', 'a server certificate names 1 to 16 hosts');
  return hosts.map((host) => {
    if (isIP(host) !== 0) return { type: 'ip', value: host };
    if (HOSTNAME.test(host)) return { type: 'dns', value: host.toLowerCase() };
    throw new PaypadError('BAD_ARGUMENT', `certificate host must be a DNS name or an IP address, got ${JSON.stringify(host.slice(0, 64))}`);
  });
}

/** RFC 5280 §5.3.1 reason codes the CA accepts; certificateHold is left out: revocation is final here. */
export const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export function isRevocationReason(value: string): value is RevocationReason {
  return (REVOCATION_REASONS as readonly string[]).includes(value);
}

export interface RevokedEntry {
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** How long a CRL is current; a relying party fetches a fresh one before nextUpdate. */
export const CRL_VALIDITY_MS = 7 * 86_400_000;

/** A CRL (RFC 5280 §5) with the authority key identifier and a CRL number, both required by §5.2. */
export async function signCrl(ca: CaKeys, revoked: readonly RevokedEntry[], now: Date): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: ca.certificate.subjectName,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + CRL_VALIDITY_MS),
    signingKey: ca.privateKey,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey), crlNumber(now)],
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: r.revokedAt, reason: x509.X509CrlReason[r.reason] })),
  });
}

/**
 * cRLNumber (RFC 5280 §5.2.3) must increase with each CRL; the issue time in milliseconds does
 * that without a counter to store. DER: INTEGER, positive, minimal length.
 */
function crlNumber(now: Date): x509.Extension {
  let n = BigInt(now.getTime());
  const octets: number[] = [];
  do {
    octets.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (n > 0n);
  if (octets[0] & 0x80) octets.unshift(0);
  return new x509.Extension('2.5.29.20', false, Uint8Array.from([0x02, octets.length, ...octets]));
}

/** PEM with the label OpenSSL expects for CRLs (RFC 7468 §6: "X509 CRL"). */
export function crlToPem(crl: x509.X509Crl): string {
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n';
}
