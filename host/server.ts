/**
 * Starting and stopping the host process (SPEC X4: every role of System A in one process): open
 * the database and migrate, load or make the CA, add the demo data, start a KMS per local
 * customer, MTMS on its own mutual-TLS listener, then the HTTP app. On SIGINT/SIGTERM stop
 * accepting, let requests in flight finish (bounded), then close the database.
 * `paypad serve` (bin/commands/serve.ts) calls runServe.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { isPaypadError, PaypadError } from '../shared/errors';
import { createHttpListener, listen, listenerUrl } from './http/listener';
import { createApp } from './app';
import type { CertificateAuthority } from './ca/authority';
import { ensureCa } from './ca/caStorage';
import { describeDatabase, loadConfig, type HostConfig } from './config';
import { lockDataDir } from './dataDir';
import { createDatabase, type Database } from './db/database';
import { migrateToLatest } from './db/migrate';
import { type DemoDataState, ensureDemoData } from './demoData';
import { createKmsFleet, type KmsFleet } from './kmsFleet';
import { createLogger, type Logger } from './log';
import { type RunningMtms, startMtms } from './mtms/mtmsInstance';
import { type RunningMobilePayments, startMobilePayments } from './payments/mobile/mobileRole';
import { type RunningBillPlatform, startBillPlatform } from './bills/billsRole';
import { createBillClientGateway } from './bills/client/gateway';
import type { GatewayForPhones } from './bills/client/orderPayments';
import { PLATFORM_KEY_ID } from './bills/merchantNotifications';
import { type RunningCheckout, startCheckout } from './gateway/checkoutService';
import { type RunningGateway, startGateway } from './gateway/gatewayRole';
import { platformNotificationSigner } from './gateway/orderNotifications';
import { type SimulatedAcquirer, startSimulatedAcquirer } from './posp/simulatedAcquirer';
import { createTms } from './tms/tms';
import { openTmsService } from './tms/tmsService';
import { readyBanner } from './readyBanner';
import { ROLES, type RoleModule } from './roles';
import { SERVE_USAGE } from './serveUsage';
import { hostVersion } from './version';

export interface RunningHost {
  /** The HTTP app, e.g. "http://127.0.0.1:8780", with the real port when the config asked for 0. */
  readonly url: string;
  readonly config: HostConfig;
  readonly database: Database;
  /** The CA of the data directory (made on first start): issues and checks every certificate (A8). */
  readonly ca: CertificateAuthority;
  /** MTMS on its own mutual-TLS listener, with its outbox worker. */
  readonly mtms: RunningMtms;
  /** The customers' KMSs this process runs, each on its own listener. */
  readonly kms: KmsFleet;
  /** The mobile payment platform (System C) on the simulated card network, served at /mobile. */
  readonly mobile: RunningMobilePayments;
  /** The bill payment platform (System D), served at /bills. */
  readonly bills: RunningBillPlatform;
  /** The online payment gateway (System E): merchants' orders at /gateway, the GatewayOrders the payment paths use. */
  readonly gateway: RunningGateway;
  /** The gateway's checkout page and payment flow (E3-E9), at /gateway/checkout; card readers dial /gateway/card-readers. */
  readonly checkout: RunningCheckout;
  /** What happened to the demo data on this start; 'off' when config.demoData is false. */
  readonly demoData: DemoDataState | 'off';
  /**
   * Stops accepting connections on every listener, waits up to `graceMs` for requests in flight,
   * then drops the rest and closes the database. Calling again while closing with a smaller grace
   * shortens the wait of the HTTP app (MTMS and the KMSs keep the first call's).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export interface StartOptions {
  /** Defaults to a stdout logger at config.logLevel. */
  logger?: Logger;
  /** Defaults to every role in roles.ts. */
  roles?: readonly RoleModule[];
}

export const DEFAULT_GRACE_MS = 10_000;

/**
 * @throws PaypadError DATA_DIR_LOCKED (another host runs on the data directory), DB_UNAVAILABLE,
 * MIGRATION_FAILED, CA_INVALID, CONFIG_INVALID, HSM_LMK_INVALID or LISTEN_FAILED; nothing is left
 * open then. A customer's KMS that cannot start does not fail the start (host/kmsFleet.ts).
 */
export async function startHost(config: HostConfig, options: StartOptions = {}): Promise<RunningHost> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  // First of all: a second host on this data directory stops here, before it touches anything.
  const lock = await lockDataDir(config.dataDir, logger);
  let database: Database;
  try {
    database = createDatabase(config.database, { logger });
  } catch (e) {
    await lock.release();
    throw e;
  }
  let fleet: KmsFleet | undefined;
  let mtms: RunningMtms | undefined;
  let mobile: RunningMobilePayments | undefined;
  let acquirer: SimulatedAcquirer | undefined;
  let bills: RunningBillPlatform | undefined;
  let gateway: RunningGateway | undefined;
  let checkout: RunningCheckout | undefined;
  let ca: CertificateAuthority;
  let demoData: DemoDataState | 'off' = 'off';
  // The phone client (in the bill platform) pays the gateway's orders; the gateway starts after it, before the host listens.
  const gatewayForPhones = (): GatewayForPhones => {
    if (gateway === undefined || checkout === undefined) throw new PaypadError('CONFIG_INVALID', 'the payment gateway is not running yet');
    return { orders: gateway.orders, payments: checkout.payments, merchantName: checkout.merchantName };
  };
  let server: Server;
  let endKeepAlive: () => void;
  try {
    const applied = await migrateToLatest(database);
    logger.info({ db: describeDatabase(config.database), applied }, applied.length ? 'database migrated' : 'database schema up to date');
    ca = await ensureCa({ dataDir: config.dataDir, db: database.db, logger });
    // The mobile platform and the simulated network before the KMSs: each KMS starts its POSP on them.
    mobile = await startMobilePayments({ dataDir: config.dataDir, database, logger, demoData: config.demoData });
    // The TMS beside each KMS (host/tms/tmsService); POSP hands its update notices to terminals (B6).
    const tms = createTms(database.db, config.dataDir);
    acquirer = await startSimulatedAcquirer({ database, network: mobile.network, platform: mobile.mobile.platform, logger, updateNotices: tms.notices });
    bills = await startBillPlatform({ dataDir: config.dataDir, database, ca, acquirer, provider: mobile.network.provider, sms: mobile.sms, hsm: config.hsm, logger, demoData: config.demoData, clientGateway: (deps) => createBillClientGateway({ ...deps, gateway: gatewayForPhones }) });
    // One merchant directory and one platform signature for every merchant-facing API.
    gateway = startGateway({ database, logger, signers: bills.merchants.signers, notificationSigner: platformNotificationSigner({ keyId: PLATFORM_KEY_ID, privateKey: bills.identity.privateKey }) });
    const onlineOrders = gateway;
    checkout = await startCheckout({ dataDir: config.dataDir, database, logger, hsm: config.hsm, acquirer, orders: onlineOrders.orders, merchants: bills.merchants, voice: mobile.voice, sms: mobile.sms, wakeNotifications: () => onlineOrders.notifications.wake() });
    const db = database.db;
    fleet = createKmsFleet({
      dataDir: config.dataDir,
      db,
      ca,
      host: config.host,
      basePort: config.kmsBasePort,
      limits: config.listeners,
      hsm: config.hsm,
      logger,
      posp: acquirer.pospFor,
      tms: ({ customerCode, hsm, store }) => openTmsService({ customerCode, hsm, kmsStore: store, db, tms }),
    });
    if (config.demoData) {
      demoData = await ensureDemoData({ dataDir: config.dataDir, db: database.db, dialect: database.dialect, ca, fleet, host: config.host, kmsBasePort: config.kmsBasePort, logger });
    }
    // The KMSs first, so MTMS's outbox finds them at its first round.
    await fleet.sync();
    fleet.watch();
    mtms = await startMtms({ dataDir: config.dataDir, db: database.db, dialect: database.dialect, ca, host: config.host, port: config.mtmsPort, limits: config.listeners, lookupLimits: config.lookupLimits, hsm: config.hsm, logger, kmsUrlOf: fleet.urlOf });
    const app = createApp({ config, database, logger, version: hostVersion(), roles: [...(options.roles ?? ROLES), mobile.role, bills.role, gateway.role, checkout.role] });
    const httpServer = createHttpListener(app, { limits: config.listeners, logger, who: 'the host' });
    endKeepAlive = keepAliveEnder(httpServer);
    server = await listen(httpServer, config.host, config.port, 'the host');
    await bills.serving(listenerUrl(server, 'http'), server);
    checkout.attach(server);
  } catch (e) {
    await checkout?.close();
    await gateway?.close();
    await bills?.close();
    await mtms?.close({ graceMs: 0 });
    await mobile?.close();
    await fleet?.close({ graceMs: 0 });
    await acquirer?.close();
    await database.close();
    await lock.release();
    throw e;
  }
  // After start-up a server error (accept failing with EMFILE...) is logged; the host keeps serving.
  server.on('error', (err) => logger.error({ err }, 'HTTP server error'));
  const url = listenerUrl(server, 'http');
  // Constants for the closures below (a `let` loses its narrowing there).
  const kms = fleet;
  const mtmsRole = mtms;
  const mobilePayments = mobile;
  const acquiring = acquirer;
  const billPlatform = bills;
  const onlineGateway = gateway;
  const checkoutPage = checkout;
  logger.info({ url, db: database.dialect, version: hostVersion() }, `paypad host listening on ${url}`);
  logger.info({ listeners: { http: url, mtms: mtmsRole.url, kms: Object.fromEntries(kms.running().map((k) => [k.customerCode, k.url])) }, demoData }, 'paypad host ready');

  let closing: Promise<void> | undefined;
  let closed = false;
  let deadline = Infinity;
  let forceTimer: NodeJS.Timeout | undefined;
  const close = ({ graceMs = DEFAULT_GRACE_MS } = {}): Promise<void> => {
    // Requests still running at the deadline are cut off; a later call may only bring it closer.
    if (!closed && Date.now() + graceMs < deadline) {
      deadline = Date.now() + graceMs;
      clearTimeout(forceTimer);
      forceTimer = setTimeout(() => server.closeAllConnections(), graceMs).unref();
    }
    closing ??= (async () => {
      logger.info('paypad host stopping');
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      endKeepAlive();
      // Every listener stops, and the database closes, even if one of them fails to.
      const results = await Promise.allSettled([stopped, mtmsRole.close({ graceMs }), kms.close({ graceMs }).finally(() => acquiring.close()), mobilePayments.close(), billPlatform.close(), checkoutPage.close().then(() => onlineGateway.close())]);
      closed = true;
      clearTimeout(forceTimer);
      await database.close();
      await lock.release();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      logger.info('paypad host stopped');
    })();
    return closing;
  };
  return { url, config, database, ca, mtms: mtmsRole, kms, mobile: mobilePayments, bills: billPlatform, gateway: onlineGateway, checkout: checkoutPage, demoData, close };
}

/**
 * server.close() drops idle keep-alive connections but leaves busy ones open after their response
 * until the client's keep-alive timer ends them (seconds later). The returned function, called when
 * stopping, makes every response still to come close its connection, and drops connections as
 * they turn idle.
 */
function keepAliveEnder(server: Server): () => void {
  const inFlight = new Set<ServerResponse>();
  let stopping = false;
  const closeWhenDone = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
    res.once('close', () => setImmediate(() => server.closeIdleConnections()));
  };
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    if (stopping) closeWhenDone(res);
  });
  return () => {
    stopping = true;
    inFlight.forEach(closeWhenDone);
  };
}

/**
 * `paypad serve [flags]` (argv excludes "serve"): flags override the environment, then the host
 * runs until the first SIGINT/SIGTERM and shuts down gracefully; a second signal cuts the grace
 * period short. Returns the exit code: 0 stopped cleanly, 1 failed, 2 bad flags or configuration.
 */
export async function runServe(argv: string[]): Promise<number> {
  let config: HostConfig;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${SERVE_USAGE}\n`);
      return 0;
    }
    config = loadConfig({
      ...process.env,
      PAYPAD_HOST: values.host ?? process.env.PAYPAD_HOST,
      PAYPAD_PORT: values.port ?? process.env.PAYPAD_PORT,
      PAYPAD_DATA_DIR: values['data-dir'] ?? process.env.PAYPAD_DATA_DIR,
    }, process.cwd());
  } catch (e) {
    const message = isPaypadError(e) ? `${e.code}: ${e.message}` : `${(e as Error).message}\n\n${SERVE_USAGE}`;
    process.stderr.write(`paypad serve: ${message}\n`);
    return 2;
  }

  // Listen for signals before starting: one that arrives during start-up stops the host right after.
  const stop = firstSignal();
  const logger = createLogger({ level: config.logLevel });
  let host: RunningHost;
  try {
    host = await startHost(config, { logger });
  } catch (e) {
    logger.fatal({ err: e }, 'paypad host failed to start');
    process.stderr.write(`paypad serve: ${isPaypadError(e) ? `${e.code}: ${e.message}` : String(e)}\n`);
    stop.dispose();
    return 1;
  }
  process.stderr.write(await readyBanner(host).catch((e) => `paypad host ready (the summary failed: ${String(e)})\n`));

  logger.info({ signal: await stop.signal }, 'signal received; finishing requests in flight (send it again to stop now)');
  const again = () => void host.close({ graceMs: 0 });
  process.on('SIGINT', again).on('SIGTERM', again);
  try {
    await host.close();
    return 0;
  } catch (e) {
    logger.error({ err: e }, 'paypad host did not stop cleanly');
    return 1;
  } finally {
    process.off('SIGINT', again).off('SIGTERM', again);
  }
}

function firstSignal(): { signal: Promise<NodeJS.Signals>; dispose(): void } {
  let onSignal: (received: NodeJS.Signals) => void = () => {};
  const dispose = () => void process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (received) => {
      dispose();
      resolve(received);
    };
  });
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  return { signal, dispose };
}
