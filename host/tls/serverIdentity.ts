/**
 * A serving role's TLS identity (A8): read from <dir>/tls, or issued by the paypad CA on first
 * start. The files are written into a staging directory that is renamed into place, so two
 * processes starting at once end up with one identity and a crash leaves none half-written. A
 * stored identity must be for the expected subject, from this CA, and unexpired.
 *
 * Generic over the subject: host/kms/kmsInstance.ts does the same for a KMS and could use this.
 */
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PaypadError } from '../../shared/errors';
import type { CertificateAuthority } from '../ca/authority';
import { pathExists, syncDirectory } from '../files';
import { type CertSubject, certSubjectOf, describeSubject } from '../ca/roles';
import { x509 } from '../ca/x509';
import type { Logger } from '../log';
import { readIdentity, type TlsIdentity, writeIdentity } from './identity';

export const TLS_DIR_NAME = 'tls';

/** Listen addresses the CA's default names (localhost, 127.0.0.1) already cover, or that name no host. */
const DEFAULT_NAMED_ADDRESSES = ['0.0.0.0', '::', '', '127.0.0.1', 'localhost'];

export interface ServerIdentityOptions {
  /** The role's directory; the identity lives in <dir>/tls. */
  readonly dir: string;
  readonly subject: CertSubject;
  readonly ca: CertificateAuthority;
  /** The listen address: named in the certificate unless the CA's defaults cover it. */
  readonly host: string;
  /** DNS names and addresses clients use; overrides the one derived from `host`. */
  readonly serverNames?: readonly string[];
  readonly clock?: () => Date;
  readonly logger?: Logger;
}

/** @throws PaypadError CONFIG_INVALID when the stored identity is another subject's, another CA's, or expired. */
export async function ensureServerIdentity(options: ServerIdentityOptions): Promise<TlsIdentity> {
  const { dir, subject, ca } = options;
  const tlsDir = join(dir, TLS_DIR_NAME);
  if (!(await pathExists(tlsDir))) {
    const hosts = options.serverNames ?? (DEFAULT_NAMED_ADDRESSES.includes(options.host) ? undefined : [options.host]);
    const issued = await ca.issue({ subject, ...(hosts === undefined ? {} : { hosts }) });
    const staging = await mkdtemp(join(dir, '.tls-staging-'));
    try {
      await writeIdentity(staging, { certPem: issued.certPem, caPem: issued.caPem, keyPem: issued.keyPem });
      try {
        await rename(staging, tlsDir);
        await syncDirectory(dir);
      } catch (e) {
        const errno = (e as NodeJS.ErrnoException).code;
        // Another process issued one first: use theirs (ours stays recorded, unused, in the register).
        if (errno !== 'ENOTEMPTY' && errno !== 'EEXIST') throw e;
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    options.logger?.info({ subject: describeSubject(subject), serial: issued.record.serial }, `issued the TLS certificate ${describeSubject(subject)}`);
  }
  const identity = await readIdentity(tlsDir);
  assertIdentity(identity, subject, ca, options.clock?.() ?? new Date(), tlsDir);
  return identity;
}

function assertIdentity(identity: TlsIdentity, expected: CertSubject, ca: CertificateAuthority, now: Date, tlsDir: string): void {
  let cert: x509.X509Certificate;
  let issuer: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(identity.certPem);
    issuer = new x509.X509Certificate(identity.caPem);
  } catch {
    throw new PaypadError('CONFIG_INVALID', `${tlsDir} does not hold PEM certificates`);
  }
  const subject = certSubjectOf(cert);
  if (subject.role !== expected.role || subject.customerCode !== expected.customerCode) {
    throw new PaypadError('CONFIG_INVALID', `${tlsDir} holds a certificate for ${describeSubject(subject)}, not ${describeSubject(expected)}`);
  }
  if (!issuer.equal(ca.caCertificate)) throw new PaypadError('CONFIG_INVALID', `${tlsDir} was issued by another CA; remove it to have this CA issue a new one`);
  if (now > cert.notAfter) throw new PaypadError('CONFIG_INVALID', `the certificate in ${tlsDir} expired on ${cert.notAfter.toISOString()}; remove ${tlsDir} to have the CA issue a new one`);
}

