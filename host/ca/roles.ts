/**
 * Certificate roles and the certificate profile of each (docs/key-loading.md, "Parties").
 *
 * The role and the customer code live in the subject: `CN=<name>, OU=<role>` and, for a KMS,
 * `O=<customer code>`. Servers read them back from the peer certificate to decide what the peer
 * may do (A8), so building and parsing the subject live together here.
 *
 * A PIN pad's certificate has role `device` and its serial as the CN: MTMS checks that the serial
 * a TK is uploaded for is the one the signing device was enrolled under (docs/key-loading.md
 * "Device identity"). It never authenticates TLS: the device signs challenges with its key.
 *
 * A merchant's certificate (role `merchant`, CN = its legal name) and the bill platform's (role
 * `bill-platform`) certify RSA keys that sign requests and notifications between the two
 * platforms (docs/bill-payments.md); neither authenticates TLS.
 */
import { PaypadError } from '../../shared/errors';
import { x509 } from './x509';

export const CERT_ROLES = ['operator', 'mtms', 'kms', 'device', 'merchant', 'bill-platform'] as const;
export type CertRole = (typeof CERT_ROLES)[number];

/** Who a certificate names. `customerCode` is present exactly when the role is 'kms'. */
export interface CertSubject {
  readonly role: CertRole;
  readonly name: string;
  readonly customerCode?: string;
}

// Printable ASCII without the characters that are special in RFC 4514 string DNs, so a subject
// prints and compares the same everywhere; 64 is ub-common-name (RFC 5280 Appendix A.1).
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
const CUSTOMER_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
/** A terminal serial as the protocol has it (shared/protocol/fields serial): the CN of a device. */
const DEVICE_SERIAL = /^[A-Z0-9-]{4,32}$/;

/** A common name the CA writes: for role certificates and for the CA itself. */
export function isCertName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value);
}

export function isCertRole(value: string): value is CertRole {
  return (CERT_ROLES as readonly string[]).includes(value);
}

/**
 * Checks a subject before it goes into a certificate.
 * @throws PaypadError BAD_ARGUMENT naming the field and what was expected.
 */
export function assertCertSubject(subject: CertSubject): CertSubject {
  const { role, name, customerCode } = subject;
  if (!isCertRole(role)) throw new PaypadError('BAD_ARGUMENT', `certificate role must be one of ${CERT_ROLES.join(', ')}, got ${JSON.stringify(String(role).slice(0, 16))}`);
  if (!isCertName(name)) {
    throw new PaypadError('BAD_ARGUMENT', 'certificate name must be 1-64 characters: letters, digits, space, dot, underscore, hyphen, starting with a letter or digit');
  }
  if (role === 'device' && !DEVICE_SERIAL.test(name)) throw new PaypadError('BAD_ARGUMENT', 'a device certificate names the terminal serial: 4 to 32 of A-Z 0-9 -');
  if (role === 'kms') {
    if (typeof customerCode !== 'string' || !CUSTOMER_CODE.test(customerCode)) {
      throw new PaypadError('BAD_ARGUMENT', 'a kms certificate needs a customer code of 1-32 letters, digits, underscores or hyphens');
    }
    return { role, name, customerCode };
  }
  if (customerCode !== undefined) throw new PaypadError('BAD_ARGUMENT', `a customer code binds only kms certificates, not ${role}`);
  return { role, name };
}

/** The subject as a JSON name: built attribute by attribute, never parsed from a string. */
export function subjectName(subject: CertSubject): x509.JsonName {
  const name: x509.JsonName = [{ CN: [subject.name] }, { OU: [subject.role] }];
  if (subject.customerCode !== undefined) name.push({ O: [subject.customerCode] });
  return name;
}

/** The subject as one line for tables and logs, in RFC 4514 order of our attributes. */
export function describeSubject(subject: CertSubject): string {
  return `CN=${subject.name}, OU=${subject.role}${subject.customerCode === undefined ? '' : `, O=${subject.customerCode}`}`;
}

/**
 * Reads role, name and customer code back from a certificate issued by the paypad CA. Each
 * attribute must appear exactly once: a subject with two OUs could otherwise be read as
 * either role.
 * @throws PaypadError CERT_SUBJECT_INVALID when the subject is not one the CA issues.
 */
export function certSubjectOf(cert: x509.X509Certificate): CertSubject {
  const one = (field: string): string | undefined => {
    const values = cert.subjectName.getField(field);
    if (values.length > 1) throw new PaypadError('CERT_SUBJECT_INVALID', `certificate subject has ${values.length} ${field} attributes; expected one`);
    return values[0];
  };
  const name = one('CN');
  const role = one('OU');
  const customerCode = one('O');
  if (name === undefined || role === undefined || !isCertRole(role)) {
    throw new PaypadError('CERT_SUBJECT_INVALID', 'certificate subject lacks a CN and an OU naming a paypad role');
  }
  try {
    return assertCertSubject(customerCode === undefined ? { role, name } : { role, name, customerCode });
  } catch (e) {
    throw new PaypadError('CERT_SUBJECT_INVALID', `certificate subject is not one the paypad CA issues: ${(e as Error).message}`);
  }
}

/**
 * The operator authenticates as a TLS client; MTMS and KMS also serve (RFC 5280 §4.2.1.12). A
 * device, a merchant and the bill platform get none: their keys sign messages, never a TLS handshake.
 */
export function extendedKeyUsages(role: CertRole): string[] {
  if (!servesTls(role) && role !== 'operator') return [];
  return role === 'operator' ? [x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth];
}

export function servesTls(role: CertRole): boolean {
  return role === 'mtms' || role === 'kms';
}

/** Roles whose certificate certifies an RSA signing key from a CSR (RSASSA-PKCS1-v1_5, RFC 8017 §8.2). */
export function certifiesRsaKey(role: CertRole): boolean {
  return role === 'merchant' || role === 'bill-platform';
}
