/**
 * The bill payment platform in the host process (`paypad serve`), mounted at /bills: the merchant
 * API (router.ts), the phone client gateway when one is given (host/bills/client, at
 * /bills/client), the outbox workers that notify merchants (on the published schedule) and text
 * buyers, its own HSM holding the acquirer link's zone keys (the simulated ceremony of
 * host/posp/simulatedAcquirer), and the platform's CA-certified signing key (platformIdentity.ts).
 *
 * With demo data on, one demo merchant, "Harbour Books Ltd" (the merchant simulator, its key in
 * <dataDir>/demo-merchant/key.pem), enrolled on the first start; POST /bills/simulator/orders has it
 * send a signed order to this host.
 */
import type { Server } from 'node:http';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type Router } from 'express';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isPaypadError, PaypadError } from '../../shared/errors';
import type { CertificateAuthority } from '../ca/authority';
import type { Database, Dialect } from '../db/database';
import type { Schema } from '../db/schema';
import { SECRET_FILE_MODE, writeNewFile } from '../files';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import { createHsm, type HsmBackend, roleHsmConfig } from '../hsm/index';
import type { Logger } from '../log';
import { createMerchantDirectory, type MerchantDirectory } from '../merchants/merchantDirectory';
import { createOutboxWorker, type OutboxWorker } from '../outbox/outboxWorker';
import { createLedger } from '../payments/ledger/ledger';
import { mobileSmsHandler } from '../payments/mobile/notifications';
import type { PaymentProvider } from '../payments/paymentProvider';
import type { SimulatedAcquirer } from '../posp/simulatedAcquirer';
import type { RoleModule } from '../roles';
import { MerchantSimulator, type MerchantIdentity } from '../simulators/merchantSimulator';
import type { SmsGateway } from '../sms/smsGateway';
import type { BillPlatform } from './billPlatform';
import { createBillService, type BillService } from './billService';
import { BUYER_SMS_TOPIC } from './buyerTexts';
import { loadOrCreateCardFingerprintKey } from './cardFingerprint';
import { MERCHANT_NOTIFY_TOPIC, merchantNotifyHandler, NOTIFICATION_RETRY_POLICY, NOTIFICATION_RETRY_RANDOM } from './merchantNotifications';
import { loadOrCreatePlatformIdentity, type PlatformIdentity } from './platformIdentity';
import { createMerchantApiRouter } from './router';

export const DEMO_MERCHANT = Object.freeze({ legalName: 'Harbour Books Ltd', receivingAccount: '6222020000000000001' });

/** What a phone client gateway needs from the platform, and what the platform needs of it (host/bills/client/gateway.ts). */
export interface ClientGatewayDeps {
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  readonly hsm: Hsm;
  readonly zonePinKey: KeyHandle;
  readonly platform: BillPlatform;
  readonly provider: PaymentProvider;
  readonly sms: SmsGateway;
  readonly logger: Logger;
}
export interface ClientGateway {
  readonly router: Router;
  attach(server: Server): void;
  start(): void;
  close(): Promise<void>;
}

export interface BillPlatformOptions {
  readonly dataDir: string;
  readonly database: Database;
  readonly ca: CertificateAuthority;
  readonly acquirer: SimulatedAcquirer;
  readonly provider: PaymentProvider;
  readonly sms: SmsGateway;
  readonly hsm: HsmBackend;
  readonly logger: Logger;
  readonly demoData: boolean;
  readonly clientGateway?: (deps: ClientGatewayDeps) => ClientGateway;
  readonly clock?: () => Date;
}

export interface RunningBillPlatform {
  readonly bills: BillService;
  readonly merchants: MerchantDirectory;
  readonly identity: PlatformIdentity;
  readonly notifier: OutboxWorker;
  readonly buyerTexts: OutboxWorker;
  /** Mounted at /bills by the host app. */
  readonly role: RoleModule;
  /** The demo merchant, once serving (demo data on). */
  demoMerchant(): MerchantSimulator | undefined;
  /** Once the host listens: the client gateway's push channel on `server`, the demo merchant's webhook. */
  serving(url: string, server: Server): Promise<void>;
  close(): Promise<void>;
}

export async function startBillPlatform(options: BillPlatformOptions): Promise<RunningBillPlatform> {
  const clock = options.clock ?? (() => new Date());
  const { database, logger } = options;
  const hsm = await createHsm(roleHsmConfig(options.hsm, { lmkFile: join(options.dataDir, 'bill-platform', 'lmk.key'), keyLabel: 'paypad-bills' }));
  const link = await options.acquirer.authoriserFor(hsm);
  const identity = await loadOrCreatePlatformIdentity(options.dataDir, options.ca);
  const merchants = createMerchantDirectory(database.db, options.ca, clock);
  const notifier = createOutboxWorker({
    db: database.db,
    dialect: database.dialect,
    handlers: { [MERCHANT_NOTIFY_TOPIC]: merchantNotifyHandler({ db: database.db, merchantOf: merchants.merchant, platformKey: identity.privateKey, clock }) },
    retry: NOTIFICATION_RETRY_POLICY,
    random: NOTIFICATION_RETRY_RANDOM,
    clock,
    logger,
  });
  const buyerTexts = createOutboxWorker({ db: database.db, dialect: database.dialect, handlers: { [BUYER_SMS_TOPIC]: mobileSmsHandler(options.sms) }, clock, logger });
  const bills = createBillService({
    database,
    merchants,
    authoriser: link.authoriser,
    ledger: createLedger(database, clock),
    cardFingerprintKey: await loadOrCreateCardFingerprintKey(options.dataDir),
    clock,
    logger,
    onQueued: () => {
      notifier.wake();
      buyerTexts.wake();
    },
  });
  const client = options.clientGateway?.({ db: database.db, dialect: database.dialect, hsm, zonePinKey: link.zonePinKey, platform: bills, provider: options.provider, sms: options.sms, logger });
  const demoIdentity = options.demoData ? await ensureDemoMerchant(options.dataDir, merchants) : undefined;
  let demo: MerchantSimulator | undefined;

  const router = express.Router();
  if (client !== undefined) router.use('/client', client.router);
  router.use(createMerchantApiRouter({ bills, merchants, identity, clock }));
  router.post('/simulator/orders', async (req, res) => {
    if (demo === undefined) throw new PaypadError('NOT_FOUND', 'no demo merchant runs on this host (demo data is off)');
    const answer = await demo.placeOrder({ orderId: `DEMO-${randomUUID().slice(0, 8)}`, currency: 'CNY', ...(req.body as object) });
    res.status(answer.status).json(answer.body);
  });
  notifier.start();
  buyerTexts.start();
  client?.start();

  return {
    bills,
    merchants,
    identity,
    notifier,
    buyerTexts,
    role: { name: 'bills', mountPath: '/bills', createRouter: () => router },
    demoMerchant: () => demo,
    async serving(url, server) {
      client?.attach(server);
      if (demoIdentity === undefined) return;
      demo = await MerchantSimulator.start({ identity: demoIdentity, platformUrl: url, platformCertificatePem: identity.certificatePem, caCertificatePem: identity.caCertificatePem, sms: options.sms, clock });
      await merchants.setNotifyUrl(demoIdentity.merchantId, demo.notifyUrl);
    },
    async close() {
      await Promise.allSettled([client?.close(), notifier.stop(), buyerTexts.stop(), demo?.close()]);
    },
  };
}

/** The demo merchant's identity: enrolled on the first start, its key kept in the data directory. */
async function ensureDemoMerchant(dataDir: string, merchants: MerchantDirectory): Promise<MerchantIdentity> {
  const dir = join(dataDir, 'demo-merchant');
  const file = join(dir, 'identity.json');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const saved = await readFile(file, 'utf8').then((t) => JSON.parse(t) as MerchantIdentity, () => undefined);
  if (saved !== undefined && (await merchants.merchant(saved.merchantId)) !== undefined) return saved;
  const identity = await MerchantSimulator.enrol(merchants, DEMO_MERCHANT);
  try {
    await writeNewFile(file, JSON.stringify(identity), SECRET_FILE_MODE);
  } catch (e) {
    if (!isPaypadError(e, 'FILE_EXISTS')) throw e;
  }
  return identity;
}
