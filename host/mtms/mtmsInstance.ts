/**
 * The running MTMS: its own HTTPS listener and certificate (role mtms, issued by the paypad CA on
 * first start), its own software HSM holding the intake key, and the outbox worker that forwards
 * TKs to the customers' KMSs (docs/key-loading.md "Parties").
 *
 * Files, under <dataDir>/mtms/:
 *   lmk.key   the HSM's master key (host/hsm/lmkFile, mode 0600)
 *   tls/      cert.pem, key.pem (0600), ca.pem (host/tls/identity), issued on first start
 * Several host processes sharing one PostgreSQL need copies of this directory's files (the intake
 * key row is made under this LMK) in their own data directories (one host per data directory,
 * host/dataDir.ts), and each runs a worker: leases keep them off each other's rows.
 *
 * MTMS serves only with a certificate the CA has not revoked (host/tls/servingCertificate, as a
 * KMS): it refuses to start with a revoked one, and when a revocation comes while it runs it stops
 * its listener (connections in flight are cut) and its worker (a KMS would refuse its deliveries
 * anyway). Either way the refusal is logged with SERVER_CERT_REVOKED and audited once per certificate.
 */
import type { Server } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { PaypadError } from '../../shared/errors';
import { createAuditStore } from '../audit/auditStore';
import type { CertificateAuthority } from '../ca/authority';
import type { Dialect } from '../db/database';
import type { Schema } from '../db/schema';
import { createListenerApp } from '../http/errors';
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from '../http/limits';
import { closeWithin, createHttpsListener, listen, listenerUrl } from '../http/listener';
import { type HsmBackend, createHsm, roleHsmConfig } from '../hsm/index';
import { createLogger, type Logger } from '../log';
import { createOutboxWorker, DEFAULT_LEASE_MS, type OutboxWorker, type OutboxWorkerOptions } from '../outbox/outboxWorker';
import { serverTlsOptions } from '../tls/serverOptions';
import { createKmsTkHandler } from './kmsDelivery';
import { createKmsKeyPins } from './kmsKeyPins';
import type { LookupLimits } from './lookupLimits';
import { createMtmsStore, type MtmsStore } from './mtmsStore';
import { createMtmsService, loadMtmsIntakeKey, type MtmsIntakePublicKey, type MtmsService } from './mtmsService';
import { type Customer, KMS_TK_TOPIC } from './mtmsTables';
import { createMtmsRouter } from './router';
import { ensureServerIdentity, TLS_DIR_NAME } from '../tls/serverIdentity';
import { guardServingCertificate } from '../tls/servingCertificate';

export interface MtmsOptions {
  /** The host's data directory; MTMS keeps its files in <dataDir>/mtms/. */
  readonly dataDir: string;
  /** Migrated (host/db/migrate): the mtms_* tables, the outbox and the CA's register. */
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  /** Issues MTMS's certificate on first start and devices' at enrolment; operator and device certificates are checked against its register. */
  readonly ca: CertificateAuthority;
  /** 0 for any free port. */
  readonly port: number;
  readonly host: string;
  /** DNS names and addresses operators reach MTMS by, for the certificate. */
  readonly serverNames?: readonly string[];
  /** Retry policy, lease, poll interval and batch size of the outbox worker. */
  readonly outbox?: Pick<OutboxWorkerOptions, 'retry' | 'leaseMs' | 'pollMs' | 'batchSize' | 'random'>;
  /** Timeout of each request to a KMS (ms). */
  readonly kmsTimeoutMs?: number;
  /** Where a customer's KMS answers now, when not at its recorded URL (kmsDelivery.ts). */
  readonly kmsUrlOf?: (customer: Customer) => string;
  /** Timeouts and connection cap of its listener (default DEFAULT_LISTENER_LIMITS). */
  readonly limits?: ListenerLimits;
  /** Where this role keeps its keys (default: the software HSM, its master key file in the role's directory). */
  readonly hsm?: HsmBackend;
  /** Operators' lookup buckets (default DEFAULT_LOOKUP_LIMITS). */
  readonly lookupLimits?: LookupLimits;
  /** How often the CA's register is read for MTMS's own certificate (ms). */
  readonly revocationCheckMs?: number;
  /** Called when MTMS stopped by itself: its certificate was revoked while it ran. */
  readonly onStopped?: (error: PaypadError) => void;
  readonly logger?: Logger;
  readonly clock?: () => Date;
}

export interface RunningMtms {
  /** e.g. "https://127.0.0.1:8785", with the real port when 0 was asked for. */
  readonly url: string;
  readonly intakePublicKey: MtmsIntakePublicKey;
  readonly service: MtmsService;
  /** The administrator's operations (customers, serials, orders) on the same database. */
  readonly store: MtmsStore;
  readonly outbox: OutboxWorker;
  /** Stops the worker and the listener (requests in flight get `graceMs`), then closes the HSM. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export const MTMS_DIR_NAME = 'mtms';
export const LMK_FILE_NAME = 'lmk.key';
const DEFAULT_GRACE_MS = 10_000;
/** The handler makes two requests per attempt: the lease is at least three timeouts. */
const DEFAULT_KMS_TIMEOUT_MS = 10_000;

export function mtmsDirectory(dataDir: string): string {
  return join(dataDir, MTMS_DIR_NAME);
}

/** @throws PaypadError CONFIG_INVALID, SERVER_CERT_REVOKED, HSM_LMK_INVALID, LISTEN_FAILED; nothing is left open then. */
export async function startMtms(options: MtmsOptions): Promise<RunningMtms> {
  const logger = (options.logger ?? createLogger({ level: 'info' })).child({ role: 'mtms' });
  const clock = options.clock ?? (() => new Date());
  const dir = mtmsDirectory(options.dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identity = await ensureServerIdentity({ dir, subject: { role: 'mtms', name: 'mtms' }, ca: options.ca, host: options.host, serverNames: options.serverNames, clock, logger });
  const certificate = await guardServingCertificate({
    revocation: options.ca,
    identity,
    tlsDir: join(dir, TLS_DIR_NAME),
    who: 'MTMS',
    role: 'mtms',
    actor: 'mtms',
    audit: createAuditStore(options.db, clock),
    logger,
    intervalMs: options.revocationCheckMs,
  });
  const hsm = await createHsm(roleHsmConfig(options.hsm ?? { kind: 'software' }, { lmkFile: join(dir, LMK_FILE_NAME), keyLabel: 'paypad-mtms' }));
  const store = createMtmsStore(options.db, options.dialect, clock);
  const kmsTimeoutMs = options.kmsTimeoutMs ?? DEFAULT_KMS_TIMEOUT_MS;
  let server: Server;
  let service: MtmsService;
  let worker: OutboxWorker;
  try {
    const intakeKey = await loadMtmsIntakeKey(hsm, store, clock);
    worker = createOutboxWorker({
      db: options.db,
      dialect: options.dialect,
      handlers: { [KMS_TK_TOPIC]: createKmsTkHandler({ store, hsm, intakeKey: intakeKey.handle, identity, revocation: options.ca, kmsKeys: createKmsKeyPins(options.db, clock), timeoutMs: kmsTimeoutMs, kmsUrlOf: options.kmsUrlOf }) },
      ...options.outbox,
      leaseMs: options.outbox?.leaseMs ?? Math.max(DEFAULT_LEASE_MS, 3 * kmsTimeoutMs),
      clock,
      logger,
    });
    const outbox = worker;
    service = createMtmsService({ db: options.db, hsm, store, ca: options.ca, intakeKey, lookupLimits: options.lookupLimits, clock, onQueued: () => outbox.wake() });
    const router = createMtmsRouter({ service, revocation: options.ca });
    const app = createListenerApp(logger, (a) => a.use(router));
    server = await listen(createHttpsListener(app, serverTlsOptions(identity), { limits: options.limits ?? DEFAULT_LISTENER_LIMITS, logger, who: 'MTMS' }), options.host, options.port, 'MTMS');
  } catch (e) {
    await hsm.close();
    throw e;
  }
  worker.start();
  const url = listenerUrl(server, 'https');
  logger.info({ url, certSerial: certificate.serial }, `MTMS listening on ${url}`);

  let closing: Promise<void> | undefined;
  const close = (graceMs: number) => {
    closing ??= (async () => {
      watch.stop();
      await Promise.all([worker.stop(), closeWithin(server, graceMs)]);
      await hsm.close();
      logger.info('MTMS stopped');
    })();
    return closing;
  };
  // Connections in flight are cut too: nothing more is answered under a revoked certificate.
  const watch = certificate.watch(() => close(0), options.onStopped);
  return {
    url,
    intakePublicKey: service.intakePublicKey(),
    service,
    store,
    outbox: worker,
    close: ({ graceMs = DEFAULT_GRACE_MS } = {}) => close(graceMs),
  };
}
