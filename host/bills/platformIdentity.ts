/**
 * The bill platform's signing identity (D5: notifications to merchants are signed by the
 * platform): an RSA key pair made on the first start, the key in <dataDir>/bill-platform/key.pem
 * (0600), certified by the host's CA as role `bill-platform` (cert.pem beside it). Later starts
 * load both; merchants verify notifications with the certificate against the CA.
 */
import type { KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPaypadError } from '../../shared/errors';
import type { CertificateAuthority } from '../ca/authority';
import { SECRET_FILE_MODE, writeNewFile } from '../files';
import { createRsaKeyAndCsr, privateKeyOf } from '../merchants/rsaIdentity';

export const PLATFORM_CERT_NAME = 'paypad bill platform';

export interface PlatformIdentity {
  readonly privateKey: KeyObject;
  readonly certificatePem: string;
  readonly caCertificatePem: string;
}

export async function loadOrCreatePlatformIdentity(dataDir: string, ca: CertificateAuthority): Promise<PlatformIdentity> {
  const dir = join(dataDir, 'bill-platform');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]).catch(() => undefined);
  if (existing !== undefined) return { privateKey: privateKeyOf(existing[0]), certificatePem: existing[1], caCertificatePem: ca.caCertificatePem };
  const { privateKeyPem, csrPem } = await createRsaKeyAndCsr({ role: 'bill-platform', name: PLATFORM_CERT_NAME });
  const issued = await ca.issue({ subject: { role: 'bill-platform', name: PLATFORM_CERT_NAME }, csrPem });
  try {
    await writeNewFile(keyFile, privateKeyPem, SECRET_FILE_MODE);
    await writeNewFile(certFile, issued.certPem, SECRET_FILE_MODE);
  } catch (e) {
    if (!isPaypadError(e, 'FILE_EXISTS')) throw e;
    return loadOrCreatePlatformIdentity(dataDir, ca);
  }
  return { privateKey: privateKeyOf(privateKeyPem), certificatePem: issued.certPem, caCertificatePem: ca.caCertificatePem };
}
