/**
 * The gateway's payment flow for one checkout (E4-E9; docs/online-payments.md "Paying"):
 *
 *   claim the order (GatewayOrders.claimForPayment: of two browsers on one code exactly one goes on)
 *   read the card: the secure reader's DUKPT read opened in the HSM (cardReaderDecrypt), or the
 *     track 2 a keyboard-wedge swipe typed into the page (the weaker mode)
 *   keep track 2 (and a PIN block) only enciphered, short-lived (sensitiveDataVault.ts)
 *   the PIN: keyed on the PIN pad with the read, or by voice: capturePin calls the number the user
 *     gave, with the PAN only; the block is translated in the HSM to the zone PIN key (E5)
 *   debit over ISO 8583 (the acquirer link's CardAuthoriser, with the track data and the zone PIN
 *     block, E6) with a ledger hold while it is out; a wrong PIN (55) on the voice path calls again
 *     up to the issuer's PIN tries
 *   approved: the order paid (which queues the merchant's notification, E8), the hold posted, the
 *     card data deleted at once (E7), a text to the user (E9)
 *   anything else: the order failed with the reason, the hold voided, nothing moved, the card data
 *     deleted by the next sweep, and the typed error for the page.
 */
import { randomBytes } from 'node:crypto';
import { bytesToAscii, wipe } from '../../shared/bytes';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { maskPan } from '../../shared/pan';
import { readTrack2 } from '../../shared/track2';
import type { Database } from '../db/database';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import type { Logger } from '../log';
import { mobileNumberToE164 } from '../../shared/mobileNumber';
import { enqueue } from '../outbox/outboxStore';
import { formatAmount } from '../payments/mobile/notifications';
import type { AuthorisationOutcome, CardAuthoriser, SentDebit } from '../posp/cardAuthoriser';
import { CURRENCY_NUMERIC } from '../posp/mobilePayment';
import { type CardReaderKeys, decryptCardRead } from './cardReaderDecrypt';
import type { GatewayOrder, GatewayOrders, PaymentClaim } from './gatewayOrders';
import { PaymentDeclined, PaymentInsufficientFunds, PaymentOutcomeUnknown, PaymentPinNotCaptured } from './paymentErrors';
import type { CardDebitLedger } from '../payments/cardDebitLedger';
import type { CardReaderChannel } from './readerChannel';
import type { SensitiveDataVault, SensitiveSubject } from './sensitiveDataVault';
import type { PinCaptureResult, VoicePinChannel } from './voicePinChannel';

/** Field 41 of the gateway's debits: the gateway as one card acceptor terminal. */
export const GATEWAY_TERMINAL_ID = 'GATEWAY1';
const APPROVED = '00';
const INSUFFICIENT_FUNDS = '51';
const WRONG_PIN = '55';
const CARD_READ_TIMEOUT_MS = 60_000;
/** The outbox topic of the texts to paying users (E9). */
export const PAYMENT_SMS_TOPIC = 'gateway.payer-sms';

/** Where the card comes from. */
export type CardSource =
  /** The checkout's paired secure reader; `pinOnPad` asks for the PIN on its keypad with the read. */
  | { readonly kind: 'reader'; readonly checkoutId: string; readonly pinOnPad: boolean; readonly initialKeyId?: Uint8Array }
  /** Track 2 as the page parsed a keyboard-wedge swipe (ASCII between the sentinels). Wiped after use. */
  | { readonly kind: 'swipe'; readonly track2: Uint8Array }
  /**
   * A card bound to the user's phone (host/bills/client/orderPayments): number and expiry keyed, no
   * track (a card-not-present debit, entry mode 01), the PIN block from the phone already under the
   * zone PIN key. Wiped after use.
   */
  | { readonly kind: 'bound'; readonly pan: string; readonly expiry: string; readonly pinBlock: Uint8Array };

export interface PaymentRequest {
  readonly orderNumber: string;
  readonly card: CardSource;
  /** The user's mobile number: the voice PIN call (when the PIN is not keyed on the pad) and the text (E9). */
  readonly mobile: string;
  /** Each step as it happens, for the page (no card data but the last four digits). */
  readonly onStep?: (step: PaymentStep) => void;
}

export type PaymentStep =
  | { readonly step: 'claimed' }
  | { readonly step: 'reading-card'; readonly pinOnPad: boolean }
  | { readonly step: 'card-read'; readonly panLast4: string }
  | { readonly step: 'calling'; readonly attempt: number }
  | { readonly step: 'pin-captured'; readonly attempt: number }
  | { readonly step: 'authorising' }
  | { readonly step: 'wrong-pin'; readonly attempt: number };

export interface PaymentResult {
  readonly order: GatewayOrder;
  /** Field 37 of the approval: the order's payment reference. */
  readonly reference: string;
  readonly maskedPan: string;
}

export interface PaymentFlowDeps {
  readonly database: Database;
  readonly orders: GatewayOrders;
  readonly readers: CardReaderChannel;
  /** The HSM's readers' BDK (CONFIG_INVALID until its ceremony) for reader reads. */
  readerKeys(): CardReaderKeys;
  /** The acquirer zone PIN key every debit's PIN block is under. */
  readonly zonePinKey: KeyHandle;
  readonly hsm: Hsm;
  readonly voice: VoicePinChannel;
  /** The voice PIN capture module's PIN key (its blocks are under it). */
  readonly voicePinKey: KeyHandle;
  readonly authoriser: CardAuthoriser;
  readonly ledger: CardDebitLedger;
  readonly vault: SensitiveDataVault;
  /** The merchant's name as the user hears it in the call and reads it in the text. */
  merchantName(merchantNo: string): Promise<string>;
  /** Called after something was queued in the outbox (wakes the workers). */
  readonly onQueued: () => void;
  readonly clock: () => Date;
  readonly logger: Logger;
}

export interface PaymentFlow {
  /** Pays the order, or throws why not (the order failed then, nothing moved). */
  pay(request: PaymentRequest): Promise<PaymentResult>;
}

export function createPaymentFlow(deps: PaymentFlowDeps): PaymentFlow {
  const { orders, vault, hsm } = deps;
  const log = deps.logger.child({ component: 'gateway-payment' });

  /** Reads the card; keeps its track 2 (and a pad or phone PIN block) in the vault; the PAN and expiry for the debit. */
  const readCard = async (request: PaymentRequest, subject: SensitiveSubject): Promise<{ pan: string; expiry: string; panLast4: string; padPin: boolean; keyed?: true }> => {
    const { card } = request;
    if (card.kind === 'bound') {
      vault.keep(subject, 'pin-block', card.pinBlock);
      return { pan: card.pan, expiry: card.expiry, panLast4: card.pan.slice(-4), padPin: true, keyed: true };
    }
    if (card.kind === 'swipe') {
      try {
        const fields = readTrack2(card.track2);
        vault.keep(subject, 'track2', Uint8Array.from(card.track2));
        return { pan: fields.pan, expiry: fields.expiry, panLast4: fields.pan.slice(-4), padPin: false };
      } finally {
        wipe(card.track2);
      }
    }
    request.onStep?.({ step: 'reading-card', pinOnPad: card.pinOnPad });
    const read = await deps.readers.readCard(card.checkoutId, { pin: card.pinOnPad, timeoutMs: CARD_READ_TIMEOUT_MS });
    const opened = await decryptCardRead({ ...deps.readerKeys(), zonePinKey: deps.zonePinKey }, read, card.initialKeyId === undefined ? {} : { initialKeyId: card.initialKeyId });
    try {
      vault.keep(subject, 'track2', Uint8Array.from(opened.track2));
      if (opened.pinBlock !== undefined) vault.keep(subject, 'pin-block', Uint8Array.from(opened.pinBlock));
      return { pan: opened.pan, expiry: opened.expiry, panLast4: read.panLast4, padPin: opened.pinBlock !== undefined };
    } finally {
      opened.wipe();
      if (opened.pinBlock !== undefined) wipe(opened.pinBlock);
    }
  };

  /** A voice capture's block translated to the zone PIN key, into the vault; or why there is none. */
  const keepVoicePin = async (result: PinCaptureResult, subject: SensitiveSubject, pan: string): Promise<void> => {
    if (result.outcome !== 'captured') throw new PaymentPinNotCaptured(result.outcome);
    try {
      vault.keep(subject, 'pin-block', await hsm.translatePinBlock(deps.voicePinKey, deps.zonePinKey, result.pinBlock, pan));
    } finally {
      wipe(result.pinBlock);
    }
  };

  /** One 0200 with the vault's track 2 and PIN block; the ledger hold goes on before it is sent. */
  const debit = async (order: GatewayOrder, card: { pan: string; expiry: string; keyed?: true }, attemptId: string): Promise<{ outcome: AuthorisationOutcome; sent: SentDebit }> => {
    const track = card.keyed ? undefined : vault.open(order.orderNumber, 'track2');
    const pinBlock = vault.open(order.orderNumber, 'pin-block');
    let sent: SentDebit | undefined;
    try {
      const outcome = await deps.authoriser.debit(
        { pan: card.pan, expiry: card.expiry, ...(track === undefined ? {} : { track2: bytesToAscii(track) }), pinBlock, amountMinor: BigInt(order.amountMinor), currencyNumeric: CURRENCY_NUMERIC[order.currency], terminalId: GATEWAY_TERMINAL_ID, merchantId: order.merchantNo },
        (s) => {
          sent = s;
          return deps.ledger.hold(attemptId, order.merchantNo, BigInt(order.amountMinor), order.currency);
        },
      );
      return { outcome, sent: sent as SentDebit };
    } finally {
      if (track !== undefined) wipe(track);
      wipe(pinBlock);
    }
  };

  /** E9: the user's text, through host/sms by the outbox (PAYMENT_SMS_TOPIC). */
  const queuePaidText = async (mobile: string, text: string, orderNumber: string): Promise<void> => {
    const to = mobileNumberToE164(mobile);
    await enqueue(deps.database.db, { topic: PAYMENT_SMS_TOPIC, destination: to, payload: { to, text }, idempotencyKey: `gw-paid-${orderNumber}` }, deps.clock());
  };

  const fail = async (claim: PaymentClaim, error: unknown): Promise<void> => {
    const reason = isPaypadError(error) ? (error instanceof PaymentDeclined ? `declined:${error.responseCode}` : error.code) : 'INTERNAL';
    try {
      await orders.markFailed(claim.order.orderNumber, claim.claimToken, reason);
      deps.onQueued();
    } catch (e) {
      log.warn({ err: e, orderNumber: claim.order.orderNumber }, 'gateway payment: the failed order could not be marked failed');
    }
  };

  return {
    async pay(request) {
      if (CURRENCY_NUMERIC[(await orders.findByNumber(request.orderNumber)).currency] === undefined) throw new PaypadError('BAD_ARGUMENT', 'the order is in a currency the acquirer link does not take');
      const claim = await orders.claimForPayment(request.orderNumber);
      const order = claim.order;
      const subject: SensitiveSubject = { orderNumber: order.orderNumber, merchantNo: order.merchantNo, merchantOrderId: order.merchantOrderId, notifyUrl: order.notifyUrl };
      request.onStep?.({ step: 'claimed' });
      let captureId: string | undefined;
      let ended: 'paid' | 'failed' = 'failed';
      let pinAttempt = 0;
      try {
        const card = await readCard(request, subject);
        request.onStep?.({ step: 'card-read', panLast4: card.panLast4 });
        const merchantName = await deps.merchantName(order.merchantNo);
        if (!card.padPin) {
          request.onStep?.({ step: 'calling', attempt: 1 });
          const result = await deps.voice.capturePin({ reference: order.orderNumber, mobile: request.mobile, pan: card.pan, amountMinor: order.amountMinor, currency: order.currency, merchantName });
          captureId = result.captureId;
          await keepVoicePin(result, subject, card.pan);
          pinAttempt = result.attempt;
          request.onStep?.({ step: 'pin-captured', attempt: result.attempt });
        }
        for (;;) {
          const attemptId = randomBytes(9).toString('base64url');
          request.onStep?.({ step: 'authorising' });
          const { outcome, sent } = await debit(order, card, attemptId);
          if (outcome.kind === 'reversed') {
            await deps.ledger.void(attemptId);
            throw new PaymentOutcomeUnknown();
          }
          if (outcome.approved && outcome.responseCode === APPROVED) {
            let paid: GatewayOrder;
            try {
              paid = await orders.markPaid(order.orderNumber, claim.claimToken, outcome.retrievalReference);
            } catch (e) {
              // The claim ran out (the order expired meanwhile): the approval cannot stand.
              await deps.authoriser.reverse({ pan: card.pan, amountMinor: BigInt(order.amountMinor), currencyNumeric: CURRENCY_NUMERIC[order.currency], terminalId: GATEWAY_TERMINAL_ID, merchantId: order.merchantNo }, sent).catch(() => false);
              await deps.ledger.void(attemptId);
              throw e;
            }
            await deps.ledger.post(attemptId);
            ended = 'paid';
            const maskedPan = maskPan(card.pan);
            await queuePaidText(request.mobile, `paypad: ${formatAmount(order.amountMinor, order.currency)} paid to ${merchantName} with card ${maskedPan}, order ${order.merchantOrderId}, reference ${outcome.retrievalReference}.`, order.orderNumber);
            deps.onQueued();
            log.info({ orderNumber: order.orderNumber, reference: outcome.retrievalReference }, 'gateway payment approved');
            return { order: paid, reference: outcome.retrievalReference, maskedPan };
          }
          await deps.ledger.void(attemptId);
          if (outcome.responseCode === INSUFFICIENT_FUNDS) throw new PaymentInsufficientFunds();
          if (outcome.responseCode !== WRONG_PIN || captureId === undefined) throw new PaymentDeclined(outcome.responseCode);
          // A wrong PIN keyed by voice: call again, up to the issuer's PIN tries (PIN_TRIES_EXCEEDED after).
          request.onStep?.({ step: 'wrong-pin', attempt: pinAttempt });
          const again = await deps.voice.retry(captureId);
          request.onStep?.({ step: 'calling', attempt: again.attempt });
          await keepVoicePin(again, subject, card.pan);
          pinAttempt = again.attempt;
          request.onStep?.({ step: 'pin-captured', attempt: again.attempt });
        }
      } catch (e) {
        await fail(claim, e);
        log.info({ orderNumber: order.orderNumber, code: isPaypadError(e) ? e.code : 'INTERNAL' }, 'gateway payment failed');
        throw e;
      } finally {
        if (captureId !== undefined) deps.voice.release(captureId);
        await vault.endPayment(order.orderNumber, ended);
      }
    },
  };
}
