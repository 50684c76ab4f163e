/**
 * A8: the certificates the CA signs, checked by OpenSSL (an independent implementation) as well
 * as by our own parser: chain, profile per role (RFC 5280 §4.2), subject, serial, CRL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CaKeys, createCaCertificate, crlToPem, DEFAULT_SERVER_HOSTS, normalizeSerial, randomSerial, signCrl, signLeafCertificate } from '../../../host/ca/certificates';
import { certSubjectOf, type CertSubject } from '../../../host/ca/roles';
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, subtle, x509, type CryptoKeyPair } from '../../../host/ca/x509';
import { isPaypadError } from '../../../shared/errors';
import { openssl, tempDirs } from './fixtures';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

const newKeys = async () => (await subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;

async function makeCa(name = 'paypad test CA', now = new Date()): Promise<CaKeys & { pemPath: string }> {
  const keys = await newKeys();
  const certificate = await createCaCertificate(keys, name, now);
  return { certificate, privateKey: keys.privateKey, pemPath: dirs.file('ca.pem', certificate.toString('pem')) };
}

async function leaf(ca: CaKeys, subject: CertSubject, extra: { hosts?: string[]; now?: Date } = {}) {
  const keys = await newKeys();
  const cert = await signLeafCertificate(ca, { subject, publicKey: keys.publicKey, serial: randomSerial(), now: extra.now ?? new Date(), hosts: extra.hosts });
  return { cert, path: dirs.file('cert.pem', cert.toString('pem')) };
}

const expectCode = async (p: Promise<unknown> | (() => unknown), code: string) => {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  expect(isPaypadError(error), `expected PaypadError ${code}, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
};

describe('A8 serial numbers', () => {
  it('are 16 random octets, positive, with a non-zero first octet (32 hex digits)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const s = randomSerial();
      expect(s).toMatch(/^[0-7][0-9A-F]{31}$/);
      expect(s.slice(0, 2)).not.toBe('00');
      expect(normalizeSerial(s)).toBe(s);
      seen.add(s);
    }
    expect(seen.size).toBe(500);
  });

  it('normalize to uppercase without leading zero octets, and refuse malformed input', () => {
    expect(normalizeSerial('00ab01')).toBe('AB01');
    expect(normalizeSerial('0000')).toBe('00');
    expect(normalizeSerial('7f' + 'ee'.repeat(19))).toBe('7F' + 'EE'.repeat(19));
    for (const bad of ['', 'abc', 'zz', '12 34', 'ab'.repeat(21), '01'.repeat(22)]) expect(() => normalizeSerial(bad)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});

describe('A8 CA certificate', () => {
  let ca: Awaited<ReturnType<typeof makeCa>>;
  beforeAll(async () => {
    ca = await makeCa();
  });

  it('is a self-signed P-256 / SHA-256 CA, critical basicConstraints CA:TRUE pathlen 0, keyCertSign + cRLSign, 10 years', () => {
    expect(openssl('verify', '-CAfile', ca.pemPath, ca.pemPath).status).toBe(0);
    const text = openssl('x509', '-in', ca.pemPath, '-noout', '-text').output;
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/NIST CURVE: P-256/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const years = (ca.certificate.notAfter.getTime() - ca.certificate.notBefore.getTime()) / (365.25 * 86_400_000);
    expect(years).toBeCloseTo(10, 1);
  });
});

describe('A8 role certificates', () => {
  let ca: Awaited<ReturnType<typeof makeCa>>;
  let otherCa: Awaited<ReturnType<typeof makeCa>>;
  beforeAll(async () => {
    ca = await makeCa();
    otherCa = await makeCa('another CA');
  });

  it('an operator certificate chains to the CA, is for TLS clients only and names no host', async () => {
    const { cert, path } = await leaf(ca, { role: 'operator', name: 'alice' });
    expect(openssl('verify', '-CAfile', ca.pemPath, path).status).toBe(0);
    expect(openssl('verify', '-purpose', 'sslclient', '-CAfile', ca.pemPath, path).status).toBe(0);
    const asServer = openssl('verify', '-purpose', 'sslserver', '-CAfile', ca.pemPath, path);
    expect(asServer.status).not.toBe(0);
    expect(asServer.output).toMatch(/unsuitable certificate purpose/);
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)).toBeNull();
    expect(certSubjectOf(cert)).toEqual({ role: 'operator', name: 'alice' });
  });

  it.each(['mtms', 'kms'] as const)('a %s certificate is for TLS clients and servers, digitalSignature only, SAN localhost + 127.0.0.1', async (role) => {
    const subject: CertSubject = role === 'kms' ? { role, name: 'kms-acme', customerCode: 'ACME' } : { role, name: 'mtms-1' };
    const { cert, path } = await leaf(ca, subject);
    expect(openssl('verify', '-purpose', 'sslclient', '-CAfile', ca.pemPath, path).status).toBe(0);
    expect(openssl('verify', '-purpose', 'sslserver', '-CAfile', ca.pemPath, path).status).toBe(0);
    const text = openssl('x509', '-in', path, '-noout', '-text').output;
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/Subject Alternative Name:\s+DNS:localhost, IP Address:127\.0\.0\.1/);
    expect(text).toMatch(/Authority Key Identifier/);
    expect(certSubjectOf(cert)).toEqual(subject);
    expect(openssl('x509', '-in', path, '-noout', '-subject').output.trim()).toBe(role === 'kms' ? 'subject=CN = kms-acme, OU = kms, O = ACME' : 'subject=CN = mtms-1, OU = mtms');
    expect(DEFAULT_SERVER_HOSTS).toEqual(['localhost', '127.0.0.1']);
  });

  it('a server certificate names the hosts it is given, DNS names lowercased', async () => {
    const { path } = await leaf(ca, { role: 'kms', name: 'kms-acme', customerCode: 'ACME' }, { hosts: ['KMS.acme.example', '10.1.2.3', '::1'] });
    expect(openssl('x509', '-in', path, '-noout', '-ext', 'subjectAltName').output).toMatch(/DNS:kms\.acme\.example, IP Address:10\.1\.2\.3, IP Address:0:0:0:0:0:0:0:1/);
  });

  it('lasts one year from a few minutes ago, and never past the CA', async () => {
    const now = new Date();
    const { cert } = await leaf(ca, { role: 'operator', name: 'alice' }, { now });
    // X.509 times have whole seconds (RFC 5280 §4.1.2.5.1).
    expect(Math.floor((now.getTime() - cert.notBefore.getTime()) / 1000)).toBe(300);
    expect(Math.round((cert.notAfter.getTime() - now.getTime()) / 86_400_000)).toBe(365);
    const old = await makeCa('old CA', new Date(now.getTime() - (10 * 365 - 30) * 86_400_000));
    const late = await leaf(old, { role: 'operator', name: 'bob' }, { now });
    expect(late.cert.notAfter.getTime()).toBe(old.certificate.notAfter.getTime());
  });

  it('a certificate of another CA does not verify against ours', async () => {
    const { path } = await leaf(otherCa, { role: 'operator', name: 'mallory' });
    const result = openssl('verify', '-CAfile', ca.pemPath, path);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/unable to get local issuer certificate/);
  });

  it('refuses bad subjects: DN metacharacters, oversized names, a kms without customer, a customer on another role', async () => {
    const bad: CertSubject[] = [
      { role: 'operator', name: 'alice,OU=mtms' },
      { role: 'operator', name: 'a+b' },
      { role: 'operator', name: '' },
      { role: 'operator', name: 'x'.repeat(65) },
      { role: 'operator', name: ' leading-space' },
      { role: 'kms', name: 'kms-1' },
      { role: 'kms', name: 'kms-1', customerCode: 'AC ME' },
      { role: 'kms', name: 'kms-1', customerCode: 'C'.repeat(33) },
      { role: 'mtms', name: 'mtms-1', customerCode: 'ACME' },
      { role: 'admin' as 'mtms', name: 'root' },
    ];
    for (const subject of bad) await expectCode(leaf(ca, subject), 'BAD_ARGUMENT');
  });

  it('refuses hosts on a client-only certificate, malformed hosts and too many hosts', async () => {
    await expectCode(leaf(ca, { role: 'operator', name: 'alice' }, { hosts: ['localhost'] }), 'BAD_ARGUMENT');
    await expectCode(leaf(ca, { role: 'mtms', name: 'm' }, { hosts: ['bad host'] }), 'BAD_ARGUMENT');
    await expectCode(leaf(ca, { role: 'mtms', name: 'm' }, { hosts: ['-x.example'] }), 'BAD_ARGUMENT');
    await expectCode(leaf(ca, { role: 'mtms', name: 'm' }, { hosts: [] }), 'BAD_ARGUMENT');
    await expectCode(leaf(ca, { role: 'mtms', name: 'm' }, { hosts: Array.from({ length: 17 }, (_, i) => `h${i}.example`) }), 'BAD_ARGUMENT');
  });
});

describe('A8 reading a certificate subject', () => {
  const signed = async (name: x509.JsonName) => {
    const keys = await newKeys();
    return x509.X509CertificateGenerator.createSelfSigned({ name, keys, signingAlgorithm: EC_SIGNING_ALGORITHM, serialNumber: randomSerial() });
  };

  it('refuses a subject with two OUs, no OU, an unknown role, or a KMS without its customer', async () => {
    const cases: x509.JsonName[] = [
      [{ CN: ['x'] }, { OU: ['operator'] }, { OU: ['mtms'] }],
      [{ CN: ['x'] }],
      [{ CN: ['x'] }, { OU: ['admin'] }],
      [{ CN: ['x'] }, { OU: ['kms'] }],
      [{ OU: ['mtms'] }],
      [{ CN: ['x'] }, { CN: ['y'] }, { OU: ['mtms'] }],
    ];
    for (const name of cases) await expectCode(async () => certSubjectOf(await signed(name)), 'CERT_SUBJECT_INVALID');
  });
});

describe('A8 certificate revocation list', () => {
  it('a revoked certificate fails `openssl verify -crl_check`; the others pass; the CRL is signed by the CA', async () => {
    const ca = await makeCa();
    const revoked = await leaf(ca, { role: 'kms', name: 'kms-acme', customerCode: 'ACME' });
    const good = await leaf(ca, { role: 'operator', name: 'alice' });
    const now = new Date();
    const crl = await signCrl(ca, [{ serial: normalizeSerial(revoked.cert.serialNumber), revokedAt: now, reason: 'keyCompromise' }], now);
    const pem = crlToPem(crl);
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n/);
    const crlPath = dirs.file('crl.pem', pem);

    const refused = openssl('verify', '-crl_check', '-CAfile', ca.pemPath, '-CRLfile', crlPath, revoked.path);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toMatch(/certificate revoked/);
    expect(openssl('verify', '-crl_check', '-CAfile', ca.pemPath, '-CRLfile', crlPath, good.path).status).toBe(0);

    expect(openssl('crl', '-in', crlPath, '-noout', '-CAfile', ca.pemPath).output).toMatch(/verify OK/);
    const text = openssl('crl', '-in', crlPath, '-noout', '-text').output;
    expect(text).toMatch(/Key Compromise/);
    expect(text).toMatch(/X509v3 CRL Number:\s+\d+/);
    expect(text).toMatch(/Authority Key Identifier/);
    expect(Math.round((crl.nextUpdate!.getTime() - crl.thisUpdate.getTime()) / 1000)).toBe(7 * 86_400);
  });

  it('a CRL signed by another CA is refused by openssl', async () => {
    const ca = await makeCa();
    const other = await makeCa('another CA');
    const good = await leaf(ca, { role: 'operator', name: 'alice' });
    const forged = dirs.file('crl.pem', crlToPem(await signCrl({ certificate: ca.certificate, privateKey: other.privateKey }, [], new Date())));
    const result = openssl('verify', '-crl_check', '-CAfile', ca.pemPath, '-CRLfile', forged, good.path);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/CRL signature failure/);
  });
});
