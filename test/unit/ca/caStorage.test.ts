/**
 * A8: the CA's key and certificate on disk: made once, never replaced, the key owner-only, and
 * refused when incomplete, exposed, or not a matching pair.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CA_CERT_FILE, CA_KEY_FILE, caDirectory, initCa, loadCaKeys } from '../../../host/ca/caStorage';
import { isPaypadError } from '../../../shared/errors';
import { openssl, tempDirs } from './fixtures';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
  }
}

describe('A8 CA storage', () => {
  it('init writes the key (PKCS#8, mode 0600) and the certificate in a 0700 directory; load reads the same CA', async () => {
    const dataDir = join(dirs.make(), 'data');
    const made = await initCa(dataDir, 'paypad test CA');
    const dir = caDirectory(dataDir);
    expect(readdirSync(dir).sort()).toEqual([CA_CERT_FILE, CA_KEY_FILE].sort());
    expect(statSync(join(dir, CA_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, CA_KEY_FILE), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(openssl('pkey', '-in', join(dir, CA_KEY_FILE), '-noout', '-text').output).toMatch(/NIST CURVE: P-256/);
    expect(openssl('x509', '-in', join(dir, CA_CERT_FILE), '-noout', '-subject').output.trim()).toBe('subject=CN = paypad test CA');
    // No staging directory is left behind.
    expect(readdirSync(dataDir)).toEqual(['ca']);

    const loaded = await loadCaKeys(dataDir);
    expect(loaded?.certificate.equal(made.certificate)).toBe(true);
    expect(loaded?.privateKey.extractable).toBe(false);
  });

  it('a data directory without a CA loads as undefined', async () => {
    expect(await loadCaKeys(dirs.make())).toBeUndefined();
    const dataDir = dirs.make();
    mkdirSync(caDirectory(dataDir));
    expect(await loadCaKeys(dataDir)).toBeUndefined();
  });

  it('never replaces a CA: a second init fails with CA_EXISTS and leaves the files as they were', async () => {
    const dataDir = dirs.make();
    await initCa(dataDir);
    const before = readFileSync(join(caDirectory(dataDir), CA_KEY_FILE), 'utf8');
    expect(await codeOf(initCa(dataDir))).toBe('CA_EXISTS');
    expect(readFileSync(join(caDirectory(dataDir), CA_KEY_FILE), 'utf8')).toBe(before);
  });

  it('concurrent inits make exactly one CA', async () => {
    const dataDir = dirs.make();
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => initCa(dataDir)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(isPaypadError(r.reason, 'CA_EXISTS')).toBe(true);
    expect(readdirSync(dataDir)).toEqual(['ca']);
  });

  it('refuses a bad CA name', async () => {
    expect(await codeOf(initCa(dirs.make(), 'CA, O=evil'))).toBe('BAD_ARGUMENT');
  });

  it('refuses a CA with one file missing, a key readable by others, a key of another CA, or a non-CA certificate', async () => {
    const a = dirs.make();
    const b = dirs.make();
    await initCa(a);
    await initCa(b);
    const keyOf = (d: string) => join(caDirectory(d), CA_KEY_FILE);
    const certOf = (d: string) => join(caDirectory(d), CA_CERT_FILE);

    const missing = dirs.make();
    mkdirSync(caDirectory(missing));
    copyFileSync(certOf(a), certOf(missing));
    expect(await codeOf(loadCaKeys(missing))).toBe('CA_INVALID');

    chmodSync(keyOf(a), 0o640);
    const exposed = await loadCaKeys(a).catch((e: Error) => e);
    expect(isPaypadError(exposed, 'CA_INVALID')).toBe(true);
    expect((exposed as Error).message).toMatch(/chmod 600/);
    chmodSync(keyOf(a), 0o600);

    const swapped = dirs.make();
    mkdirSync(caDirectory(swapped), { mode: 0o700 });
    copyFileSync(certOf(a), certOf(swapped));
    copyFileSync(keyOf(b), keyOf(swapped));
    const mismatch = await loadCaKeys(swapped).catch((e: Error) => e);
    expect(isPaypadError(mismatch, 'CA_INVALID')).toBe(true);
    expect((mismatch as Error).message).toMatch(/is not the key of/);

    const garbage = dirs.make();
    mkdirSync(caDirectory(garbage), { mode: 0o700 });
    writeFileSync(certOf(garbage), 'not a certificate');
    copyFileSync(keyOf(a), keyOf(garbage));
    expect(await codeOf(loadCaKeys(garbage))).toBe('CA_INVALID');

    // A role certificate in place of the CA certificate.
    const leafDir = dirs.make();
    const key = join(leafDir, 'leaf-key.pem');
    const cert = join(leafDir, 'leaf.pem');
    expect(openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=leaf', '-addext', 'basicConstraints=critical,CA:FALSE', '-days', '1').status).toBe(0);
    const notCa = dirs.make();
    mkdirSync(caDirectory(notCa), { mode: 0o700 });
    copyFileSync(cert, certOf(notCa));
    writeFileSync(keyOf(notCa), openssl('pkcs8', '-topk8', '-nocrypt', '-in', key).output, { mode: 0o600 });
    const notCaError = await loadCaKeys(notCa).catch((e: Error) => e);
    expect(isPaypadError(notCaError, 'CA_INVALID')).toBe(true);
    expect((notCaError as Error).message).toMatch(/not a CA certificate/);

    unlinkSync(keyOf(b));
    expect(await codeOf(loadCaKeys(b))).toBe('CA_INVALID');
  });

  it('refuses an expired CA', async () => {
    const dataDir = dirs.make();
    await initCa(dataDir, 'old CA', new Date(Date.now() - 11 * 365 * 86_400_000));
    const error = await loadCaKeys(dataDir).catch((e: Error) => e);
    expect(isPaypadError(error, 'CA_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(/expired/);
  });
});
