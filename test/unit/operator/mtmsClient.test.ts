/**
 * The operator's MTMS client (host/operator/mtmsClient) and identity files (operatorIdentity) over
 * real loopback mutual TLS against MTMS's own routes (host/mtms/router) with certificates of the
 * paypad CA: the three calls (A3, A5, A6), MTMS's typed refusals, and A8 both ways (MTMS refuses a
 * bad operator certificate; the operator refuses a peer that is not MTMS of our CA).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMtmsClient, type MtmsPort } from '../../../host/operator/mtmsClient';
import { readOperatorIdentity } from '../../../host/operator/operatorIdentity';
import type { TlsIdentity } from '../../../host/tls/identity';
import { crlRevocationSource } from '../../../host/tls/crlRevocation';
import { mtlsRequest } from '../../../host/tls/mtlsRequest';
import { PaypadError } from '../../../shared/errors';
import { createPki, type FakeMtms, type PkiFixture, startFakeMtms } from './support/fakeMtms';

const SEED = { customers: [['ACME', 'Acme Bank'], ['GLOBEX', 'Globex Pay']] as [string, string][], serials: [['PP-0001', 'ACME']] as [string, string][] };
const ENVELOPE = 'C3'.repeat(90);

let pki: PkiFixture;
let mtms: FakeMtms;
let alice: TlsIdentity;
const stopped: (() => Promise<void>)[] = [];

beforeAll(async () => {
  pki = await createPki();
  alice = await pki.issue({ role: 'operator', name: 'alice' });
  mtms = await startFakeMtms(pki, await pki.issue({ role: 'mtms', name: 'mtms-1' }), SEED);
  stopped.push(() => mtms.close());
});

afterAll(async () => {
  await Promise.all(stopped.map((stop) => stop()));
  await pki.cleanup();
});

const client = (identity: TlsIdentity = alice, url = mtms.url): MtmsPort => createMtmsClient({ baseUrl: url, identity, timeoutMs: 5_000 });

async function failure(promise: Promise<unknown>): Promise<PaypadError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof PaypadError) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('A3/A5/A6 operator calls to MTMS over mutual TLS', () => {
  it('A3 lookup answers the customer of the serial', async () => {
    expect(await client().lookup('PP-0001')).toEqual({ v: 1, serial: 'PP-0001', customerCode: 'ACME', customerName: 'Acme Bank' });
  });

  it('A3 an unknown serial is MTMS_REFUSED carrying MTMS_SERIAL_UNKNOWN and 404', async () => {
    expect(await failure(client().lookup('PP-9999'))).toMatchObject({ code: 'MTMS_REFUSED', remoteCode: 'MTMS_SERIAL_UNKNOWN', status: 404 });
  });

  it('A6/A14 customer-name answers one customer for this serial, and refuses an unknown code', async () => {
    expect(await client().customerName('PP-0001', 'GLOBEX')).toMatchObject({ serial: 'PP-0001', customerCode: 'GLOBEX', customerName: 'Globex Pay' });
    expect(await failure(client().customerName('PP-0001', 'NOPE'))).toMatchObject({ remoteCode: 'MTMS_CUSTOMER_UNKNOWN', status: 404 });
    expect(mtms.state.nameQuestions).toEqual([
      ['PP-0001', 'GLOBEX'],
      ['PP-0001', 'NOPE'],
    ]);
  });

  it('A5/A10 uploads the envelope unchanged; MTMS sees the operator named by the certificate', async () => {
    const receipt = await client().uploadTk({ serial: 'PP-0001', tkEnvelope: ENVELOPE, ...DEVICE_PART });
    expect(receipt).toMatchObject({ serial: 'PP-0001', customerCode: 'ACME' });
    const recorded = mtms.state.uploads.find((u) => u.deliveryId === receipt.deliveryId)!;
    expect(recorded.request).toEqual({ v: 1, serial: 'PP-0001', tkEnvelope: ENVELOPE, confirmed: true, ...DEVICE_PART });
    expect(recorded.operator.name).toBe('alice');
  });

  it('A8 asks for a TK challenge for the serial in hand; an answer for another serial is refused', async () => {
    const challenge = await client().tkChallenge('PP-0001');
    expect(challenge).toMatchObject({ serial: 'PP-0001', nonce: expect.stringMatching(/^[0-9A-F]{64}$/) });
    const lying = createMtmsClient({ baseUrl: mtms.url, identity: alice, request: async (o) => ({ ...(await mtlsRequest(o)), json: { ...((await mtlsRequest(o)).json as object), serial: 'PP-0002' } }) });
    expect((await failure(lying.tkChallenge('PP-0001'))).code).toBe('PROTOCOL_MALFORMED');
  });

  it('refuses to send an upload MTMS would refuse (checked with the same schema)', async () => {
    const e = await failure(client().uploadTk({ serial: 'PP-0001', tkEnvelope: 'not hex', ...DEVICE_PART }));
    expect(e.code).toBe('PROTOCOL_MALFORMED');
  });

  it('checks each answer is about what was asked', async () => {
    const lying = createMtmsClient({
      baseUrl: mtms.url,
      identity: alice,
      request: async (options) => {
        const res = await mtlsRequest(options);
        return { ...res, json: { ...(res.json as object), serial: 'PP-0002' } };
      },
    });
    expect(await failure(lying.lookup('PP-0001'))).toMatchObject({ code: 'PROTOCOL_MALFORMED', message: expect.stringMatching(/answered serial PP-0002/) });
    expect((await failure(lying.customerName('PP-0001', 'GLOBEX'))).code).toBe('PROTOCOL_MALFORMED');
  });

  it('an error status without a paypad error body is HTTP_FAILED', async () => {
    const odd = createMtmsClient({ baseUrl: mtms.url, identity: alice, request: async (options) => ({ ...(await mtlsRequest(options)), status: 502, json: { oops: true } }) });
    expect((await failure(odd.lookup('PP-0001'))).code).toBe('HTTP_FAILED');
  });

  it('keeps a path prefix of the base URL and refuses a URL that is not https', async () => {
    const seen: string[] = [];
    const spy = createMtmsClient({ baseUrl: `${mtms.url}/gateway/`, identity: alice, request: async (o) => (seen.push(String(o.url)), mtlsRequest({ ...o, url: mtms.url + '/mtms/v1/lookup' })) });
    await spy.lookup('PP-0001');
    expect(seen).toEqual([`${mtms.url}/gateway/mtms/v1/lookup`]);
    for (const bad of ['http://127.0.0.1:1', 'not a url', `${mtms.url}?x=1`]) {
      expect(() => createMtmsClient({ baseUrl: bad, identity: alice }), bad).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    }
  });
});

/** The device's part of an upload (A8): relayed as the terminal sent it; MTMS checks it. */
const DEVICE_PART = { nonce: 'AB'.repeat(32), deviceSignature: '5A'.repeat(64), deviceCertificate: '30'.repeat(300) };

describe('A8 certificates, both directions', () => {
  it('a revoked operator certificate: MTMS answers 401 CLIENT_CERT_REVOKED', async () => {
    const bob = await pki.issue({ role: 'operator', name: 'bob' });
    const { serial } = (await pki.ca.list()).find((c) => c.subject === 'CN=bob, OU=operator')!;
    await pki.ca.revoke(serial, 'keyCompromise');
    expect(await failure(client(bob).lookup('PP-0001'))).toMatchObject({ code: 'MTMS_REFUSED', remoteCode: 'CLIENT_CERT_REVOKED', status: 401 });
  });

  it('a certificate for another role (a KMS posing as operator): 403 CLIENT_CERT_ROLE', async () => {
    const kms = await pki.issue({ role: 'kms', name: 'kms-acme', customerCode: 'ACME' });
    expect(await failure(client(kms).lookup('PP-0001'))).toMatchObject({ remoteCode: 'CLIENT_CERT_ROLE', status: 403 });
  });

  it('a peer that is not MTMS (a KMS certificate of our CA) gets no request: PEER_CERT_MISMATCH', async () => {
    const fake = await startFakeMtms(pki, await pki.issue({ role: 'kms', name: 'kms-acme', customerCode: 'ACME' }), SEED);
    stopped.push(() => fake.close());
    expect(await failure(client(alice, fake.url).uploadTk({ serial: 'PP-0001', tkEnvelope: ENVELOPE, ...DEVICE_PART }))).toMatchObject({ code: 'PEER_CERT_MISMATCH' });
    expect(fake.state.uploads).toEqual([]);
  });

  it('an MTMS of another CA gets no request: PEER_CERT_UNTRUSTED', async () => {
    const other = await createPki();
    stopped.push(() => other.cleanup());
    const impostor = await startFakeMtms(other, await other.issue({ role: 'mtms', name: 'mtms-1' }), SEED);
    stopped.push(() => impostor.close());
    expect((await failure(client(alice, impostor.url).uploadTk({ serial: 'PP-0001', tkEnvelope: ENVELOPE, ...DEVICE_PART }))).code).toBe('PEER_CERT_UNTRUSTED');
    expect(impostor.state.uploads).toEqual([]);
  });

  it("A8 with the CA's CRL, an MTMS whose certificate the CA revoked gets no request: PEER_CERT_REVOKED; a CRL of another CA or an expired one is refused", async () => {
    const revokedMtms = await startFakeMtms(pki, await pki.issue({ role: 'mtms', name: 'mtms-revoked' }), SEED);
    stopped.push(() => revokedMtms.close());
    const { serial } = (await pki.ca.list()).find((c) => c.subject === 'CN=mtms-revoked, OU=mtms')!;
    await pki.ca.revoke(serial, 'keyCompromise');
    const revocation = await crlRevocationSource(await pki.ca.crlPem(), alice.caPem, 'crl.pem');
    const withCrl = (url: string) => createMtmsClient({ baseUrl: url, identity: alice, revocation, timeoutMs: 5_000 });
    expect(await failure(withCrl(revokedMtms.url).uploadTk({ serial: 'PP-0001', tkEnvelope: ENVELOPE, ...DEVICE_PART }))).toMatchObject({ code: 'PEER_CERT_REVOKED', message: expect.stringContaining(serial) });
    expect(revokedMtms.state.uploads).toEqual([]);
    // Without the CRL the station cannot tell: the chain and the role are fine.
    expect(await client(alice, revokedMtms.url).lookup('PP-0001')).toMatchObject({ customerCode: 'ACME' });
    expect(await withCrl(mtms.url).lookup('PP-0001')).toMatchObject({ customerCode: 'ACME' });

    const other = await createPki();
    stopped.push(() => other.cleanup());
    await expect(crlRevocationSource(await other.ca.crlPem(), alice.caPem, 'other.pem')).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('not signed by the paypad CA') });
    await expect(crlRevocationSource(await pki.ca.crlPem(), alice.caPem, 'old.pem', new Date(Date.now() + 8 * 86_400_000))).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('expired') });
    await expect(crlRevocationSource(alice.certPem, alice.caPem, 'cert.pem')).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('does not hold a PEM CRL') });
  });

  it('MTMS not listening is HTTP_FAILED naming the address', async () => {
    const gone = await startFakeMtms(pki, await pki.issue({ role: 'mtms', name: 'mtms-2' }), SEED);
    await gone.close();
    expect(await failure(client(alice, gone.url).lookup('PP-0001'))).toMatchObject({ code: 'HTTP_FAILED', message: expect.stringMatching(/ECONNREFUSED/) });
  });
});

describe('operator identity files (--cert, --key, --ca)', () => {
  it('reads a matching operator certificate and key', async () => {
    const files = pki.files(alice);
    const { identity, subject } = await readOperatorIdentity(files);
    expect(identity).toEqual(alice);
    expect(subject).toMatchObject({ role: 'operator', name: 'alice' });
  });

  it.each([
    ['a missing file', (f: ReturnType<PkiFixture['files']>) => ({ ...f, key: join(f.key, 'nope') }), /cannot read the private key file .*ENOTDIR|cannot read the private key file .*ENOENT/],
    ['a file that is not PEM', (f: ReturnType<PkiFixture['files']>) => (writeFileSync(f.cert, 'hello'), f), /does not hold a PEM certificate/],
  ])('refuses %s with CONFIG_INVALID', async (_name, spoil, message) => {
    const files = spoil(pki.files(alice));
    expect(await failure(readOperatorIdentity(files))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(message) });
  });

  it('refuses a key of another certificate, a certificate of another CA, and a non-operator certificate', async () => {
    const carol = await pki.issue({ role: 'operator', name: 'carol' });
    const mixed = pki.files({ ...alice, keyPem: carol.keyPem });
    expect((await failure(readOperatorIdentity(mixed))).message).toMatch(/does not belong to the certificate/);

    const other = await createPki();
    stopped.push(() => other.cleanup());
    const foreign = await other.issue({ role: 'operator', name: 'alice' });
    expect((await failure(readOperatorIdentity(pki.files({ ...foreign, caPem: alice.caPem })))).message).toMatch(/was not issued by the CA/);

    const server = await pki.issue({ role: 'mtms', name: 'mtms-9' });
    expect((await failure(readOperatorIdentity(pki.files(server)))).message).toMatch(/is for role mtms; the operating terminal needs an operator certificate/);
  });

  it('refuses an expired certificate', async () => {
    const files = pki.files(alice);
    const later = new Date(Date.now() + 2 * 365 * 86_400_000);
    expect((await failure(readOperatorIdentity(files, later))).message).toMatch(/expired on/);
  });
});
