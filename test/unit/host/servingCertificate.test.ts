/**
 * A8: MTMS and every KMS serve only with a certificate the CA has not revoked
 * (host/tls/servingCertificate). Each refuses to start with a revoked certificate, and stops
 * listening, cutting the connections it holds, when the revocation comes while it runs: a
 * SERVER_CERT_REVOKED error logged, handed to onStopped and audited once per certificate, however
 * often the role is started again with it. On SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { connect } from 'node:tls';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuditStore } from '../../../host/audit/auditStore';
import type { CertificateAuthority } from '../../../host/ca/authority';
import type { Database } from '../../../host/db/database';
import { ensureCa } from '../../../host/ca/caStorage';
import { kmsDirectory, startKms } from '../../../host/kms/kmsInstance';
import { mtmsDirectory, startMtms } from '../../../host/mtms/mtmsInstance';
import { readIdentity } from '../../../host/tls/identity';
import { TLS_DIR_NAME } from '../../../host/tls/serverIdentity';
import { certificateSerialOf } from '../../../host/tls/servingCertificate';
import type { PaypadError } from '../../../shared/errors';
import { DIALECTS, useMigratedDatabase } from '../../store/helpers/testDatabase';
import { tempDir } from '../mtms/mtmsTestKit';
import { captureLogger } from './helpers/captureLogger';

interface Served {
  readonly url: string;
  close(options?: { graceMs?: number }): Promise<void>;
}

interface RoleUnderTest {
  readonly role: 'mtms' | 'kms';
  readonly who: string;
  readonly actor: string;
  readonly tlsDir: (dataDir: string) => string;
  start(options: { database: Database; dataDir: string; ca: CertificateAuthority; onStopped?: (e: PaypadError) => void; logger: ReturnType<typeof captureLogger>['logger'] }): Promise<Served>;
}

/** Does a TLS handshake with `url` complete? */
function handshake(url: string): Promise<'connected' | string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function eventually<T>(probe: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const ROLES: readonly RoleUnderTest[] = [
  {
    role: 'mtms',
    who: 'MTMS',
    actor: 'mtms',
    tlsDir: (dataDir) => join(mtmsDirectory(dataDir), TLS_DIR_NAME),
    start: ({ database, dataDir, ca, onStopped, logger }) =>
      startMtms({ dataDir, db: database.db, dialect: database.dialect, ca, port: 0, host: '127.0.0.1', logger, revocationCheckMs: 20, onStopped, outbox: { pollMs: 20 } }),
  },
  {
    role: 'kms',
    who: 'KMS ACME',
    actor: 'kms:ACME',
    tlsDir: (dataDir) => join(kmsDirectory(dataDir, 'ACME'), TLS_DIR_NAME),
    start: ({ database, dataDir, ca, onStopped, logger }) => startKms({ customerCode: 'ACME', dataDir, db: database.db, ca, port: 0, host: '127.0.0.1', logger, revocationCheckMs: 20, onStopped }),
  },
];

describe.each(DIALECTS)('A8: a server on a revoked certificate (%s)', (dialect) => {
  describe.each(ROLES)('$who', (role) => {
    const database = useMigratedDatabase(dialect);
    const running: Served[] = [];
    afterEach(async () => {
      await Promise.all(running.splice(0).map((r) => r.close({ graceMs: 0 })));
    });
    it(`A8: ${role.who} refuses to start on a revoked certificate, and stops listening when its certificate is revoked while it runs (SERVER_CERT_REVOKED logged, audited once)`, async () => {
      const dataDir = await tempDir();
      const setup = { database: database(), dataDir, ca: await ensureCa({ dataDir, db: database().db }) };
      const log = captureLogger('info');
      const serialNow = async () => certificateSerialOf(await readIdentity(role.tlsDir(dataDir)));
      const auditedFor = async (certSerial: string) =>
        (await createAuditStore(setup.database.db).listBySubject(`certificate:${certSerial}`)).filter((e) => e.action.endsWith('.certificate.revoked'));

      // Revoked while it was down: refused at start, before it listens.
      await (await role.start({ ...setup, logger: log.logger })).close({ graceMs: 0 });
      const first = await serialNow();
      await setup.ca.revoke(first, 'superseded');
      await expect(role.start({ ...setup, logger: log.logger })).rejects.toMatchObject({ code: 'SERVER_CERT_REVOKED' });
      expect(await auditedFor(first)).toEqual([expect.objectContaining({ actor: role.actor, action: `${role.role}.certificate.revoked`, detail: expect.objectContaining({ when: 'start' }) })]);

      // The remedy the error names: without its tls directory the role gets a new certificate.
      await rm(role.tlsDir(dataDir), { recursive: true });
      let stoppedWith: PaypadError | undefined;
      const served = await role.start({ ...setup, logger: log.logger, onStopped: (e) => (stoppedWith = e) });
      running.push(served);
      const second = await serialNow();
      expect(second).not.toBe(first);
      expect(await handshake(served.url)).toBe('connected');
      // A connection held open before the revocation is cut too.
      const { hostname, port } = new URL(served.url);
      const held = connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
      await new Promise<void>((resolve) => held.once('secureConnect', () => resolve()));
      const cut = new Promise<void>((resolve) => held.once('close', () => resolve()));

      // Revoked while it runs: it stops by itself.
      await setup.ca.revoke(second, 'keyCompromise');
      const error = await eventually(() => stoppedWith, `${role.who} to stop`);
      expect(error.code).toBe('SERVER_CERT_REVOKED');
      expect(error.message).toMatch(new RegExp(`^the certificate ${second} of ${role.who} has been revoked`));
      await cut;
      expect(await handshake(served.url)).toBe('ECONNREFUSED');
      expect(log.entries().filter((e) => (e.err as { code?: string } | undefined)?.code === 'SERVER_CERT_REVOKED')).toHaveLength(1);

      // Started again with it: refused, and audited only once.
      await expect(role.start({ ...setup, logger: log.logger })).rejects.toMatchObject({ code: 'SERVER_CERT_REVOKED' });
      expect(await auditedFor(second)).toEqual([expect.objectContaining({ actor: role.actor, action: `${role.role}.certificate.revoked`, detail: expect.objectContaining({ when: 'serving' }) })]);
    });
  });
});
