/**
 * A throwaway paypad PKI for the terminal tests: a CA and a KMS server certificate for the
 * loopback host, made by the CA role's own signing code (host/ca/certificates: ECDSA P-256 /
 * SHA-256, the one suite the PIN pad's TLS speaks) without its database.
 */
import { type CaKeys, createCaCertificate, randomSerial, signLeafCertificate } from '../../../host/ca/certificates';
import { EC_KEY_ALGORITHM, type CryptoKeyPair, subtle, x509 } from '../../../host/ca/x509';
import type { TlsIdentity } from '../../../host/tls/identity';

export interface TestPki {
  /** The CA certificate, DER: what a terminal pins at manufacture. */
  readonly caDer: Uint8Array;
  /** Certificate and key for a KMS listener on 127.0.0.1, chained to the CA. */
  readonly kms: TlsIdentity;
  /** A8: the device certificate (DER) for `serial`'s identity key, an uncompressed P-256 point, as enrolment issues it. */
  certifyDevice(serial: string, publicKey: Uint8Array): Promise<Uint8Array>;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function makeTestPki(caName = 'paypad test CA', customerCode = 'ACME'): Promise<TestPki> {
  const now = new Date();
  const caPair = await keyPair();
  const ca: CaKeys = { certificate: await createCaCertificate(caPair, caName, now), privateKey: caPair.privateKey };
  const leafPair = await keyPair();
  const leaf = await signLeafCertificate(ca, {
    subject: { role: 'kms', name: `kms-${customerCode.toLowerCase()}`, customerCode },
    publicKey: leafPair.publicKey,
    serial: randomSerial(),
    now,
    hosts: ['127.0.0.1', 'localhost'],
  });
  const keyPem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', leafPair.privateKey), 'PRIVATE KEY');
  return {
    caDer: new Uint8Array(ca.certificate.rawData),
    kms: { certPem: leaf.toString('pem'), keyPem, caPem: ca.certificate.toString('pem') },
    async certifyDevice(serial, point) {
      const publicKey = await subtle.importKey('raw', point, EC_KEY_ALGORITHM, true, ['verify']);
      const cert = await signLeafCertificate(ca, { subject: { role: 'device', name: serial }, publicKey, serial: randomSerial(), now: new Date() });
      return new Uint8Array(cert.rawData);
    },
  };
}
