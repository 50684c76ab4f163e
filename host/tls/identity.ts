/**
 * A TLS identity: a certificate, its private key and the CA certificate that peers must chain to.
 * On disk it is a directory with cert.pem, key.pem (mode 0600) and ca.pem, as `paypad ca issue`
 * writes it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PaypadError } from '../../shared/errors';
import { pathExists, SECRET_FILE_MODE, writeNewFile } from '../files';

export interface TlsIdentity {
  readonly certPem: string;
  readonly keyPem: string;
  /** The paypad CA: the only trust anchor for peers. */
  readonly caPem: string;
}

export const IDENTITY_FILES = { cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem' } as const;

/**
 * Checks that an identity can be written into `dir` before anything is issued for it, so a
 * certificate is never recorded whose files then cannot be written.
 * @throws PaypadError FILE_EXISTS naming the first file already there.
 */
export async function assertIdentityTarget(dir: string, withKey: boolean): Promise<void> {
  for (const name of [IDENTITY_FILES.cert, IDENTITY_FILES.ca, ...(withKey ? [IDENTITY_FILES.key] : [])]) {
    const path = join(dir, name);
    if (await pathExists(path)) throw new PaypadError('FILE_EXISTS', `${path} already exists; write the identity to an empty directory`);
  }
}

/**
 * Writes an identity into `dir` (which must exist): cert.pem, ca.pem and, when given, key.pem
 * with mode 0600. Never overwrites: a replaced key would silently break the service using it.
 * @throws PaypadError FILE_EXISTS when one of the files is already there; nothing is written then.
 */
export async function writeIdentity(dir: string, files: { certPem: string; caPem: string; keyPem?: string }): Promise<string[]> {
  await assertIdentityTarget(dir, files.keyPem !== undefined);
  const planned: [string, string, number][] = [
    [join(dir, IDENTITY_FILES.cert), files.certPem, SECRET_FILE_MODE],
    [join(dir, IDENTITY_FILES.ca), files.caPem, SECRET_FILE_MODE],
  ];
  if (files.keyPem !== undefined) planned.push([join(dir, IDENTITY_FILES.key), files.keyPem, SECRET_FILE_MODE]);
  for (const [path, data, mode] of planned) await writeNewFile(path, data, mode);
  return planned.map(([path]) => path);
}

/** @throws PaypadError CONFIG_INVALID naming the missing or unreadable file. */
export async function readIdentity(dir: string): Promise<TlsIdentity> {
  const read = async (name: string) => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (e) {
      throw new PaypadError('CONFIG_INVALID', `cannot read the TLS identity file ${join(dir, name)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  return { certPem: await read(IDENTITY_FILES.cert), keyPem: await read(IDENTITY_FILES.key), caPem: await read(IDENTITY_FILES.ca) };
}

