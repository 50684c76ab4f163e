/**
 * The customers' KMSs this host process runs (SPEC X4: every role in one process): one
 * host/kms/kmsInstance per customer whose recorded KMS address (A7) is this machine, each on its
 * own HTTPS listener with its own certificate and HSM.
 *
 * Decisions:
 * - The customer record is the truth. A KMS runs here when its URL names this machine (loopback,
 *   or the address the host listens on), on the port the URL names, so the URL a terminal is
 *   manufactured with is the one it reaches. A URL naming another machine is an external KMS:
 *   MTMS delivers there and nothing starts here.
 * - With a base port of 0 (tests, several hosts on one machine) every KMS takes any free port and
 *   MTMS asks urlOf() where it really is: the recorded port is then stale by design.
 * - Customers added while the host runs (`paypad mtms customer add`, another process) get their
 *   KMS within WATCH_INTERVAL_MS: sync() reads one small table. A KMS that cannot start (port
 *   taken) is logged once, shown by failures(), and tried again at each sync; it never stops the
 *   host, since fixing a customer record must not need the host to be down.
 * - A KMS whose certificate is revoked stops by itself (host/kms/kmsInstance.ts): it leaves the
 *   running set and shows in failures() with SERVER_CERT_REVOKED, and every sync's attempt to
 *   start it again is refused the same way until its certificate is replaced.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Kysely } from 'kysely';
import { PaypadError } from '../shared/errors';
import type { CertificateAuthority } from './ca/authority';
import type { Schema } from './db/schema';
import type { HsmBackend } from './hsm/index';
import type { ListenerLimits } from './http/limits';
import { type KmsInstanceOptions, type RunningKms, startKms } from './kms/kmsInstance';
import type { Logger } from './log';
import { type Customer, customerFromRow, type MtmsTables } from './mtms/mtmsTables';

export const WATCH_INTERVAL_MS = 2_000;

/** Host names that are this machine whatever the listen address. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_ADDRESSES = ['0.0.0.0', '::'];

export interface KmsFleetOptions {
  readonly dataDir: string;
  readonly db: Kysely<Schema>;
  readonly ca: CertificateAuthority;
  /** The host's listen address: every KMS listens there too. */
  readonly host: string;
  /** 0: every KMS on any free port (see above). */
  readonly basePort: number;
  /** Timeouts and connection cap of every KMS listener. */
  readonly limits?: ListenerLimits;
  /** Every KMS's HSM backend (default: the software HSM). */
  readonly hsm?: HsmBackend;
  readonly logger: Logger;
  readonly clock?: () => Date;
  /** POSP beside each KMS (host/posp/simulatedAcquirer.ts in `paypad serve`). */
  readonly posp?: KmsInstanceOptions['posp'];
  /** The TMS beside each KMS (host/tms in `paypad serve`). */
  readonly tms?: KmsInstanceOptions['tms'];
}

export interface KmsFleet {
  /** The KMS this process runs for a customer. */
  get(customerCode: string): RunningKms | undefined;
  /** Every KMS running here, in the order they started. */
  running(): RunningKms[];
  /** Customers whose KMS should run here but does not: code -> why. */
  failures(): ReadonlyMap<string, string>;
  /** Where MTMS reaches a customer's KMS: the bound URL when it runs here, else the recorded one. */
  urlOf(customer: Customer): string;
  /** Starts the KMS of a customer not recorded yet (the demo data records the URL it got). */
  start(customerCode: string, port: number): Promise<RunningKms>;
  /** Starts the KMS of every local customer that has none running. */
  sync(): Promise<void>;
  /** sync() every WATCH_INTERVAL_MS until close(). */
  watch(): void;
  /** Stops watching, then closes every KMS (requests in flight get `graceMs`). */
  close(options?: { graceMs?: number }): Promise<void>;
}

/**
 * The host names (as URL.hostname spells them) that reach a listener on `listenAddress`: loopback,
 * the address itself, and on a wildcard address every address of this machine's interfaces.
 */
export function localNames(listenAddress: string): Set<string> {
  const bracket = (address: string) => (isIP(address) === 6 ? `[${address}]` : address);
  // URL.hostname is lower case; DNS names compare without case (RFC 4343).
  const names = new Set([...LOOPBACK_NAMES, bracket(listenAddress.toLowerCase())]);
  if (WILDCARD_ADDRESSES.includes(listenAddress)) {
    for (const addresses of Object.values(networkInterfaces())) for (const a of addresses ?? []) names.add(bracket(a.address));
  }
  return names;
}

/** Every customer MTMS knows, oldest first (the administrator's view; operators never list them, A14). */
export async function listCustomers(db: Kysely<Schema>): Promise<Customer[]> {
  const rows = await db.withTables<MtmsTables>().selectFrom('mtms_customers').selectAll().orderBy('created_at').orderBy('code').execute();
  return rows.map(customerFromRow);
}

export function createKmsFleet(options: KmsFleetOptions): KmsFleet {
  const { logger } = options;
  const kms = new Map<string, RunningKms>();
  const failed = new Map<string, string>();
  let syncing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const local = localNames(options.host);
  const isLocal = (url: URL) => local.has(url.hostname);

  // A customer never gets two KMSs: a start in progress is shared by whoever asks meanwhile.
  const starting = new Map<string, Promise<RunningKms>>();
  const start = (customerCode: string, port: number): Promise<RunningKms> => {
    if (closed) return Promise.reject(new PaypadError('INTERNAL', 'the KMS fleet is closed'));
    const existing = kms.get(customerCode);
    if (existing) return Promise.resolve(existing);
    let pending = starting.get(customerCode);
    if (pending === undefined) {
      const onStopped = (error: PaypadError) => {
        kms.delete(customerCode);
        failed.set(customerCode, `${error.code}: ${error.message}`);
      };
      pending = startKms({ customerCode, dataDir: options.dataDir, db: options.db, ca: options.ca, host: options.host, port, limits: options.limits, hsm: options.hsm, onStopped, logger, clock: options.clock, posp: options.posp, tms: options.tms })
        .then(async (running) => {
          // Closed while it started: nobody will close it later.
          if (closed) {
            await running.close({ graceMs: 0 });
            throw new PaypadError('INTERNAL', 'the KMS fleet is closed');
          }
          kms.set(customerCode, running);
          failed.delete(customerCode);
          return running;
        })
        .finally(() => starting.delete(customerCode));
      starting.set(customerCode, pending);
    }
    return pending;
  };

  const syncOnce = async () => {
    for (const customer of await listCustomers(options.db)) {
      if (closed) return;
      const url = new URL(customer.kmsUrl);
      if (kms.has(customer.code) || !isLocal(url)) continue;
      const port = options.basePort === 0 ? 0 : Number(url.port || 443);
      try {
        await start(customer.code, port);
      } catch (e) {
        const why = e instanceof PaypadError ? `${e.code}: ${e.message}` : String(e);
        // Logged when it first fails or fails differently, not at every sync.
        if (failed.get(customer.code) !== why) logger.error({ err: e, customerCode: customer.code }, `the KMS of ${customer.code} did not start; trying again every ${WATCH_INTERVAL_MS / 1000} s`);
        failed.set(customer.code, why);
      }
    }
  };

  const sync = () => {
    // One sync at a time: the next one reads the customers again.
    syncing ??= syncOnce().finally(() => (syncing = undefined));
    return syncing;
  };

  return {
    get: (code) => kms.get(code),
    running: () => [...kms.values()],
    failures: () => failed,
    urlOf: (customer) => kms.get(customer.code)?.url ?? customer.kmsUrl,
    start,
    sync,
    watch() {
      if (timer || closed) return;
      timer = setInterval(() => {
        sync().catch((e) => logger.error({ err: e }, 'cannot read the customers to start their KMSs; trying again'));
      }, WATCH_INTERVAL_MS);
      timer.unref();
    },
    async close({ graceMs } = {}) {
      closed = true;
      clearInterval(timer);
      await Promise.allSettled([syncing, ...starting.values()]);
      await Promise.all([...kms.values()].map((k) => k.close(graceMs === undefined ? {} : { graceMs })));
    },
  };
}
