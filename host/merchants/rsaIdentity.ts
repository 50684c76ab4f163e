/**
 * An RSA signing identity certified by the host's CA: the key pair is made by its holder, only a
 * PKCS#10 request (RFC 2986) goes to the CA, and the CA certifies the key under the holder's
 * subject (host/ca roles `merchant`, `bill-platform`). The merchant simulator makes its identity
 * this way, and so does the bill platform on its first start (platformIdentity.ts).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { PaypadError } from '../../shared/errors';
import { subjectName, type CertSubject } from '../ca/roles';
import { RSA_SIGNING_ALGORITHM, subtle, x509, type CryptoKeyPair } from '../ca/x509';

/** NIST SP 800-57 Part 1 Rev. 5 Table 2: 2048-bit RSA for 112-bit security through 2030. */
export const RSA_MODULUS_BITS = 2048;

export interface RsaKeyPairWithCsr {
  /** PKCS#8 PEM: the holder keeps it (file mode 0600). */
  readonly privateKeyPem: string;
  readonly csrPem: string;
}

/** A fresh RSA key pair and a CSR for `subject`, signed with it (proof of possession). */
export async function createRsaKeyAndCsr(subject: CertSubject): Promise<RsaKeyPairWithCsr> {
  const keys = (await subtle.generateKey({ ...RSA_SIGNING_ALGORITHM, modulusLength: RSA_MODULUS_BITS, publicExponent: new Uint8Array([1, 0, 1]) }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: subjectName(subject), keys, signingAlgorithm: RSA_SIGNING_ALGORITHM });
  const privateKeyPem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n';
  return { privateKeyPem, csrPem: csr.toString('pem') + '\n' };
}

export function privateKeyOf(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new PaypadError('CONFIG_INVALID', 'the private key is not a PKCS#8 PEM key');
  }
}

/** The certified public key of `certificatePem`. */
export function publicKeyOfCertificate(certificatePem: string): KeyObject {
  return createPublicKey(certificatePem);
}

/**
 * The CN of a certificate `caCertificate` issued, after checking its signature and validity at
 * `at`. @throws PaypadError PEER_CERT_UNTRUSTED otherwise.
 */
export async function verifiedSubjectName(certificatePem: string, caCertificate: x509.X509Certificate, at: Date): Promise<string> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certificatePem);
  } catch {
    throw new PaypadError('PEER_CERT_UNTRUSTED', 'not a PEM certificate');
  }
  const signedByCa = await cert.verify({ publicKey: caCertificate.publicKey, signatureOnly: true }).catch(() => false);
  if (!signedByCa || at < cert.notBefore || at > cert.notAfter) throw new PaypadError('PEER_CERT_UNTRUSTED', 'the certificate is not a current one from the paypad CA');
  const cn = cert.subjectName.getField('CN');
  if (cn.length !== 1) throw new PaypadError('PEER_CERT_UNTRUSTED', 'the certificate does not name one subject');
  return cn[0];
}
