/**
 * A14 at MTMS over loopback HTTPS: lookups by serial and by customer code draw on a token bucket
 * per operator certificate (host/mtms/lookupLimits.ts). An operator probing serials or codes is
 * stopped at the bucket with 429 MTMS_LOOKUP_RATE_LIMITED and Retry-After, every answered lookup
 * is audited with the certificate, another station keeps working, and the bucket refills with
 * time (MTMS's clock is injected: nothing sleeps). Enrolment challenges draw on the same bucket.
 * On SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority, IssuedIdentity } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import type { Database } from '../../../host/db/database';
import { createLogger } from '../../../host/log';
import type { LookupLimits } from '../../../host/mtms/lookupLimits';
import { type RunningMtms, startMtms } from '../../../host/mtms/mtmsInstance';
import { createMtmsClient } from '../../../host/operator/mtmsClient';
import type { TlsIdentity } from '../../../host/tls/identity';
import { mtlsRequest } from '../../../host/tls/mtlsRequest';
import { peerIdentityOf } from '../../../host/tls/peer';
import { x509 } from '../../../host/ca/x509';
import { MESSAGE_VERSION } from '../../../shared/protocol/messages';
import { DIALECTS, useMigratedDatabase } from '../../store/helpers/testDatabase';
import { tempDir } from './mtmsTestKit';

const logger = createLogger({ level: 'silent' });
/** One token every 10 s; two misses empty a full bucket. */
const LIMITS: LookupLimits = { bucketSize: 10, refillPerMinute: 6, missCost: 5 };

function identity(issued: IssuedIdentity): TlsIdentity {
  if (issued.keyPem === undefined) throw new Error('expected a CA-generated key');
  return { certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caPem };
}

const certSerial = (id: TlsIdentity) => peerIdentityOf(new Uint8Array(new x509.X509Certificate(id.certPem).rawData)).serial;

describe.each(DIALECTS)('A14 lookup limits at MTMS over loopback HTTPS (%s)', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let db: Database;
  let ca: CertificateAuthority;
  let mtms: RunningMtms;
  let mallory: TlsIdentity;
  let alice: TlsIdentity;
  // MTMS's clock stands still but for what the test advances (TLS checks certificates against the real one).
  let now = Date.now();
  const clock = () => new Date(now);

  beforeAll(async () => {
    db = database();
    const dataDir = await tempDir();
    ca = await ensureCa({ dataDir, db: db.db });
    mtms = await startMtms({ dataDir, db: db.db, dialect: db.dialect, ca, port: 0, host: '127.0.0.1', logger, lookupLimits: LIMITS, clock });
    mallory = identity(await ca.issue({ subject: { role: 'operator', name: 'mallory' } }));
    alice = identity(await ca.issue({ subject: { role: 'operator', name: 'alice' } }));
    await mtms.store.addCustomer({ code: 'ACME', name: 'Acme Bank', kmsUrl: 'https://kms-acme.example:8790' }, 'admin:test');
    await mtms.store.addCustomer({ code: 'BETA', name: 'Beta Savings', kmsUrl: 'https://kms-beta.example:8790' }, 'admin:test');
    await mtms.store.addSerials(['PP-0001', 'PP-0002'], 'ACME', 'admin:test');
  });

  afterAll(async () => {
    await mtms?.close({ graceMs: 0 });
  });

  const lookup = (as: TlsIdentity, serial: string) => mtlsRequest({ url: `${mtms.url}/mtms/v1/lookup`, identity: as, expectPeer: { role: 'mtms' }, body: { v: MESSAGE_VERSION, serial } });
  const customerName = (as: TlsIdentity, serial: string, customerCode: string) =>
    mtlsRequest({ url: `${mtms.url}/mtms/v1/customer-name`, identity: as, expectPeer: { role: 'mtms' }, body: { v: MESSAGE_VERSION, serial, customerCode } });
  const auditBy = (name: string) => db.db.selectFrom('audit_log').selectAll().where('actor', '=', `operator:${name}`).orderBy('id').execute();

  it('A14 enumerating serials and customer codes stops at the bucket: 429 MTMS_LOOKUP_RATE_LIMITED with Retry-After, and each lookup is audited with the operator certificate', async () => {
    // Two misses (5 tokens each) empty the bucket; the next probe is refused, whatever it asks.
    expect((await lookup(mallory, 'PP-9001')).status).toBe(404);
    expect((await customerName(mallory, 'PP-0001', 'C999')).json).toMatchObject({ error: { code: 'MTMS_CUSTOMER_UNKNOWN' } });
    for (const probe of [() => lookup(mallory, 'PP-9002'), () => lookup(mallory, 'PP-0001'), () => customerName(mallory, 'PP-0001', 'BETA')]) {
      const refused = await probe();
      expect(refused).toMatchObject({ status: 429, json: { error: { code: 'MTMS_LOOKUP_RATE_LIMITED', message: expect.stringContaining('in 10 s') } } });
      expect(refused.headers['retry-after']).toBe('10');
    }
    // The operating terminal reports it as MTMS's typed refusal.
    const client = createMtmsClient({ baseUrl: mtms.url, identity: mallory });
    await expect(client.lookup('PP-0002')).rejects.toMatchObject({ code: 'MTMS_REFUSED', remoteCode: 'MTMS_LOOKUP_RATE_LIMITED', status: 429 });

    const serial = certSerial(mallory);
    const trail = (await auditBy('mallory')).map((e) => [e.action, e.subject, JSON.parse(e.detail) as Record<string, unknown>]);
    expect(trail).toEqual([
      ['mtms.serial.looked-up', 'terminal:PP-9001', { found: false, operatorCertSerial: serial, bucketLeft: 5 }],
      ['mtms.customer-name.asked', 'terminal:PP-0001', { customerCode: 'C999', found: false, operatorCertSerial: serial, bucketLeft: 0 }],
      // A run of refusals is audited once; the next answered lookup counts them.
      ['mtms.lookup.limited', 'terminal:PP-9002', { lookup: 'mtms.serial.looked-up', operatorCertSerial: serial, retryAfterS: 10 }],
    ]);
  });

  it('A14 another station onboards meanwhile: its lookups are answered from its own bucket', async () => {
    const client = createMtmsClient({ baseUrl: mtms.url, identity: alice });
    expect(await client.lookup('PP-0001')).toMatchObject({ customerCode: 'ACME', customerName: 'Acme Bank' });
    expect(await client.customerName('PP-0001', 'BETA')).toMatchObject({ customerCode: 'BETA', customerName: 'Beta Savings' });
    expect((await auditBy('alice')).map((e) => [e.action, (JSON.parse(e.detail) as { found: boolean }).found])).toEqual([
      ['mtms.serial.looked-up', true],
      ['mtms.customer-name.asked', true],
    ]);
  });

  it('A14 the bucket refills with time: one token every 10 s, up to the bucket size', async () => {
    now += 9_000;
    expect((await lookup(mallory, 'PP-0001')).headers['retry-after']).toBe('1');
    now += 1_000;
    expect(await lookup(mallory, 'PP-0001')).toMatchObject({ status: 200, json: { customerCode: 'ACME' } });
    expect((await lookup(mallory, 'PP-0002')).status).toBe(429);
    const [answered, refused] = (await auditBy('mallory')).slice(-2).map((e) => [e.action, JSON.parse(e.detail) as unknown]);
    expect(answered).toEqual(['mtms.serial.looked-up', { found: true, operatorCertSerial: certSerial(mallory), bucketLeft: 0, refusedBefore: 5 }]);
    // A new run of refusals after an answered lookup is audited again.
    expect(refused).toEqual(['mtms.lookup.limited', { lookup: 'mtms.serial.looked-up', operatorCertSerial: certSerial(mallory), retryAfterS: 10 }]);
    // An hour later: a full bucket of hits, not more.
    now += 3_600_000;
    for (let i = 0; i < LIMITS.bucketSize; i++) expect((await lookup(mallory, 'PP-0002')).status).toBe(200);
    expect((await lookup(mallory, 'PP-0002')).status).toBe(429);
  });

  it('A14 A8: enrolment challenges draw on the same bucket, a serial MTMS does not know at the miss cost: probing serials by enrolment stops at 429, audited', async () => {
    const eve = identity(await ca.issue({ subject: { role: 'operator', name: 'eve' } }));
    const carol = identity(await ca.issue({ subject: { role: 'operator', name: 'carol' } }));
    const enrolChallenge = (as: TlsIdentity, serial: string) => mtlsRequest({ url: `${mtms.url}/mtms/v1/device-challenge`, identity: as, expectPeer: { role: 'mtms' }, body: { v: MESSAGE_VERSION, serial } });
    // Answered alike for a serial MTMS knows and one it does not (the answer tells nothing) ...
    expect(await enrolChallenge(eve, 'PP-9101')).toMatchObject({ status: 200, json: { serial: 'PP-9101' } });
    expect(await enrolChallenge(eve, 'PP-9102')).toMatchObject({ status: 200, json: { serial: 'PP-9102' } });
    // ... but charged by it: two misses empty the bucket, and the next challenge is refused, whatever it asks.
    const refused = await enrolChallenge(eve, 'PP-0001');
    expect(refused).toMatchObject({ status: 429, json: { error: { code: 'MTMS_LOOKUP_RATE_LIMITED' } } });
    expect(refused.headers['retry-after']).toBe('10');
    expect((await lookup(eve, 'PP-0001')).status).toBe(429);
    // A station enrolling real serials pays a hit each.
    expect((await enrolChallenge(carol, 'PP-0001')).status).toBe(200);

    const trail = async (name: string) => (await auditBy(name)).map((e) => [e.action, e.subject, JSON.parse(e.detail) as Record<string, unknown>]);
    expect(await trail('eve')).toEqual([
      ['mtms.device.challenged', 'terminal:PP-9101', { found: false, operatorCertSerial: certSerial(eve), bucketLeft: 5 }],
      ['mtms.device.challenged', 'terminal:PP-9102', { found: false, operatorCertSerial: certSerial(eve), bucketLeft: 0 }],
      ['mtms.lookup.limited', 'terminal:PP-0001', { lookup: 'mtms.device.challenged', operatorCertSerial: certSerial(eve), retryAfterS: 10 }],
    ]);
    expect(await trail('carol')).toEqual([['mtms.device.challenged', 'terminal:PP-0001', { found: true, operatorCertSerial: certSerial(carol), bucketLeft: 9 }]]);
  });
});
