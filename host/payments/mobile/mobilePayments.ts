/**
 * The mobile payment platform put together (docs/mobile-payments.md): the payee registry (C1, C2),
 * the platform the POSP calls (C4, C5, C7, C8), reconciliation (C9) and the outbox worker that
 * sends its texts. The outside parties come in as interfaces: the provider (PaymentProvider) and
 * the SMS provider (SmsGateway); the host gives it the simulators (X5), a deployment real adapters.
 */
import { createAuditStore } from '../../audit/auditStore';
import type { Database } from '../../db/database';
import type { Logger } from '../../log';
import { createOutboxWorker, type OutboxWorker } from '../../outbox/outboxWorker';
import type { SmsGateway } from '../../sms/smsGateway';
import { createLedger, type Ledger } from '../ledger/ledger';
import type { PaymentProvider } from '../paymentProvider';
import { createCardVault } from './cardVault';
import { createLookupBuckets, DEFAULT_PAYEE_LOOKUP_LIMITS, type PayeeLookupLimits } from './lookupBuckets';
import { createMobilePaymentPlatform } from './mobilePaymentPlatform';
import { MOBILE_SMS_TOPIC, mobileSmsHandler } from './notifications';
import { createPayeeRegistry, type PayeeRegistry } from './payeeRegistry';
import type { MobilePaymentPlatform } from './platform';
import { reconcileBusinessDay, type ReconciliationReport } from './reconciliation';

export interface MobilePaymentsOptions {
  readonly database: Database;
  readonly provider: PaymentProvider;
  readonly sms: SmsGateway;
  /** The 32-byte key that seals payees' receiving cards (mobileCardKey.ts). */
  readonly cardVaultKey: Uint8Array;
  readonly limits?: PayeeLookupLimits;
  readonly clock?: () => Date;
  readonly logger?: Logger;
}

export interface MobilePayments {
  readonly platform: MobilePaymentPlatform;
  readonly payees: PayeeRegistry;
  readonly ledger: Ledger;
  reconcile(businessDay: string, currency: string): Promise<ReconciliationReport>;
  /** Sends the texts that are due now (tests, and the CLI before it exits); resolves to how many were tried. */
  sendQueuedTexts(): Promise<number>;
  /** The outbox worker sending texts in the background, for a long-running host. */
  readonly texts: OutboxWorker;
}

export function createMobilePayments(options: MobilePaymentsOptions): MobilePayments {
  const clock = options.clock ?? (() => new Date());
  const db = options.database.db;
  const audit = createAuditStore(db, clock);
  const ledger = createLedger(options.database, clock);
  const buckets = createLookupBuckets(db, options.limits ?? DEFAULT_PAYEE_LOOKUP_LIMITS, clock);
  const texts = createOutboxWorker({ db, dialect: options.database.dialect, handlers: { [MOBILE_SMS_TOPIC]: mobileSmsHandler(options.sms) }, clock, logger: options.logger });
  const onQueued = () => texts.wake();
  const payees = createPayeeRegistry({ db, provider: options.provider, sms: options.sms, vault: createCardVault(options.cardVaultKey), buckets, audit, clock });
  const platform = createMobilePaymentPlatform({ db, provider: options.provider, ledger, buckets, audit, clock, onQueued });
  return {
    platform,
    payees,
    ledger,
    reconcile: (day, currency) => reconcileBusinessDay({ db, provider: options.provider, ledger, payees, audit, clock, onQueued }, day, currency),
    async sendQueuedTexts() {
      let tried = 0;
      for (let n = await texts.runOnce(); n > 0; n = await texts.runOnce()) tried += n;
      return tried;
    },
    texts,
  };
}
