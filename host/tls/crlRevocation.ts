/**
 * Revocation from a CRL file (RFC 5280 §5), for a party that has no access to the CA's register:
 * the operating terminal checking MTMS's certificate. `paypad ca crl` writes the CRL; it is valid
 * for 7 days, and a station is given a fresh one as it is given the CA certificate.
 *
 * The CRL must be signed by the paypad CA and current (thisUpdate passed, nextUpdate not): a
 * stale list would hide every revocation since it was made, so it is refused, not used. A CRL
 * names only revoked serials: every other serial is 'good'.
 */
import { readFile } from 'node:fs/promises';
import { PaypadError } from '../../shared/errors';
import { normalizeSerial } from '../ca/certificates';
import { x509 } from '../ca/x509';
import type { RevocationSource } from './peer';

/**
 * @throws PaypadError CONFIG_INVALID when `crlPem` is not a CRL, is not signed by the CA of
 * `caPem`, or is not current at `now`; `source` names the file in the message.
 */
export async function crlRevocationSource(crlPem: string, caPem: string, source: string, now = new Date()): Promise<RevocationSource> {
  let crl: x509.X509Crl;
  let ca: x509.X509Certificate;
  try {
    crl = new x509.X509Crl(crlPem);
    ca = new x509.X509Certificate(caPem);
  } catch {
    throw new PaypadError('CONFIG_INVALID', `${source} does not hold a PEM CRL (make one with \`paypad ca crl\`)`);
  }
  let signed = false;
  try {
    signed = await crl.verify({ publicKey: ca.publicKey });
  } catch {
    signed = false;
  }
  if (!signed) throw new PaypadError('CONFIG_INVALID', `the CRL in ${source} was not signed by the paypad CA`);
  if (crl.thisUpdate > now) throw new PaypadError('CONFIG_INVALID', `the CRL in ${source} is dated ${crl.thisUpdate.toISOString()}, in the future`);
  if (crl.nextUpdate === undefined || crl.nextUpdate < now) {
    throw new PaypadError('CONFIG_INVALID', `the CRL in ${source} expired on ${crl.nextUpdate?.toISOString() ?? '(no next update)'}; get a fresh one with \`paypad ca crl\``);
  }
  const revoked = new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber)));
  return { revocationStatus: async (serial) => (revoked.has(normalizeSerial(serial)) ? 'revoked' : 'good') };
}

/** The CRL in the file `path`, as crlRevocationSource. @throws PaypadError CONFIG_INVALID when it cannot be read. */
export async function readCrlRevocation(path: string, caPem: string, now = new Date()): Promise<RevocationSource> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    throw new PaypadError('CONFIG_INVALID', `cannot read the CRL file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return crlRevocationSource(pem, caPem, path, now);
}
