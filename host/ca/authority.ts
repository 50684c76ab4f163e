/**
 * The CA role (A8): issues role certificates, records them, revokes them and publishes the CRL.
 * The CA key signs only here; the register (certificateStore.ts) needs no key, so servers that
 * check revocation never hold the CA key.
 */
import { PaypadError } from '../../shared/errors';
import { type CaKeys, normalizeSerial, randomSerial, type RevocationReason, signCrl, signLeafCertificate, crlToPem } from './certificates';
import type { CertificateStore, IssuedCertificate, RevocationStatus } from './certificateStore';
import { assertCertSubject, type CertSubject, certifiesRsaKey, certSubjectOf, describeSubject } from './roles';
import { EC_KEY_ALGORITHM, RSA_SIGNING_ALGORITHM, subtle, x509, type CryptoKey, type CryptoKeyPair, type EcKeyAlgorithm } from './x509';

export interface IssueRequest {
  readonly subject: CertSubject;
  /** subjectAltName hosts for mtms and kms; the loopback host when omitted. */
  readonly hosts?: readonly string[];
  /**
   * A PKCS#10 request (PEM) whose key the subject made itself: then the private key never
   * passes through the CA. Only its public key is used; the subject comes from `subject`.
   */
  readonly csrPem?: string;
  /**
   * An uncompressed P-256 point (SEC 1) whose holder the caller has proven (a device's identity
   * key, by its signature over an MTMS challenge: host/mtms/deviceEnrolment). The only way a
   * device certificate is issued: a device's key is made in it and never leaves.
   */
  readonly publicKey?: Uint8Array;
}

export interface IssuedIdentity {
  readonly record: IssuedCertificate;
  readonly certPem: string;
  /** PKCS#8 PEM, present when the CA generated the key (no CSR). */
  readonly keyPem?: string;
  readonly caPem: string;
}

export interface CertificateAuthority {
  readonly caCertificatePem: string;
  readonly caCertificate: x509.X509Certificate;
  /** @throws PaypadError BAD_ARGUMENT for a bad subject, host or key source, CSR_INVALID for a bad CSR, PUBLIC_KEY_INVALID. */
  issue(request: IssueRequest): Promise<IssuedIdentity>;
  /** The certificates of `subject` (its one-line form) neither revoked nor expired at `at`. */
  current(subject: CertSubject, at: Date): Promise<IssuedCertificate[]>;
  /** @throws PaypadError CERT_NOT_FOUND, CERT_ALREADY_REVOKED, BAD_ARGUMENT. */
  revoke(serial: string, reason?: RevocationReason): Promise<IssuedCertificate>;
  /** True only for a serial this CA recorded and revoked. */
  isRevoked(serial: string): Promise<boolean>;
  revocationStatus(serial: string): Promise<RevocationStatus>;
  list(): Promise<IssuedCertificate[]>;
  /** A freshly signed CRL (PEM, "X509 CRL") of every revoked, unexpired certificate. */
  crlPem(): Promise<string>;
}

export function createCertificateAuthority(keys: CaKeys, store: CertificateStore, clock: () => Date = () => new Date()): CertificateAuthority {
  const caCertificatePem = keys.certificate.toString('pem') + '\n';
  return {
    caCertificatePem,
    caCertificate: keys.certificate,

    async issue(request) {
      const subject = assertCertSubject(request.subject);
      if (request.csrPem !== undefined && request.publicKey !== undefined) throw new PaypadError('BAD_ARGUMENT', 'certify a CSR or a public key, not both');
      if ((subject.role === 'device') !== (request.publicKey !== undefined)) {
        throw new PaypadError('BAD_ARGUMENT', 'a device certificate, and only one, certifies a public key the device proved it holds');
      }
      if (certifiesRsaKey(subject.role) && request.csrPem === undefined) throw new PaypadError('BAD_ARGUMENT', `a ${subject.role} certificate certifies the RSA key of the holder's own CSR`);
      const generated = request.csrPem === undefined && request.publicKey === undefined ? ((await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair) : undefined;
      const publicKey =
        generated?.publicKey ??
        (request.publicKey !== undefined ? await importPoint(request.publicKey) : certifiesRsaKey(subject.role) ? await rsaKeyOfCsr(request.csrPem as string) : await publicKeyOfCsr(request.csrPem as string));
      const serial = randomSerial();
      const cert = await signLeafCertificate(keys, { subject, publicKey, serial, now: clock(), hosts: request.hosts });
      const certPem = cert.toString('pem') + '\n';
      const record: IssuedCertificate = {
        serial: normalizeSerial(cert.serialNumber),
        role: subject.role,
        subject: describeSubject(subject),
        ...(subject.customerCode === undefined ? {} : { customerCode: subject.customerCode }),
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        certificatePem: certPem,
      };
      // Invariant: what we record is what the certificate says.
      const read = certSubjectOf(cert);
      if (read.role !== subject.role || read.name !== subject.name || read.customerCode !== subject.customerCode) {
        throw new PaypadError('INTERNAL', 'the issued certificate does not carry the requested subject');
      }
      await store.record(record);
      const keyPem = generated && x509.PemConverter.encode(await subtle.exportKey('pkcs8', generated.privateKey), 'PRIVATE KEY') + '\n';
      return { record, certPem, caPem: caCertificatePem, ...(keyPem === undefined ? {} : { keyPem }) };
    },

    async current(subject, at) {
      const line = describeSubject(assertCertSubject(subject));
      return (await store.bySubject(line)).filter((c) => c.revokedAt === undefined && c.notAfter > at);
    },

    revoke(serial, reason = 'unspecified') {
      return store.revoke(serial, reason, clock());
    },

    async isRevoked(serial) {
      return (await store.revocationStatus(serial)) === 'revoked';
    },

    revocationStatus(serial) {
      return store.revocationStatus(serial);
    },

    list() {
      return store.list();
    },

    async crlPem() {
      const now = clock();
      return crlToPem(await signCrl(keys, await store.revoked(now), now));
    },
  };
}

/** An uncompressed P-256 point as a WebCrypto key; WebCrypto checks it is on the curve. */
async function importPoint(point: Uint8Array): Promise<CryptoKey> {
  if (!(point instanceof Uint8Array) || point.length !== 65 || point[0] !== 0x04) throw new PaypadError('PUBLIC_KEY_INVALID', 'expected an uncompressed P-256 public key (65 bytes)');
  try {
    return await subtle.importKey('raw', point, EC_KEY_ALGORITHM, true, ['verify']);
  } catch {
    throw new PaypadError('PUBLIC_KEY_INVALID', 'the public key is not a point on P-256');
  }
}

/** RFC 2986 §4.2: the request is signed with its own key, which proves the requester holds it. */
async function publicKeyOfCsr(pem: string): Promise<CryptoKey> {
  const csr = await verifiedCsr(pem);
  const algorithm = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' && algorithm.name !== 'ECDH') throw new PaypadError('CSR_INVALID', `the certificate request key must be EC P-256, got ${algorithm.name}`);
  if (algorithm.namedCurve !== 'P-256') throw new PaypadError('CSR_INVALID', `the certificate request key must be on P-256, got ${algorithm.namedCurve}`);
  return csr.publicKey.export(EC_KEY_ALGORITHM, ['verify']);
}

/** An RSA key of at least 2048 bits (NIST SP 800-131A Rev. 2 §3), for RSASSA-PKCS1-v1_5 with SHA-256. */
async function rsaKeyOfCsr(pem: string): Promise<CryptoKey> {
  const csr = await verifiedCsr(pem);
  const algorithm = csr.publicKey.algorithm as { name: string; modulusLength?: number };
  if (algorithm.name !== 'RSASSA-PKCS1-v1_5' && algorithm.name !== 'RSA-PSS' && algorithm.name !== 'RSA-OAEP') throw new PaypadError('CSR_INVALID', `the certificate request key must be RSA, got ${algorithm.name}`);
  if ((algorithm.modulusLength ?? 0) < 2048) throw new PaypadError('CSR_INVALID', 'the certificate request key must be RSA of at least 2048 bits');
  return csr.publicKey.export(RSA_SIGNING_ALGORITHM, ['verify']);
}

async function verifiedCsr(pem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw new PaypadError('CSR_INVALID', 'the certificate request is not a PEM or DER PKCS#10 request');
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new PaypadError('CSR_INVALID', 'the certificate request signature does not verify');
  return csr;
}
