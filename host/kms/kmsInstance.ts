/**
 * Running KMS instances: one per customer, each with its own HTTPS listener, its own certificate
 * (role kms, O=<customer code>, issued by the paypad CA), its own software HSM and its own rows
 * (docs/key-loading.md "Parties"). Several run in one process; the host starts one per configured
 * customer with startKmsInstances.
 *
 * Files, under <dataDir>/kms/<customer code>/:
 *   lmk.key   the HSM's master key (host/hsm/lmkFile, mode 0600)
 *   tls/      cert.pem, key.pem (0600), ca.pem (host/tls/identity), issued on first start
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import express from 'express';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { customerCode as customerCodeField } from '../../shared/protocol/fields';
import type { CertificateAuthority } from '../ca/authority';
import { syncDirectory } from '../ca/durableFile';
import { certSubjectOf } from '../ca/roles';
import { x509 } from '../ca/x509';
import type { Schema } from '../db/schema';
import { errorHandler, notFound } from '../http/errors';
import { openSoftwareHsm, systemRng } from '../hsm/index';
import { createLogger, type Logger, requestLogger } from '../log';
import { readIdentity, type TlsIdentity, writeIdentity } from '../tls/identity';
import { serverTlsOptions } from '../tls/serverOptions';
import { createKmsStore } from './kmsStore';
import { type KmsService, openKmsService } from './kmsService';
import { createKmsRouter } from './router';

export interface KmsInstanceOptions {
  readonly customerCode: string;
  /** The host's data directory; this instance keeps its files in <dataDir>/kms/<customerCode>/. */
  readonly dataDir: string;
  /** Migrated (host/db/migrate): the kms_* tables and the CA's register. */
  readonly db: Kysely<Schema>;
  /** Issues this instance's certificate on first start; its register is checked per MTMS request. */
  readonly ca: CertificateAuthority;
  /** 0 for any free port. */
  readonly port: number;
  readonly host: string;
  /**
   * DNS names and addresses clients reach this listener by, for the certificate. Default: the
   * listen address, or localhost and 127.0.0.1 for a loopback or wildcard one.
   */
  readonly serverNames?: readonly string[];
  readonly logger?: Logger;
  readonly clock?: () => Date;
}

export interface RunningKms {
  readonly customerCode: string;
  /** e.g. "https://127.0.0.1:8790", with the real port when 0 was asked for. */
  readonly url: string;
  readonly service: KmsService;
  /** Stops accepting, lets requests in flight finish (cut off after `graceMs`), closes the HSM. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export const KMS_DIR_NAME = 'kms';
export const LMK_FILE_NAME = 'lmk.key';
export const TLS_DIR_NAME = 'tls';
const DEFAULT_GRACE_MS = 10_000;
/** Listen addresses the CA's default names (localhost, 127.0.0.1) already cover, or that name no host. */
const DEFAULT_NAMED_ADDRESSES = ['0.0.0.0', '::', '', '127.0.0.1', 'localhost'];

export function kmsDirectory(dataDir: string, customerCode: string): string {
  return join(dataDir, KMS_DIR_NAME, customerCode);
}

/**
 * Starts one KMS. @throws PaypadError CONFIG_INVALID (bad customer code, an identity or intake
 * key that is not this instance's), HSM_LMK_INVALID, LISTEN_FAILED; nothing is left open then.
 */
export async function startKms(options: KmsInstanceOptions): Promise<RunningKms> {
  const code = checkedCustomerCode(options.customerCode);
  const logger = (options.logger ?? createLogger({ level: 'info' })).child({ role: 'kms', customerCode: code });
  const dir = kmsDirectory(options.dataDir, code);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identity = await ensureIdentity(dir, code, options);
  const hsm = await openSoftwareHsm({ lmkFile: join(dir, LMK_FILE_NAME), rng: systemRng });
  let server: Server;
  let service: KmsService;
  try {
    service = await openKmsService({ customerCode: code, hsm, store: createKmsStore(options.db), clock: options.clock });
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.use(requestLogger(logger));
    app.use(createKmsRouter({ service, revocation: options.ca }));
    app.use(notFound);
    app.use(errorHandler(logger));
    server = await listen(createServer(serverTlsOptions(identity), app), options);
  } catch (e) {
    await hsm.close();
    throw e;
  }
  const address = server.address() as AddressInfo;
  const url = `https://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info({ url }, `KMS ${code} listening on ${url}`);

  let closing: Promise<void> | undefined;
  return {
    customerCode: code,
    url,
    service,
    close({ graceMs = DEFAULT_GRACE_MS } = {}) {
      closing ??= (async () => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs).unref();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        clearTimeout(force);
        await hsm.close();
        logger.info(`KMS ${code} stopped`);
      })();
      return closing;
    },
  };
}

/**
 * Starts a KMS for each customer code, on consecutive ports from `basePort` (or any free port
 * each when it is 0). If one fails, those already started are closed and the error is thrown.
 */
export async function startKmsInstances(customerCodes: readonly string[], common: Omit<KmsInstanceOptions, 'customerCode' | 'port'> & { readonly basePort: number }): Promise<RunningKms[]> {
  if (new Set(customerCodes).size !== customerCodes.length) throw new PaypadError('CONFIG_INVALID', 'a customer code is configured twice for the KMS role');
  const started: RunningKms[] = [];
  try {
    for (const [i, customerCode] of customerCodes.entries()) {
      started.push(await startKms({ ...common, customerCode, port: common.basePort === 0 ? 0 : common.basePort + i }));
    }
  } catch (e) {
    await Promise.all(started.map((k) => k.close({ graceMs: 0 })));
    throw e;
  }
  return started;
}

function checkedCustomerCode(code: string): string {
  try {
    return customerCodeField(code, 'customer code');
  } catch (e) {
    throw new PaypadError('CONFIG_INVALID', `KMS ${(e as Error).message}`);
  }
}

/**
 * This instance's TLS identity: read from <dir>/tls, or issued by the CA on first start. The files
 * are written into a staging directory renamed into place, so two processes starting at once end
 * up with one identity and a crash leaves none half-written.
 */
async function ensureIdentity(dir: string, code: string, options: KmsInstanceOptions): Promise<TlsIdentity> {
  const tlsDir = join(dir, TLS_DIR_NAME);
  if (!(await exists(tlsDir))) {
    const hosts = options.serverNames ?? (DEFAULT_NAMED_ADDRESSES.includes(options.host) ? undefined : [options.host]);
    const issued = await options.ca.issue({ subject: { role: 'kms', name: `kms-${code}`, customerCode: code }, ...(hosts === undefined ? {} : { hosts }) });
    const staging = await mkdtemp(join(dir, '.tls-staging-'));
    try {
      await writeIdentity(staging, { certPem: issued.certPem, caPem: issued.caPem, keyPem: issued.keyPem });
      try {
        await rename(staging, tlsDir);
        await syncDirectory(dir);
      } catch (e) {
        const errno = (e as NodeJS.ErrnoException).code;
        // Another process issued one first: use theirs (ours stays recorded, unused, in the register).
        if (errno !== 'ENOTEMPTY' && errno !== 'EEXIST') throw e;
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    options.logger?.info({ customerCode: code, serial: issued.record.serial }, `issued the TLS certificate of KMS ${code}`);
  }
  const identity = await readIdentity(tlsDir);
  assertOwnIdentity(identity, code, options.ca, options.clock?.() ?? new Date(), tlsDir);
  return identity;
}

/** The stored certificate must be this customer's KMS, from this CA, and valid now. */
function assertOwnIdentity(identity: TlsIdentity, code: string, ca: CertificateAuthority, now: Date, tlsDir: string): void {
  let cert: x509.X509Certificate;
  let issuer: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(identity.certPem);
    issuer = new x509.X509Certificate(identity.caPem);
  } catch {
    throw new PaypadError('CONFIG_INVALID', `${tlsDir} does not hold PEM certificates`);
  }
  const subject = certSubjectOf(cert);
  if (subject.role !== 'kms' || subject.customerCode !== code) {
    throw new PaypadError('CONFIG_INVALID', `${tlsDir} holds a certificate for ${subject.role} ${subject.customerCode ?? ''}, not the KMS of ${code}`);
  }
  if (!issuer.equal(ca.caCertificate)) throw new PaypadError('CONFIG_INVALID', `${tlsDir} was issued by another CA; remove it to have this CA issue a new one`);
  if (now > cert.notAfter) throw new PaypadError('CONFIG_INVALID', `the certificate in ${tlsDir} expired on ${cert.notAfter.toISOString()}; remove ${tlsDir} to have the CA issue a new one`);
}

function listen(server: Server, options: KmsInstanceOptions): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(Object.assign(new PaypadError('LISTEN_FAILED', `KMS ${options.customerCode} cannot listen on ${options.host}:${options.port}: ${e.code ?? e.message}`), { cause: e }));
    });
    server.listen(options.port, options.host, () => resolve(server));
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
