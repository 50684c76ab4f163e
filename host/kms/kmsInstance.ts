/**
 * Running KMS instances: one per customer, each with its own HTTPS listener, its own certificate
 * (role kms, O=<customer code>, issued by the paypad CA), its own software HSM and its own rows
 * (docs/key-loading.md "Parties"). Several run in one process; the host starts one per configured
 * customer with startKmsInstances.
 *
 * Files, under <dataDir>/kms/<customer code>/:
 *   lmk.key   the HSM's master key (host/hsm/lmkFile, mode 0600)
 *   tls/      cert.pem, key.pem (0600), ca.pem (host/tls/identity), issued on first start
 *
 * A KMS serves only with a certificate the CA has not revoked (host/tls/servingCertificate, as
 * MTMS): it refuses to start with a revoked one, and stops listening when a revocation comes while
 * it runs. Either way the refusal is logged with SERVER_CERT_REVOKED and audited once per certificate.
 */
import type { Server } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { customerCode as customerCodeField } from '../../shared/protocol/fields';
import { createAuditStore } from '../audit/auditStore';
import type { CertificateAuthority } from '../ca/authority';
import type { Schema } from '../db/schema';
import { createListenerApp } from '../http/errors';
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from '../http/limits';
import { closeWithin, createHttpsListener, listen, listenerUrl } from '../http/listener';
import { type HsmBackend, createHsm, roleHsmConfig } from '../hsm/index';
import { createLogger, type Logger } from '../log';
import { ensureServerIdentity, TLS_DIR_NAME } from '../tls/serverIdentity';
import { guardServingCertificate } from '../tls/servingCertificate';
import { serverTlsOptions } from '../tls/serverOptions';
import { createKmsStore, type KmsStore } from './kmsStore';
import { type KmsService, openKmsService } from './kmsService';
import { createKmsRouter } from './router';
import type { Hsm } from '../hsm/hsm';
import type { PospService } from '../posp/pospService';
import { createPospRouter } from '../posp/router';
import type { TmsService } from '../tms/tmsService';
import { createTmsRouter } from '../tms/router';

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
  /** Timeouts and connection cap of its listener (default DEFAULT_LISTENER_LIMITS). */
  readonly limits?: ListenerLimits;
  /** Where this role keeps its keys (default: the software HSM, its master key file in the role's directory). */
  readonly hsm?: HsmBackend;
  /** How often the CA's register is read for this instance's own certificate (ms). */
  readonly revocationCheckMs?: number;
  /** Called when the instance stopped by itself: its certificate was revoked while it ran. */
  readonly onStopped?: (error: PaypadError) => void;
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /**
   * POSP for this customer (host/posp/pospService.ts says why it runs here): made with this
   * instance's HSM and store once they are open, its routes served on this listener.
   */
  readonly posp?: (kms: { readonly customerCode: string; readonly hsm: Hsm; readonly store: KmsStore }) => Promise<PospService>;
  /** The TMS for this customer (host/tms/tmsService.ts says why it runs here), made and served as POSP is. */
  readonly tms?: (kms: { readonly customerCode: string; readonly hsm: Hsm; readonly store: KmsStore }) => Promise<TmsService>;
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
const DEFAULT_GRACE_MS = 10_000;

export function kmsDirectory(dataDir: string, customerCode: string): string {
  return join(dataDir, KMS_DIR_NAME, customerCode);
}

/**
 * Starts one KMS. @throws PaypadError CONFIG_INVALID (bad customer code, an identity or intake
 * key that is not this instance's), SERVER_CERT_REVOKED, HSM_LMK_INVALID, LISTEN_FAILED; nothing
 * is left open then.
 */
export async function startKms(options: KmsInstanceOptions): Promise<RunningKms> {
  const code = checkedCustomerCode(options.customerCode);
  const logger = (options.logger ?? createLogger({ level: 'info' })).child({ role: 'kms', customerCode: code });
  const dir = kmsDirectory(options.dataDir, code);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identity = await ensureServerIdentity({
    dir,
    subject: { role: 'kms', name: `kms-${code}`, customerCode: code },
    ca: options.ca,
    host: options.host,
    serverNames: options.serverNames,
    clock: options.clock,
    logger: options.logger,
  });
  const certificate = await guardServingCertificate({
    revocation: options.ca,
    identity,
    tlsDir: join(dir, TLS_DIR_NAME),
    who: `KMS ${code}`,
    role: 'kms',
    actor: `kms:${code}`,
    detail: { customerCode: code },
    audit: createAuditStore(options.db, options.clock),
    logger,
    intervalMs: options.revocationCheckMs,
  });
  const hsm = await createHsm(roleHsmConfig(options.hsm ?? { kind: 'software' }, { lmkFile: join(dir, LMK_FILE_NAME), keyLabel: `paypad-kms-${code}` }));
  let server: Server;
  let service: KmsService;
  try {
    const store = createKmsStore(options.db);
    service = await openKmsService({ customerCode: code, hsm, store, clock: options.clock });
    const posp = await options.posp?.({ customerCode: code, hsm, store });
    const router = createKmsRouter({ service, revocation: options.ca });
    const tms = await options.tms?.({ customerCode: code, hsm, store });
    const routers = [router, ...(posp === undefined ? [] : [createPospRouter(posp)]), ...(tms === undefined ? [] : [createTmsRouter(tms)])];
    const app = createListenerApp(logger, (a) => a.use(...routers));
    const listener = createHttpsListener(app, serverTlsOptions(identity), { limits: options.limits ?? DEFAULT_LISTENER_LIMITS, logger, who: `KMS ${code}` });
    server = await listen(listener, options.host, options.port, `KMS ${code}`);
  } catch (e) {
    await hsm.close();
    throw e;
  }
  const url = listenerUrl(server, 'https');
  // The intake key's check value, for an MTMS administrator to compare before accepting a changed key.
  logger.info({ url, certSerial: certificate.serial, intakeKeyKcv: service.intakePublicKey().kcv }, `KMS ${code} listening on ${url}`);

  let closing: Promise<void> | undefined;
  const close = (graceMs: number) => {
    closing ??= (async () => {
      watch.stop();
      await closeWithin(server, graceMs);
      await hsm.close();
      logger.info(`KMS ${code} stopped`);
    })();
    return closing;
  };
  // Connections in flight are cut too: nothing more is answered under a revoked certificate.
  const watch = certificate.watch(() => close(0), options.onStopped);
  return {
    customerCode: code,
    url,
    service,
    close: ({ graceMs = DEFAULT_GRACE_MS } = {}) => close(graceMs),
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
