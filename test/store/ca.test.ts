/**
 * A8: the CA's register of issued certificates and revocations, and the CA service over it, on
 * every dialect (SQLite always, PostgreSQL when DATABASE_URL is set).
 */
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureCa } from '../../host/ca/caStorage';
import { createCertificateStore, type IssuedCertificate } from '../../host/ca/certificateStore';
import { randomSerial } from '../../host/ca/certificates';
import { isoTimestamp } from '../../host/db/schema';
import { isPaypadError } from '../../shared/errors';
import { openssl, tempDirs } from '../unit/ca/fixtures';
import { createTestStore, DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

const DAY = 86_400_000;

function record(overrides: Partial<IssuedCertificate> = {}): IssuedCertificate {
  const now = Date.now();
  return {
    serial: randomSerial(),
    role: 'kms',
    subject: 'CN=kms-acme, OU=kms, O=ACME',
    customerCode: 'ACME',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * DAY),
    certificatePem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
    ...overrides,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
  }
}

describe.each(DIALECTS)('A8 CA register on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('records a certificate once and reads it back exactly', async () => {
    const certs = createCertificateStore(database().db);
    const cert = record();
    await certs.record(cert);
    expect(await certs.get(cert.serial)).toEqual(cert);
    expect(await certs.get(cert.serial.toLowerCase())).toEqual(cert);
    expect(await codeOf(certs.record(cert))).toBe('CERT_EXISTS');
    const operator = record({ role: 'operator', subject: 'CN=alice, OU=operator', customerCode: undefined });
    await certs.record(operator);
    expect(await certs.get(operator.serial)).toEqual(operator);
    expect((await certs.list()).map((c) => c.serial)).toEqual(expect.arrayContaining([cert.serial, operator.serial]));
  });

  it('answers revocation status as OCSP does: unknown, good, revoked', async () => {
    const certs = createCertificateStore(database().db);
    const cert = record();
    expect(await certs.revocationStatus(cert.serial)).toBe('unknown');
    await certs.record(cert);
    expect(await certs.revocationStatus(cert.serial)).toBe('good');
    const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6));
    const revoked = await certs.revoke(`00${cert.serial.toLowerCase()}`, 'keyCompromise', at);
    expect(revoked).toMatchObject({ serial: cert.serial, revokedAt: at, revocationReason: 'keyCompromise' });
    expect(await certs.revocationStatus(cert.serial)).toBe('revoked');
  });

  it('revokes once: a second revocation fails and keeps the first reason; unknown serials and reasons are refused', async () => {
    const certs = createCertificateStore(database().db);
    const cert = record();
    await certs.record(cert);
    await certs.revoke(cert.serial, 'superseded', new Date());
    expect(await codeOf(certs.revoke(cert.serial, 'keyCompromise', new Date()))).toBe('CERT_ALREADY_REVOKED');
    expect((await certs.get(cert.serial))?.revocationReason).toBe('superseded');
    expect(await codeOf(certs.revoke(randomSerial(), 'unspecified', new Date()))).toBe('CERT_NOT_FOUND');
    const other = record();
    await certs.record(other);
    expect(await codeOf(certs.revoke(other.serial, 'certificateHold' as 'unspecified', new Date()))).toBe('BAD_ARGUMENT');
    expect(await codeOf(certs.revoke('not-hex', 'unspecified', new Date()))).toBe('BAD_ARGUMENT');
    expect(await certs.revocationStatus(other.serial)).toBe('good');
  });

  it('concurrent revocations from two host processes: exactly one wins', async () => {
    const testStore = await createTestStore(dialect);
    try {
      const first = testStore.open();
      const { migrateToLatest } = await import('../../host/db/migrate');
      await migrateToLatest(first);
      const a = createCertificateStore(first.db);
      const b = createCertificateStore(testStore.open().db);
      const cert = record();
      await a.record(cert);
      const results = await Promise.allSettled([a.revoke(cert.serial, 'keyCompromise', new Date()), b.revoke(cert.serial, 'superseded', new Date()), a.revoke(cert.serial, 'unspecified', new Date())]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isPaypadError(r.reason, 'CERT_ALREADY_REVOKED')).toBe(true);
      expect(await b.revocationStatus(cert.serial)).toBe('revoked');
    } finally {
      await testStore.destroy();
    }
  });

  it('lists for the CRL only revoked certificates that have not expired', async () => {
    const certs = createCertificateStore(database().db);
    const now = new Date();
    const live = record();
    const expired = record({ notBefore: new Date(now.getTime() - 400 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const good = record();
    for (const c of [live, expired, good]) await certs.record(c);
    await certs.revoke(live.serial, 'keyCompromise', now);
    await certs.revoke(expired.serial, 'keyCompromise', now);
    const serials = (await certs.revoked(now)).map((r) => r.serial);
    expect(serials).toContain(live.serial);
    expect(serials).not.toContain(expired.serial);
    expect(serials).not.toContain(good.serial);
  });

  it('the table refuses a revocation time without a reason', async () => {
    const db = database().db.withTables<{ ca_certificates: Record<string, string | null> }>();
    const at = isoTimestamp(new Date());
    await expect(
      sql`insert into ca_certificates (serial, role, subject, customer_code, not_before, not_after, certificate, revoked_at, revocation_reason)
          values (${randomSerial()}, 'operator', 'CN=x, OU=operator', null, ${at}, ${at}, 'pem', ${at}, null)`.execute(db),
    ).rejects.toThrow();
  });
});

describe.each(DIALECTS)('A8 CA service on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('ensureCa makes the dev CA on first start and loads the same CA afterwards', async () => {
    const dataDir = dirs.make();
    const first = await ensureCa({ dataDir, db: database().db });
    const second = await ensureCa({ dataDir, db: database().db });
    expect(second.caCertificatePem).toBe(first.caCertificatePem);
  });

  it('records what it issues; a revocation shows in status and in a CRL that openssl enforces', async () => {
    const dataDir = dirs.make();
    const ca = await ensureCa({ dataDir, db: database().db });
    const kms = await ca.issue({ subject: { role: 'kms', name: 'kms-acme', customerCode: 'ACME' } });
    const operator = await ca.issue({ subject: { role: 'operator', name: 'alice' } });
    expect(kms.record).toMatchObject({ role: 'kms', subject: 'CN=kms-acme, OU=kms, O=ACME', customerCode: 'ACME' });
    expect(kms.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const listed = await ca.list();
    expect(listed.find((c) => c.serial === kms.record.serial)?.certificatePem).toBe(kms.certPem);

    const caPath = dirs.file('ca.pem', ca.caCertificatePem);
    const kmsPath = dirs.file('kms.pem', kms.certPem);
    const operatorPath = dirs.file('operator.pem', operator.certPem);
    expect(openssl('verify', '-CAfile', caPath, kmsPath).status).toBe(0);

    expect(await ca.isRevoked(kms.record.serial)).toBe(false);
    await ca.revoke(kms.record.serial, 'keyCompromise');
    expect(await ca.isRevoked(kms.record.serial)).toBe(true);
    // Another host process sharing the database sees it too.
    const elsewhere = await ensureCa({ dataDir, db: database().db });
    expect(await elsewhere.revocationStatus(kms.record.serial)).toBe('revoked');

    const crlPath = dirs.file('crl.pem', await ca.crlPem());
    const refused = openssl('verify', '-crl_check', '-CAfile', caPath, '-CRLfile', crlPath, kmsPath);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toMatch(/certificate revoked/);
    expect(openssl('verify', '-crl_check', '-CAfile', caPath, '-CRLfile', crlPath, operatorPath).status).toBe(0);
  });

  it('certifies the key of a P-256 CSR under the subject the CA chooses, and refuses other CSRs', async () => {
    const ca = await ensureCa({ dataDir: dirs.make(), db: database().db });
    const dir = dirs.make();
    const csr = (curve: string, subject: string) => {
      const base = `${dir}/${curve}-${Math.random().toString(36).slice(2)}`;
      const r = openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-keyout', `${base}.key`, '-subj', subject, '-out', `${base}.csr`);
      expect(r.status).toBe(0);
      return { csrPem: openssl('req', '-in', `${base}.csr`).output, keyPath: `${base}.key` };
    };
    // The request asks for another role: the CA ignores the requested subject.
    const { csrPem, keyPath } = csr('P-256', '/CN=evil/OU=mtms');
    const issued = await ca.issue({ subject: { role: 'operator', name: 'bob' }, csrPem });
    expect(issued.keyPem).toBeUndefined();
    const certPath = dirs.file('bob.pem', issued.certPem);
    expect(openssl('x509', '-in', certPath, '-noout', '-subject').output.trim()).toBe('subject=CN = bob, OU = operator');
    expect(openssl('x509', '-in', certPath, '-noout', '-pubkey').output).toBe(openssl('pkey', '-in', keyPath, '-pubout').output);

    expect(await codeOf(ca.issue({ subject: { role: 'operator', name: 'c' }, csrPem: csr('P-384', '/CN=c').csrPem }))).toBe('CSR_INVALID');
    expect(await codeOf(ca.issue({ subject: { role: 'operator', name: 'c' }, csrPem: 'garbage' }))).toBe('CSR_INVALID');
    // Tamper with the signature: the last octet of the DER.
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 1] ^= 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await codeOf(ca.issue({ subject: { role: 'operator', name: 'c' }, csrPem: tampered }))).toBe('CSR_INVALID');
  });

  it('refuses to issue for a bad subject and records nothing then', async () => {
    const ca = await ensureCa({ dataDir: dirs.make(), db: database().db });
    const before = (await ca.list()).length;
    expect(await codeOf(ca.issue({ subject: { role: 'kms', name: 'kms-1' } }))).toBe('BAD_ARGUMENT');
    expect(await codeOf(ca.issue({ subject: { role: 'operator', name: 'a' }, hosts: ['localhost'] }))).toBe('BAD_ARGUMENT');
    expect((await ca.list()).length).toBe(before);
  });
});
