/**
 * The checkout page's sessions and the payment parts behind them (E3-E9; docs/online-payments.md
 * "The checkout page"), started with the gateway in `paypad serve`:
 *
 * - its own HSM (an LMK file under <dataDir>/gateway) holding the card readers' BDK (loaded by its
 *   key ceremony, `paypad gateway reader-bdk load`, and kept as a key block in the database:
 *   readerBdk.ts), the acquirer link's zone keys (the simulated acquirer's ceremony, as the bill
 *   platform does) and the voice PIN capture module's keys;
 * - the card reader channel (readers dial /gateway/card-readers on the host's listener);
 * - the voice PIN channel on the platform's voice provider;
 * - the sensitive data vault, the payment flow, and a worker texting paying users.
 *
 * A checkout session is what one open page holds: the order it pays, the reader paired with it,
 * the page's event stream, the pay request ids it has sent. Its id is a random bearer name (128
 * bits): whoever has the page has the session, as whoever has the transaction code has the order.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { isMainlandMobileNumber } from '../../shared/mobileNumber';
import type { Database } from '../db/database';
import type { Hsm, KeyComponent, KeyHandle } from '../hsm/hsm';
import { createHsm, type HsmBackend, systemRng } from '../hsm/index';
import type { Logger } from '../log';
import type { MerchantDirectory } from '../merchants/merchantDirectory';
import { createOutboxWorker, type OutboxWorker } from '../outbox/outboxWorker';
import { createLedger } from '../payments/ledger/ledger';
import { mobileSmsHandler } from '../payments/mobile/notifications';
import type { SimulatedAcquirer } from '../posp/simulatedAcquirer';
import type { RoleModule } from '../roles';
import type { SmsGateway } from '../sms/smsGateway';
import { isE164, type OutboundCalls } from '../voice/outboundCalls';
import { CardReaderNotPaired } from './cardReaderErrors';
import { createCheckoutRouter } from './checkoutRouter';
import type { GatewayOrder, GatewayOrders } from './gatewayOrders';
import { PaymentInProgress, PaymentRequestReplayed } from './paymentErrors';
import { type CardSource, createPaymentFlow, PAYMENT_SMS_TOPIC, type PaymentFlow, type PaymentResult, type PaymentStep } from './paymentFlow';
import { createCardDebitLedger, GATEWAY_CHANNEL } from '../payments/cardDebitLedger';
import { createReaderBdkStore, gatewayHsmConfig, type LoadedReaderBdk } from './readerBdk';
import { ReaderChannel, type ReaderStatus } from './readerChannel';
import { createReaderRegistry, READER_ID } from './readerRegistry';
import { createSensitiveDataVault, type SensitiveDataVault } from './sensitiveDataVault';
import { createVoicePinKeys, voicePinBlocks } from './voicePinBlock';
import { createVoicePinCapture, type VoicePinCaptureOptions } from './voicePinCapture';

/** What the page's event stream carries. */
export type CheckoutEvent =
  | { readonly type: 'reader'; readonly status: ReaderStatus | 'none'; readonly readerId?: string }
  | ({ readonly type: 'step' } & PaymentStep)
  | { readonly type: 'paid'; readonly reference: string; readonly maskedPan: string }
  | { readonly type: 'failed'; readonly code: string; readonly message: string };

export interface CheckoutSession {
  readonly checkoutId: string;
  readonly order: GatewayOrder;
  readonly merchantName: string;
  readonly readerId?: string;
}

export interface PayRequest {
  /** Chosen by the page for each press of Pay: a request seen before is refused, nothing runs again. */
  readonly requestId: string;
  /** The user's mobile number: the voice PIN call and the text. */
  readonly mobile: string;
  /** 'reader': the paired secure reader; 'swipe': a keyboard-wedge track 2 the page parsed. */
  readonly card: { readonly kind: 'reader'; readonly pinOnPad: boolean } | { readonly kind: 'swipe'; readonly track2: Uint8Array };
}

export interface CheckoutService {
  /** A session for the order a code (or order number) names, paired with `readerId` when given. */
  open(request: { readonly code?: string; readonly orderNumber?: string; readonly readerId?: string }): Promise<CheckoutSession & { readonly reader: ReaderStatus | 'none' }>;
  session(checkoutId: string): CheckoutSession;
  /** Every event of the session from now on (and the reader's status at once); returns the unsubscribe. */
  subscribe(checkoutId: string, listener: (event: CheckoutEvent) => void): () => void;
  pay(checkoutId: string, request: PayRequest): Promise<PaymentResult>;
}

export interface CheckoutOptions {
  readonly dataDir: string;
  readonly database: Database;
  readonly logger: Logger;
  readonly hsm: HsmBackend;
  readonly acquirer: SimulatedAcquirer;
  readonly orders: GatewayOrders;
  readonly merchants: MerchantDirectory;
  readonly voice: OutboundCalls;
  readonly sms: SmsGateway;
  /** Wakes the gateway's notification worker (merchant notifications, deletion events). */
  readonly wakeNotifications: () => void;
  readonly voicePin?: Partial<VoicePinCaptureOptions>;
  /** The vault's lifetime and sweep (ms). */
  readonly sensitiveTtlMs?: number;
  readonly sensitiveSweepMs?: number;
  readonly clock?: () => Date;
}

export interface RunningCheckout {
  readonly service: CheckoutService;
  readonly readers: ReaderChannel;
  readonly vault: SensitiveDataVault;
  readonly texts: OutboxWorker;
  /** The payment flow the page's payments run through; the phone client's order payments run through it too. */
  readonly payments: PaymentFlow;
  /** The merchant's name as buyers are shown it. */
  merchantName(merchantNo: string): Promise<string>;
  /** Mounted at /gateway/checkout. */
  readonly role: RoleModule;
  /**
   * The key ceremony for the readers' BDK, as `paypad gateway reader-bdk load` runs it
   * (readerBdk.ts): its components as the custodians enter them (TR-31 B0, mode X, never
   * exportable), kept across restarts. Until then reads cannot be opened (CONFIG_INVALID).
   * READER_BDK_LOADED when one is loaded and `replace` is not set. Resolves to the BDK's check value.
   */
  loadReaderBdk(components: readonly KeyComponent[], kcv: string, options?: { readonly replace?: boolean; readonly actor?: string }): Promise<string>;
  /** The loaded BDK's check value, who loaded it and when; undefined before its ceremony. */
  readerBdk(): Promise<LoadedReaderBdk | undefined>;
  /**
   * Records the initial key ID injected into `readerId` (hex, 16 digits), as `paypad gateway reader
   * register` does (readerRegistry.ts): reads from it must carry it, on every host, after restarts.
   */
  registerReader(readerId: string, initialKeyIdHex: string, actor?: string): Promise<void>;
  /** The reader channel on the host's listener. */
  attach(server: Server): void;
  close(): Promise<void>;
}

const CHECKOUT_ID = /^[0-9a-f]{32}$/;
const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;
/** A session is forgotten this long after its order's expiry. */
const SESSION_GRACE_MS = 15 * 60_000;

interface Session extends CheckoutSession {
  readonly listeners: Set<(event: CheckoutEvent) => void>;
  readonly requestIds: Set<string>;
  paying: boolean;
  readonly forgetAt: number;
}

export async function startCheckout(options: CheckoutOptions): Promise<RunningCheckout> {
  const { database } = options;
  const clock = options.clock ?? (() => new Date());
  const logger = options.logger.child({ component: 'gateway-checkout' });
  const hsm: Hsm = await createHsm(gatewayHsmConfig(options.hsm, options.dataDir));
  const link = await options.acquirer.authoriserFor(hsm);
  const voiceKeys = await createVoicePinKeys(hsm);
  const voice = createVoicePinCapture({ voice: options.voice, pinBlocks: voicePinBlocks(hsm, voiceKeys, systemRng), log: logger }, options.voicePin);
  const readers = new ReaderChannel();
  const texts = createOutboxWorker({ db: database.db, dialect: database.dialect, handlers: { [PAYMENT_SMS_TOPIC]: mobileSmsHandler(options.sms) }, clock, logger });
  const onQueued = () => {
    options.wakeNotifications();
    texts.wake();
  };
  const vault = createSensitiveDataVault({ db: database.db, logger, onQueued, clock, ttlMs: options.sensitiveTtlMs, sweepMs: options.sensitiveSweepMs });
  const readerBdk = createReaderBdkStore(database, clock);
  /** The BDK as of the latest reader payment's start: read from the database each time, so a BDK loaded or replaced by the command is used without a restart. */
  let bdk: KeyHandle | undefined;
  const registry = createReaderRegistry(database, clock);
  const merchantName = async (merchantNo: string): Promise<string> => (await options.merchants.merchant(merchantNo))?.legalName ?? merchantNo;

  const flow: PaymentFlow = createPaymentFlow({
      database,
      orders: options.orders,
      readers,
      readerKeys: () => {
        if (bdk === undefined) throw new PaypadError('CONFIG_INVALID', "the card readers' key (BDK) is not loaded on this gateway");
        return { hsm, bdk };
      },
      zonePinKey: link.zonePinKey,
      hsm,
      voice,
      voicePinKey: voiceKeys.pinKey,
      authoriser: link.authoriser,
      ledger: createCardDebitLedger(createLedger(database, clock), GATEWAY_CHANNEL),
      vault,
      merchantName,
      onQueued,
      clock,
      logger,
    });

  const sessions = new Map<string, Session>();
  const sessionOf = (checkoutId: string): Session => {
    const session = typeof checkoutId === 'string' && CHECKOUT_ID.test(checkoutId) ? sessions.get(checkoutId) : undefined;
    if (session === undefined) throw new PaypadError('NOT_FOUND', 'no such checkout: open the order again with its transaction code');
    return session;
  };
  const emit = (session: Session, event: CheckoutEvent) => {
    for (const listener of session.listeners) listener(event);
  };
  /** The checkout each reader serves now: a page opened again takes its reader over from the one left behind. */
  const readerSessions = new Map<string, string>();
  const readerStatus = (session: CheckoutSession): ReaderStatus | 'none' => {
    if (session.readerId === undefined) return 'none';
    if (readerSessions.get(session.readerId) !== session.checkoutId) return 'disconnected';
    try {
      return readers.status(session.checkoutId);
    } catch {
      return 'disconnected';
    }
  };
  readers.onStatus(({ checkoutId, readerId, status }) => {
    const session = sessions.get(checkoutId);
    if (session !== undefined) emit(session, { type: 'reader', status, readerId });
  });
  const forget = (session: Session) => {
    sessions.delete(session.checkoutId);
    if (session.readerId !== undefined && readerSessions.get(session.readerId) === session.checkoutId) {
      readers.unpair(session.checkoutId);
      readerSessions.delete(session.readerId);
    }
    session.listeners.clear();
  };
  const sweepTimer = setInterval(() => {
    const now = clock().getTime();
    for (const session of sessions.values()) if (!session.paying && session.forgetAt < now) forget(session);
  }, 60_000);
  sweepTimer.unref();

  const service: CheckoutService = {
    async open({ code, orderNumber, readerId }) {
      if (readerId !== undefined && (typeof readerId !== 'string' || !READER_ID.test(readerId))) throw new PaypadError('BAD_ARGUMENT', 'reader: 1-64 letters, digits, . _ -');
      let order: GatewayOrder;
      if (typeof code === 'string') order = await options.orders.findByCode(code);
      else if (typeof orderNumber === 'string' && /^GO[A-Z0-9]{24}$/.test(orderNumber)) order = await options.orders.findByNumber(orderNumber);
      else throw new PaypadError('BAD_ARGUMENT', 'give the transaction code (or the order link)');
      if (order.state !== 'created') throw new PaypadError('GATEWAY_ORDER_NOT_PAYABLE', order.state === 'paying' ? 'this order is being paid in another window' : `this order is ${order.state}`);
      const checkoutId = randomBytes(16).toString('hex');
      const session: Session = {
        checkoutId,
        order,
        merchantName: await merchantName(order.merchantNo),
        ...(readerId === undefined ? {} : { readerId }),
        listeners: new Set(),
        requestIds: new Set(),
        paying: false,
        forgetAt: order.expiresAt.getTime() + SESSION_GRACE_MS,
      };
      if (readerId !== undefined) {
        const earlier = sessions.get(readerSessions.get(readerId) ?? '');
        if (earlier?.paying) throw new CardReaderNotPaired(`card reader ${readerId} is busy with another payment`);
        if (earlier !== undefined) {
          readers.unpair(earlier.checkoutId);
          emit(earlier, { type: 'reader', status: 'disconnected', readerId });
        }
        readers.pair(checkoutId, readerId);
        readerSessions.set(readerId, checkoutId);
      }
      sessions.set(checkoutId, session);
      return { checkoutId, order, merchantName: session.merchantName, ...(readerId === undefined ? {} : { readerId }), reader: readerStatus(session) };
    },
    session: (checkoutId) => sessionOf(checkoutId),
    subscribe(checkoutId, listener) {
      const session = sessionOf(checkoutId);
      session.listeners.add(listener);
      listener({ type: 'reader', status: readerStatus(session), ...(session.readerId === undefined ? {} : { readerId: session.readerId }) });
      return () => session.listeners.delete(listener);
    },
    async pay(checkoutId, request) {
      const session = sessionOf(checkoutId);
      const { requestId, mobile, card } = request;
      // The reader's keys as the database has them now (a BDK loaded or a reader registered by the
      // operator's command while this host runs), read before the checks below, so nothing is
      // awaited between checking and claiming the session.
      const initialKeyId = card.kind === 'reader' && session.readerId !== undefined ? await registry.initialKeyId(session.readerId) : undefined;
      if (card.kind === 'reader') bdk = await readerBdk.current();
      if (typeof requestId !== 'string' || !REQUEST_ID.test(requestId)) throw new PaypadError('BAD_ARGUMENT', 'requestId: 8-64 of A-Z a-z 0-9 _ -');
      if (session.requestIds.has(requestId)) throw new PaymentRequestReplayed();
      if (typeof mobile !== 'string' || !(isMainlandMobileNumber(mobile) || isE164(mobile))) throw new PaypadError('BAD_ARGUMENT', 'mobile: an 11-digit mainland mobile number or an E.164 number');
      if (session.paying) throw new PaymentInProgress();
      if (bdk === undefined && card.kind === 'reader') throw new PaypadError('CONFIG_INVALID', "the card readers' key (BDK) is not loaded on this gateway");
      if (card.kind === 'reader' && session.readerId === undefined) throw new PaypadError('CARD_READER_NOT_PAIRED', 'no card reader is paired with this checkout');
      session.requestIds.add(requestId);
      session.paying = true;
      const source: CardSource =
        card.kind === 'swipe'
          ? { kind: 'swipe', track2: card.track2 }
          : { kind: 'reader', checkoutId, pinOnPad: card.pinOnPad, ...(initialKeyId === undefined ? {} : { initialKeyId }) };
      try {
        const result = await flow.pay({ orderNumber: session.order.orderNumber, card: source, mobile, onStep: (step) => emit(session, { type: 'step', ...step }) });
        emit(session, { type: 'paid', reference: result.reference, maskedPan: result.maskedPan });
        return result;
      } catch (e) {
        if (isPaypadError(e)) emit(session, { type: 'failed', code: e.code, message: e.message });
        throw e;
      } finally {
        session.paying = false;
      }
    },
  };

  texts.start();
  return {
    service,
    readers,
    vault,
    texts,
    payments: flow,
    merchantName,
    role: { name: 'gateway-checkout', mountPath: '/gateway/checkout', createRouter: () => createCheckoutRouter({ service }) },
    async loadReaderBdk(components, kcv, { replace = false, actor = 'system' } = {}) {
      return (await readerBdk.load({ hsm, components, kcv, replace, actor })).kcv;
    },
    readerBdk: () => readerBdk.status(),
    async registerReader(readerId, initialKeyIdHex, actor = 'system') {
      await registry.register(readerId, initialKeyIdHex, actor);
    },
    attach: (server) => readers.attach(server),
    async close() {
      clearInterval(sweepTimer);
      for (const session of [...sessions.values()]) forget(session);
      await Promise.allSettled([texts.stop(), vault.close()]);
      await hsm.close();
    },
  };
}
