/**
 * A8: `paypad ca` end to end on a fresh data directory (SQLite register): init, issue for each
 * role, revoke, list and crl, with openssl as the relying party.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCommand } from '../../../bin/commands/ca';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../../bin/args';
import { openssl, tempDirs } from './fixtures';
import { runCommand } from '../../support/runCommand';

const dirs = tempDirs();
let savedDatabaseUrl: string | undefined;
beforeAll(() => {
  // The register of this test lives in SQLite in its own data directory.
  savedDatabaseUrl = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
});
afterAll(() => {
  if (savedDatabaseUrl !== undefined) process.env.DATABASE_URL = savedDatabaseUrl;
  dirs.cleanup();
});

const ca = (...argv: string[]) => runCommand(caCommand, argv);

describe('A8 paypad ca', () => {
  const dataDir = dirs.make();
  const d = ['--data-dir', dataDir];

  it('refuses to work before init, then init makes the CA once', async () => {
    expect((await ca('list', ...d)).err).toMatch(/CA_NOT_INITIALIZED/);
    const init = await ca('init', ...d);
    expect(init.code).toBe(EXIT_OK);
    expect(init.out).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const again = await ca('init', ...d);
    expect(again.code).toBe(EXIT_FAILED);
    expect(again.err).toMatch(/CA_EXISTS/);
  });

  it('issues an operator, an MTMS and a customer KMS certificate that openssl accepts', async () => {
    for (const [role, name, extra] of [
      ['operator', 'alice', []],
      ['mtms', 'mtms-1', ['--san', 'mtms.example,127.0.0.1']],
      ['kms', 'kms-acme', ['--customer', 'ACME']],
    ] as const) {
      const out = join(dirs.make(), role);
      const res = await ca('issue', '--role', role, '--name', name, ...extra, '--out', out, ...d);
      expect(res.code, res.err).toBe(EXIT_OK);
      expect(res.out).toMatch(new RegExp(`issued CN=${name}, OU=${role}`));
      expect(statSync(join(out, 'key.pem')).mode & 0o777).toBe(0o600);
      expect(openssl('verify', '-CAfile', join(out, 'ca.pem'), join(out, 'cert.pem')).status).toBe(0);
      if (role === 'mtms') expect(openssl('x509', '-in', join(out, 'cert.pem'), '-noout', '-ext', 'subjectAltName').output).toMatch(/DNS:mtms\.example, IP Address:127\.0\.0\.1/);
    }
  });

  it('revokes by serial; list shows it and the CRL makes openssl refuse it', async () => {
    const out = join(dirs.make(), 'kms');
    await ca('issue', '--role', 'kms', '--name', 'kms-globex', '--customer', 'GLOBEX', '--out', out, ...d);
    const serial = openssl('x509', '-in', join(out, 'cert.pem'), '-noout', '-serial').output.trim().split('=')[1];
    const revoked = await ca('revoke', '--serial', serial.toLowerCase(), '--reason', 'keyCompromise', ...d);
    expect(revoked.code, revoked.err).toBe(EXIT_OK);
    expect((await ca('revoke', '--serial', serial, ...d)).err).toMatch(/CERT_ALREADY_REVOKED/);
    expect((await ca('list', ...d)).out).toMatch(new RegExp(`${serial}\\s+revoked:keyCompromise\\s+\\S+\\s+CN=kms-globex, OU=kms, O=GLOBEX`));

    const crl = await ca('crl', ...d);
    expect(crl.out).toMatch(/^-----BEGIN X509 CRL-----/);
    const crlPath = dirs.file('crl.pem', crl.out);
    const verify = openssl('verify', '-crl_check', '-CAfile', join(out, 'ca.pem'), '-CRLfile', crlPath, join(out, 'cert.pem'));
    expect(verify.status).not.toBe(0);
    expect(verify.output).toMatch(/certificate revoked/);
  });

  it('rejects bad command lines with usage errors and bad values with typed errors, issuing nothing', async () => {
    const before = (await ca('list', ...d)).out.split('\n').length;
    const out = join(dirs.make(), 'x');
    expect((await ca('issue', '--role', 'admin', '--name', 'x', '--out', out, ...d)).code).toBe(EXIT_USAGE);
    expect((await ca('issue', '--role', 'kms', '--name', 'x', '--out', out, ...d)).code).toBe(EXIT_USAGE);
    // A8: a device certificate certifies a key the device made and proved at enrolment, never one the CA makes.
    expect(await ca('issue', '--role', 'device', '--name', 'PP-0001', '--out', out, ...d)).toMatchObject({ code: EXIT_USAGE, err: expect.stringMatching(/paypad mtms device enrol/) });
    expect((await ca('issue', '--role', 'operator', '--name', 'x', ...d)).code).toBe(EXIT_USAGE);
    expect((await ca('issue', '--role', 'operator', '--name', 'x,OU=mtms', '--out', out, ...d)).err).toMatch(/BAD_ARGUMENT/);
    expect((await ca('issue', '--role', 'operator', '--name', 'x', '--customer', 'ACME', '--out', out, ...d)).err).toMatch(/BAD_ARGUMENT/);
    expect((await ca('revoke', '--serial', 'xyz', ...d)).err).toMatch(/BAD_ARGUMENT/);
    expect((await ca('revoke', '--serial', '01', '--reason', 'because', ...d)).code).toBe(EXIT_USAGE);
    expect((await ca('revoke', '--serial', '0102', ...d)).err).toMatch(/CERT_NOT_FOUND/);
    expect((await ca('list', '--bogus', ...d)).code).toBe(EXIT_USAGE);
    expect((await ca('list', ...d)).out.split('\n').length).toBe(before);
  });

  it('never overwrites an identity and records no certificate for one it cannot write', async () => {
    const out = join(dirs.make(), 'op');
    expect((await ca('issue', '--role', 'operator', '--name', 'dup', '--out', out, ...d)).code).toBe(EXIT_OK);
    const key = readFileSync(join(out, 'key.pem'), 'utf8');
    const before = (await ca('list', ...d)).out;
    const again = await ca('issue', '--role', 'operator', '--name', 'dup', '--out', out, ...d);
    expect(again.code).toBe(EXIT_FAILED);
    expect(again.err).toMatch(/FILE_EXISTS/);
    expect(readFileSync(join(out, 'key.pem'), 'utf8')).toBe(key);
    expect((await ca('list', ...d)).out).toBe(before);
  });
});
