/**
 * The operating terminal's TLS identity from three files (--cert, --key, --ca), checked before
 * anything connects: a key that does not match the certificate, or a certificate for another
 * role, would otherwise surface as an opaque handshake failure or as MTMS's CLIENT_CERT_ROLE.
 * The key file is read here and handed to TLS only; no message quotes any file's content.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PaypadError } from '../../shared/errors';
import type { TlsIdentity } from '../tls/identity';
import { peerIdentityOf, type PeerIdentity } from '../tls/peer';

export interface IdentityFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** @throws PaypadError CONFIG_INVALID naming the file and the problem. */
export async function readOperatorIdentity(files: IdentityFiles, now = new Date()): Promise<{ identity: TlsIdentity; subject: PeerIdentity }> {
  const [certPem, keyPem, caPem] = await Promise.all([read(files.cert, 'certificate'), read(files.key, 'private key'), read(files.ca, 'CA certificate')]);
  const cert = parse(files.cert, 'certificate', () => new X509Certificate(certPem));
  const ca = parse(files.ca, 'CA certificate', () => new X509Certificate(caPem));
  const key = parse(files.key, 'private key', () => createPrivateKey(keyPem));
  if (!cert.checkPrivateKey(key)) throw invalid(`the private key in ${files.key} does not belong to the certificate in ${files.cert}`);
  if (!cert.verify(ca.publicKey)) throw invalid(`the certificate in ${files.cert} was not issued by the CA in ${files.ca}`);
  if (new Date(cert.validTo) < now) throw invalid(`the certificate in ${files.cert} expired on ${new Date(cert.validTo).toISOString()}`);
  let subject: PeerIdentity;
  try {
    subject = peerIdentityOf(cert.raw);
  } catch (e) {
    throw invalid(`the certificate in ${files.cert} is not a paypad role certificate: ${(e as Error).message}`);
  }
  if (subject.role !== 'operator') throw invalid(`the certificate in ${files.cert} is for role ${subject.role}; the operating terminal needs an operator certificate`);
  return { identity: { certPem, keyPem, caPem }, subject };
}

async function read(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw invalid(`cannot read the ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function parse<T>(path: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch {
    throw invalid(`${path} does not hold a PEM ${what}`);
  }
}

function invalid(message: string): PaypadError {
  return new PaypadError('CONFIG_INVALID', message);
}
