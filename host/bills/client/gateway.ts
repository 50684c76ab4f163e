/**
 * The phone client gateway in one piece (D1, D3-D7, E3): enrolment, bound cards, bill payments,
 * the payment gateway's orders (found by code or account, paid), the push channel and its texts, over the HSM that keeps every phone's keys and the zone PIN key.
 * The bill role mounts `router` at /bills/client, calls `attach` with the host's HTTP server (the
 * push channel's WebSocket upgrade), `start` once serving, and `close` when stopping.
 */
import type { Server } from 'node:http';
import type { Router } from 'express';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../../shared/errors';
import { createAuditStore } from '../../audit/auditStore';
import type { Dialect } from '../../db/database';
import type { Schema } from '../../db/schema';
import type { Hsm, KeyHandle } from '../../hsm/hsm';
import type { Logger } from '../../log';
import { createOutboxWorker, type OutboxWorker } from '../../outbox/outboxWorker';
import { mobileSmsHandler } from '../../payments/mobile/notifications';
import type { PaymentProvider } from '../../payments/paymentProvider';
import type { SmsGateway } from '../../sms/smsGateway';
import type { BillPlatform } from '../billPlatform';
import { createPhoneBillPayments } from './billPayments';
import { createBoundCards } from './cards';
import { createEnrolments } from './enrolment';
import { createEnrolmentLimits } from './enrolmentLimits';
import { createGatewayKeys } from './gatewayKeys';
import { createPhoneOrderPayments, type GatewayForPhones } from './orderPayments';
import { createPhones } from './phones';
import { BILL_CLIENT_SMS_TOPIC, createPushChannel, type PushChannel } from './pushChannel';
import { createBillClientRouter } from './router';

export interface BillClientGatewayDeps {
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  readonly hsm: Hsm;
  /** The acquirer link's zone PIN key in `hsm` (P0, mode B or E): PIN blocks leave for BillPlatform.pay under it. */
  readonly zonePinKey: KeyHandle;
  readonly platform: BillPlatform;
  /** Account verification when a card is bound (D1). */
  readonly provider: PaymentProvider;
  /** Enrolment codes, and "a bill is waiting" texts (through the outbox). */
  readonly sms: SmsGateway;
  readonly logger: Logger;
  /** The running payment gateway, for its orders (E3); CONFIG_INVALID where the host runs none. */
  readonly gateway?: () => GatewayForPhones;
  readonly clock?: () => Date;
}

export interface BillClientGateway {
  readonly router: Router;
  readonly push: PushChannel;
  /** Sends the bill-waiting texts; runOnce for tests. */
  readonly texts: OutboxWorker;
  attach(server: Server): void;
  start(): void;
  close(): Promise<void>;
}

function noGateway(): never {
  throw new PaypadError('CONFIG_INVALID', 'this host runs no payment gateway: its orders cannot be paid here');
}

export function createBillClientGateway(deps: BillClientGatewayDeps): BillClientGateway {
  const clock = deps.clock ?? (() => new Date());
  const audit = createAuditStore(deps.db, clock);
  const keys = createGatewayKeys(deps.db, deps.hsm, clock);
  const phones = createPhones(deps.db, deps.hsm);
  const cards = createBoundCards({ db: deps.db, hsm: deps.hsm, keys, provider: deps.provider, audit, clock });
  const payments = createPhoneBillPayments({ hsm: deps.hsm, zonePinKey: deps.zonePinKey, platform: deps.platform, cards });
  const orders = createPhoneOrderPayments({ hsm: deps.hsm, zonePinKey: deps.zonePinKey, cards, gateway: deps.gateway ?? noGateway });
  const enrolments = createEnrolments({ db: deps.db, hsm: deps.hsm, keys, sms: deps.sms, limits: createEnrolmentLimits(deps.db, clock), audit, clock });
  const texts = createOutboxWorker({ db: deps.db, dialect: deps.dialect, handlers: { [BILL_CLIENT_SMS_TOPIC]: mobileSmsHandler(deps.sms) }, clock, logger: deps.logger });
  const push = createPushChannel({ db: deps.db, phones, platform: deps.platform, logger: deps.logger, clock, onQueued: () => texts.wake() });
  return {
    router: createBillClientRouter({ keys, enrolments, phones, cards, payments, orders }),
    push,
    texts,
    attach: (server) => push.attach(server),
    start: () => texts.start(),
    async close() {
      await push.close();
      await texts.stop();
    },
  };
}
