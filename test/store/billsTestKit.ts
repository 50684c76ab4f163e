/**
 * The bill platform under test on one database: the host's CA, the simulated card network and its
 * acquirer link, the SMS gateway simulator, the platform (host/bills/billsRole) served on loopback
 * behind the host's error handler, and the merchant simulator enrolled and listening. The clock is
 * the test's; the outbox workers are stopped so the test runs their rounds (runOnce) itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { startBillPlatform, type RunningBillPlatform } from '../../host/bills/billsRole';
import type { CertificateAuthority } from '../../host/ca/authority';
import { ensureCa } from '../../host/ca/caStorage';
import type { Database } from '../../host/db/database';
import { createListenerApp } from '../../host/http/errors';
import { keepRawBody } from '../../host/http/rawBody';
import type { MobilePaymentPlatform } from '../../host/payments/mobile/platform';
import { startSimulatedAcquirer, type SimulatedAcquirer } from '../../host/posp/simulatedAcquirer';
import { MerchantSimulator } from '../../host/simulators/merchantSimulator';
import { SmsGatewaySimulator } from '../../host/simulators/smsGatewaySimulator';
import { createTestPaymentNetwork, type TestPaymentNetwork } from '../../host/simulators/testCards';
import { captureLogger } from '../unit/host/helpers/captureLogger';

export interface BillsKit {
  readonly platform: RunningBillPlatform;
  readonly ca: CertificateAuthority;
  readonly merchant: MerchantSimulator;
  readonly network: TestPaymentNetwork;
  readonly sms: SmsGatewaySimulator;
  readonly url: string;
  now(): Date;
  advance(ms: number): void;
  close(): Promise<void>;
}

let merchants = 0;

export async function startBillsKit(database: Database): Promise<BillsKit> {
  const dataDir = mkdtempSync(join(tmpdir(), 'paypad-bills-'));
  let now = new Date();
  const clock = () => now;
  const { logger } = captureLogger('warn');
  const ca = await ensureCa({ dataDir, db: database.db, logger });
  const network = await createTestPaymentNetwork();
  const sms = new SmsGatewaySimulator();
  // POSP's platform is not used here: only authoriserFor, the bill platform's own link.
  const acquirer: SimulatedAcquirer = await startSimulatedAcquirer({ database, network, platform: {} as MobilePaymentPlatform, logger });
  const platform = await startBillPlatform({ dataDir, database, ca, acquirer, provider: network.provider, sms, hsm: { kind: 'software' }, logger, demoData: false, clock });
  await platform.notifier.stop();
  await platform.buyerTexts.stop();
  const app = createListenerApp(logger, (a) => {
    a.use(express.json({ limit: 64 * 1024, verify: keepRawBody }));
    a.use('/bills', platform.role.createRouter({} as never));
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  const identity = await MerchantSimulator.enrol(platform.merchants, { legalName: `Harbour Books ${++merchants} Ltd`, receivingAccount: '6222020000000000001' });
  const merchant = await MerchantSimulator.start({ identity, platformUrl: url, platformCertificatePem: platform.identity.certificatePem, caCertificatePem: platform.identity.caCertificatePem, sms, clock });
  await platform.merchants.setNotifyUrl(identity.merchantId, merchant.notifyUrl);
  return {
    platform,
    ca,
    merchant,
    network,
    sms,
    url,
    now: clock,
    advance(ms) {
      now = new Date(now.getTime() + ms);
    },
    async close() {
      await merchant.close();
      await platform.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await acquirer.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
