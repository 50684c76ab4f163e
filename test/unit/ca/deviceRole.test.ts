/**
 * A8: the CA's `device` role: a certificate for a key the device made (never one the CA makes),
 * named by the terminal serial, for signatures only (no TLS purpose), checked by openssl.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureCa } from '../../../host/ca/caStorage';
import { generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { openssl, tempDirs } from './fixtures';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());
const rng = (n: number) => new Uint8Array(randomBytes(n));

describe('A8 CA role device', () => {
  const database = useMigratedDatabase('sqlite');

  it('A8: certifies the device public key under CN=<serial>, OU=device, digitalSignature only and no extended key usage; openssl verifies it against the CA', async () => {
    const dataDir = dirs.make();
    const ca = await ensureCa({ dataDir, db: database().db });
    const device = generateP256KeyPair(rng);
    const issued = await ca.issue({ subject: { role: 'device', name: 'PP-0001' }, publicKey: device.publicKey });
    expect(issued.keyPem).toBeUndefined();
    expect(issued.record).toMatchObject({ role: 'device', subject: 'CN=PP-0001, OU=device' });
    const certFile = join(dataDir, 'device.pem');
    writeFileSync(certFile, issued.certPem);
    const text = openssl('x509', '-in', certFile, '-noout', '-text').output;
    expect(text).toMatch(/Digital Signature/);
    expect(text).not.toMatch(/Extended Key Usage/);
    expect(text.replace(/[\s:]/g, '').toUpperCase()).toContain(Buffer.from(device.publicKey).toString('hex').toUpperCase());
    expect(openssl('verify', '-CAfile', join(dataDir, 'ca', 'ca.pem'), certFile).output).toMatch(/OK/);
    expect((await ca.current({ role: 'device', name: 'PP-0001' }, new Date())).map((c) => c.serial)).toEqual([issued.record.serial]);
  });

  it('A8: a device certificate without the device key, a key for another role, a name that is not a serial or a point off the curve is refused', async () => {
    const ca = await ensureCa({ dataDir: dirs.make(), db: database().db });
    const device = generateP256KeyPair(rng);
    await expect(ca.issue({ subject: { role: 'device', name: 'PP-0002' } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(ca.issue({ subject: { role: 'operator', name: 'line 1' }, publicKey: device.publicKey })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(ca.issue({ subject: { role: 'device', name: 'pp lower' }, publicKey: device.publicKey })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    const offCurve = device.publicKey.slice();
    offCurve[64] ^= 1;
    await expect(ca.issue({ subject: { role: 'device', name: 'PP-0002' }, publicKey: offCurve })).rejects.toMatchObject({ code: 'PUBLIC_KEY_INVALID' });
    expect(await ca.current({ role: 'device', name: 'PP-0002' }, new Date())).toEqual([]);
  });
});
