/**
 * Where the CA keeps its key and certificate: <dataDir>/ca/ca-key.pem (PKCS#8, mode 0600) and
 * <dataDir>/ca/ca.pem. ensureCa() is what the host calls on start: it loads the CA, or makes the
 * dev CA on first start.
 *
 * Invariant: a CA directory holds both files or does not exist. The files are written into a
 * fresh temporary directory that is then renamed into place; rename(2) fails on a non-empty
 * target, so two processes starting at once end up sharing one CA, and a crash leaves no
 * half-made CA behind.
 */
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import type { Schema } from '../db/schema';
import type { Logger } from '../log';
import { type CertificateAuthority, createCertificateAuthority } from './authority';
import { type CaKeys, createCaCertificate } from './certificates';
import { createCertificateStore } from './certificateStore';
import { isCertName } from './roles';
import { SECRET_FILE_MODE, syncDirectory, writeNewFile } from '../files';
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, subtle, x509, type CryptoKey, type CryptoKeyPair } from './x509';

export const CA_DIR_NAME = 'ca';
export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const DEFAULT_CA_NAME = 'paypad CA';

export function caDirectory(dataDir: string): string {
  return join(dataDir, CA_DIR_NAME);
}

/**
 * Makes a new CA key and self-signed certificate under <dataDir>/ca.
 * @throws PaypadError CA_EXISTS when the data directory already has a CA, BAD_ARGUMENT for a bad name.
 */
export async function initCa(dataDir: string, commonName = DEFAULT_CA_NAME, now = new Date()): Promise<CaKeys> {
  if (!isCertName(commonName)) throw new PaypadError('BAD_ARGUMENT', 'the CA name must be 1-64 letters, digits, spaces, dots, underscores or hyphens');
  const keys = (await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const certificate = await createCaCertificate(keys, commonName, now);
  const keyPem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n';
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const staging = await mkdtemp(join(dataDir, '.ca-staging-')); // mode 0700
  try {
    await writeNewFile(join(staging, CA_KEY_FILE), keyPem, SECRET_FILE_MODE);
    await writeNewFile(join(staging, CA_CERT_FILE), certificate.toString('pem') + '\n', SECRET_FILE_MODE);
    try {
      await rename(staging, caDirectory(dataDir));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new PaypadError('CA_EXISTS', `${caDirectory(dataDir)} already holds a CA; it is never replaced`);
      throw e;
    }
    await syncDirectory(dataDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return loadCaKeys(dataDir, now) as Promise<CaKeys>;
}

/**
 * Reads the CA of a data directory; undefined when it has none.
 * @throws PaypadError CA_INVALID when the files are incomplete, unreadable, too widely readable,
 * not a CA, expired, or when the key does not belong to the certificate.
 */
export async function loadCaKeys(dataDir: string, now = new Date()): Promise<CaKeys | undefined> {
  const dir = caDirectory(dataDir);
  const keyPath = join(dir, CA_KEY_FILE);
  const certPath = join(dir, CA_CERT_FILE);
  const [keyStat, certStat] = await Promise.all([statOrUndefined(keyPath), statOrUndefined(certPath)]);
  if (keyStat === undefined && certStat === undefined) return undefined;
  if (keyStat === undefined || certStat === undefined) {
    throw new PaypadError('CA_INVALID', `${dir} must hold both ${CA_CERT_FILE} and ${CA_KEY_FILE}; one is missing`);
  }
  // As ssh does for identity keys: a CA key others can read is refused, not used.
  if ((keyStat.mode & 0o077) !== 0) {
    throw new PaypadError('CA_INVALID', `${keyPath} is readable by group or others (mode ${(keyStat.mode & 0o777).toString(8)}); run chmod 600 on it`);
  }
  let certificate: x509.X509Certificate;
  let privateKey: CryptoKey;
  try {
    certificate = new x509.X509Certificate(await readFile(certPath, 'utf8'));
    const der = x509.PemConverter.decodeWithHeaders(await readFile(keyPath, 'utf8'));
    if (der.length !== 1 || der[0].type !== 'PRIVATE KEY') throw new Error('expected one PKCS#8 PRIVATE KEY block');
    // Not extractable: once loaded, the key can sign but not be read back out of WebCrypto.
    privateKey = await subtle.importKey('pkcs8', der[0].rawData, EC_KEY_ALGORITHM, false, ['sign']);
  } catch (e) {
    throw new PaypadError('CA_INVALID', `cannot read the CA in ${dir}: ${(e as Error).message.slice(0, 200)}`);
  }
  const basic = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) throw new PaypadError('CA_INVALID', `${certPath} is not a CA certificate`);
  if (now > certificate.notAfter) throw new PaypadError('CA_INVALID', `the CA certificate expired on ${certificate.notAfter.toISOString()}`);
  // The pair must match: sign a probe with the key and verify it with the certificate.
  const probe = new TextEncoder().encode('paypad CA key check');
  const signature = await subtle.sign(EC_SIGNING_ALGORITHM, privateKey, probe);
  const publicKey = await certificate.publicKey.export(EC_KEY_ALGORITHM, ['verify']);
  if (!(await subtle.verify(EC_SIGNING_ALGORITHM, publicKey, signature, probe))) {
    throw new PaypadError('CA_INVALID', `${keyPath} is not the key of ${certPath}`);
  }
  return { certificate, privateKey };
}

export interface EnsureCaOptions {
  readonly dataDir: string;
  readonly db: Kysely<Schema>;
  readonly logger?: Logger;
  readonly clock?: () => Date;
}

/** The host's start: load the CA of the data directory, or make the dev CA when there is none. */
export async function ensureCa(options: EnsureCaOptions): Promise<CertificateAuthority> {
  const clock = options.clock ?? (() => new Date());
  let keys = await loadCaKeys(options.dataDir, clock());
  if (keys === undefined) {
    try {
      keys = await initCa(options.dataDir, DEFAULT_CA_NAME, clock());
      options.logger?.warn({ caDir: caDirectory(options.dataDir) }, 'no CA found: generated a development CA; production runs `paypad ca init` once and distributes ca.pem');
    } catch (e) {
      // Another process made it between our look and our rename: use theirs.
      if (!(e instanceof PaypadError && e.code === 'CA_EXISTS')) throw e;
      keys = (await loadCaKeys(options.dataDir, clock())) as CaKeys;
    }
  }
  return createCertificateAuthority(keys, createCertificateStore(options.db), clock);
}

/** Loads the CA of a data directory for the CLI. @throws PaypadError CA_NOT_INITIALIZED when there is none. */
export async function openCa(dataDir: string, db: Kysely<Schema>, clock: () => Date = () => new Date()): Promise<CertificateAuthority> {
  const keys = await loadCaKeys(dataDir, clock());
  if (keys === undefined) throw new PaypadError('CA_NOT_INITIALIZED', `${caDirectory(dataDir)} holds no CA; run \`paypad ca init\` first`);
  return createCertificateAuthority(keys, createCertificateStore(db), clock);
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PaypadError('CA_INVALID', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code}`);
  }
}
