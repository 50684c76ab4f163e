/**
 * Demo data, so a person can walk docs/onboarding.md right after `npm start`: two customers, each
 * with a KMS run by this host, a few serials registered for each (those of C002 as production
 * order, A9), and an operator certificate in <dataDir>/operator/ for `paypad operator`.
 *
 * Decisions:
 * - Added once, to a database with no customers but the demo ones, and then marked in the audit
 *   log (subject host:demo-data). A database with real customers never gets invented ones, and
 *   every step skips what exists, so a start cut short completes it the next time.
 * - The KMS URL recorded for a demo customer is where this host runs its KMS: base port + i on
 *   the listen address. With a base port of 0 the KMS is started first and its bound URL recorded.
 * - The operator certificate's key is written beside it (mode 0600) because this is a demo: in
 *   production an operator station makes its own key and sends a CSR (`paypad ca issue --csr`).
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { isPaypadError } from '../shared/errors';
import { createAuditStore } from './audit/auditStore';
import type { CertificateAuthority } from './ca/authority';
import { pathExists, syncDirectory } from './files';
import type { Dialect } from './db/database';
import type { Schema } from './db/schema';
import type { KmsFleet } from './kmsFleet';
import { listCustomers } from './kmsFleet';
import type { Logger } from './log';
import { createMtmsStore } from './mtms/mtmsStore';
import { writeIdentity } from './tls/identity';

export interface DemoCustomer {
  readonly code: string;
  readonly name: string;
  readonly serials: readonly string[];
  /** Registered as one production order (A9) rather than loose serials. */
  readonly asOrder: boolean;
}

export const DEMO_CUSTOMERS: readonly DemoCustomer[] = [
  { code: 'C001', name: 'Acme Acquiring', serials: ['PP-1001', 'PP-1002', 'PP-1003'], asOrder: false },
  { code: 'C002', name: 'Borealis Bank', serials: ['PP-2001', 'PP-2002'], asOrder: true },
];

export const OPERATOR_DIR_NAME = 'operator';
export const DEMO_OPERATOR_NAME = 'demo operator';
const MARKER_SUBJECT = 'host:demo-data';
const ACTOR = 'host:demo-data';

export function operatorDirectory(dataDir: string): string {
  return join(dataDir, OPERATOR_DIR_NAME);
}

export interface DemoDataOptions {
  readonly dataDir: string;
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  readonly ca: CertificateAuthority;
  readonly fleet: KmsFleet;
  /** The host's listen address and KMS base port (config.host, config.kmsBasePort). */
  readonly host: string;
  readonly kmsBasePort: number;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

/**
 * 'added': this start added (or completed) it; 'present': an earlier start did; 'skipped': the
 * database has other customers.
 */
export type DemoDataState = 'added' | 'present' | 'skipped';

/** Adds the demo data unless it is there or the database holds real customers. */
export async function ensureDemoData(options: DemoDataOptions): Promise<DemoDataState> {
  const { db, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const audit = createAuditStore(db, clock);
  if ((await audit.listBySubject(MARKER_SUBJECT, { limit: 1 })).length > 0) return 'present';
  const demoCodes = new Set(DEMO_CUSTOMERS.map((c) => c.code));
  const customers = await listCustomers(db);
  const others = customers.filter((c) => !demoCodes.has(c.code));
  if (others.length > 0) {
    logger.info({ customers: others.length }, 'the database has customers of its own: no demo data added');
    return 'skipped';
  }

  const store = createMtmsStore(db, options.dialect, clock);
  for (const [i, demo] of DEMO_CUSTOMERS.entries()) {
    if (!customers.some((c) => c.code === demo.code)) {
      const kmsUrl = options.kmsBasePort === 0 ? await boundKmsUrl(options, demo.code) : kmsUrlOn(options.host, options.kmsBasePort + i);
      await ignoring('MTMS_CUSTOMER_EXISTS', () => store.addCustomer({ code: demo.code, name: demo.name, kmsUrl }, ACTOR));
    }
    const missing: string[] = [];
    for (const serial of demo.serials) if ((await store.serial(serial)) === undefined) missing.push(serial);
    if (missing.length > 0) {
      // Another host adding the same serials at once makes ours fail whole: theirs are the same.
      await ignoring('MTMS_SERIAL_EXISTS', () => (demo.asOrder ? store.createOrder(demo.code, missing, ACTOR) : store.addSerials(missing, demo.code, ACTOR)));
    }
  }
  const operatorCertSerial = await ensureOperatorIdentity(options);
  await audit.append({
    actor: ACTOR,
    action: 'host.demo-data.added',
    subject: MARKER_SUBJECT,
    detail: { customers: DEMO_CUSTOMERS.map((c) => c.code), serials: DEMO_CUSTOMERS.flatMap((c) => c.serials), ...(operatorCertSerial ? { operatorCertSerial } : {}) },
  });
  logger.info({ customers: [...demoCodes], operatorDir: operatorDirectory(options.dataDir) }, 'demo data added (PAYPAD_DEMO_DATA=0 turns this off)');
  return 'added';
}

/** https://<address>:<port> as a client on this machine reaches a listener on `listenAddress`. */
export function kmsUrlOn(listenAddress: string, port: number): string {
  const address = ['0.0.0.0', '::'].includes(listenAddress) ? '127.0.0.1' : listenAddress;
  return `https://${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

/** Base port 0: the KMS starts on any free port first, and that port is recorded. */
async function boundKmsUrl(options: DemoDataOptions, code: string): Promise<string> {
  const running = await options.fleet.start(code, 0);
  return kmsUrlOn(options.host, Number(new URL(running.url).port));
}

/** Issues the demo operator's certificate into <dataDir>/operator unless it exists; its serial when issued. */
async function ensureOperatorIdentity(options: DemoDataOptions): Promise<string | undefined> {
  const dir = operatorDirectory(options.dataDir);
  if (await pathExists(dir)) return undefined;
  const issued = await options.ca.issue({ subject: { role: 'operator', name: DEMO_OPERATOR_NAME } });
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  // Written into a staging directory renamed into place: the directory holds all three files or does not exist.
  const staging = await mkdtemp(join(options.dataDir, '.operator-staging-'));
  try {
    await writeIdentity(staging, issued);
    try {
      await rename(staging, dir);
      await syncDirectory(options.dataDir);
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).code;
      if (errno !== 'ENOTEMPTY' && errno !== 'EEXIST') throw e;
      return undefined;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return issued.record.serial;
}

async function ignoring(code: 'MTMS_CUSTOMER_EXISTS' | 'MTMS_SERIAL_EXISTS', fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!isPaypadError(e, code)) throw e;
  }
}

