/**
 * The online payment gateway in the host process (`paypad serve`), mounted at /gateway: the order
 * store, the merchants' order interface, a sweep that expires orders past their time and purges
 * idempotency keys past their retention, and the outbox worker that posts each ended order's
 * signed notification to its merchant (E8). The payment paths (E3-E9) take `orders`.
 */
import type { Database } from '../db/database';
import type { Logger } from '../log';
import type { SignerRegistry } from '../merchants/signedRequest';
import { createOutboxWorker, type OutboxWorker } from '../outbox/outboxWorker';
import type { RoleModule } from '../roles';
import { createIdempotencyKeys, type IdempotencyKeys } from './idempotencyKeys';
import { type NotificationSigner, ORDER_NOTIFICATION_TOPIC, orderNotificationHandler } from './orderNotifications';
import { createOrderStore, type OrderStore } from './orderStore';
import { createGatewayRouter } from './router';

export interface GatewayOptions {
  readonly database: Database;
  readonly logger: Logger;
  /** The merchant directory's signers: who may create orders. */
  readonly signers: SignerRegistry;
  /** The platform's signature on its notifications. */
  readonly notificationSigner: NotificationSigner;
  readonly clock?: () => Date;
  /** How often the sweep runs (ms); default 15 s. */
  readonly sweepMs?: number;
  /** For tests: the outbox worker's fetch. */
  readonly fetch?: typeof fetch;
}

export interface RunningGateway {
  readonly orders: OrderStore;
  readonly idempotencyKeys: IdempotencyKeys;
  readonly notifications: OutboxWorker;
  readonly role: RoleModule;
  /** One sweep now: expires due orders and purges old idempotency keys. */
  sweep(): Promise<{ expired: readonly string[]; keysPurged: number }>;
  close(): Promise<void>;
}

export const DEFAULT_SWEEP_MS = 15_000;

export function startGateway(options: GatewayOptions): RunningGateway {
  const { database, clock } = options;
  const logger = options.logger.child({ component: 'gateway' });
  let notifications: OutboxWorker | undefined;
  const orders = createOrderStore({ database, clock, onNotificationQueued: () => notifications?.wake() });
  notifications = createOutboxWorker({
    db: database.db,
    dialect: database.dialect,
    handlers: { [ORDER_NOTIFICATION_TOPIC]: orderNotificationHandler({ signer: options.notificationSigner, fetch: options.fetch }) },
    clock,
    logger,
  });
  const idempotencyKeys = createIdempotencyKeys({ database, clock });
  const sweep = async () => {
    const expired = await orders.expireDue(1_000);
    const keysPurged = await idempotencyKeys.purge();
    if (expired.length > 0 || keysPurged > 0) logger.info({ expired: expired.length, keysPurged }, 'gateway sweep');
    return { expired, keysPurged };
  };
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweep().catch((err: unknown) => logger.error({ err }, 'gateway sweep failed'));
  }, options.sweepMs ?? DEFAULT_SWEEP_MS);
  timer.unref();
  notifications.start();
  const worker = notifications;
  const role: RoleModule = { name: 'gateway', mountPath: '/gateway', createRouter: () => createGatewayRouter({ orders, idempotencyKeys, signers: options.signers, clock }) };
  return {
    orders,
    idempotencyKeys,
    notifications: worker,
    role,
    sweep,
    async close() {
      clearInterval(timer);
      await running;
      await worker.stop();
    },
  };
}
