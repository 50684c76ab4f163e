/**
 * The POS payment app: pay someone by their mobile number (docs/mobile-payments.md "At the POS";
 * SPEC C3-C8, X1). A state machine over what the payer does, so the same flow runs on the board
 * (firmware/hal/moddable/terminalApp drives it from the keypad and the card reader), in the
 * emulated terminal (`paypad terminal pay mobile` feeds it the answers to its prompts) and in
 * the tests:
 *
 *   payee    digits of the payee's number; OK checks it with shared/mobileNumber, the platform's
 *            own rule (C4): a bad number is shown as invalid and asked again, nothing sent
 *   lookup   POSP looks the payee up (C3, C5)
 *   confirm  the payee's name, masked: OK goes on, cancel stops (C5)
 *   amount   digits in minor units of `currency` (fen for CNY); OK with more than zero
 *   swipe    a card swipe through the card reader HAL; an unreadable one is asked for again
 *   pin      digits on the keypad in secure mode, into a wiped buffer, never shown (X1)
 *   paying   POSP debits the card (C6-C8); the vault makes the PIN block and enciphers the track
 *   result   approved or not with the ISO 8583 response code's reason, or the error's code
 *
 * Cancel at any step before paying ends the app with nothing sent or held. The PIN exists as
 * digits in one Uint8Array, wiped on clear and cancel and as the vault reads it; it becomes a
 * string only as the argument of the vault's PIN-block call (ISO 9564-1 §5). Track 2 is held as
 * the reader's bytes and wiped once POSP has answered (firmware/hal/cardReader.ts).
 *
 * No async functions (docs/firmware.md "Stack"): a step that talks to POSP is a chain of promise
 * reactions, returned so a driver can wait for it. Runs in XS: no Node APIs.
 */
import { PaypadError, isPaypadError } from 'shared/errors';
import { isMainlandMobileNumber } from 'shared/mobileNumber';
import type { MobileLookupResponse, MobilePayResponse } from 'shared/protocol/transactions';
import type { Swipe } from '../hal/cardReader';
import type { Key } from '../hal/keypad';
import type { MobilePayment } from './paymentClient';

/** What the app uses of firmware/core/terminal's Terminal. */
export interface PaymentTerminal {
  lookupPayee(payeeMobile: string, payerMobile?: string): Promise<MobileLookupResponse>;
  payByMobile(payment: MobilePayment): Promise<MobilePayResponse>;
}

export type PaymentStep = 'payee' | 'lookup' | 'confirm' | 'amount' | 'swipe' | 'pin' | 'paying' | 'result';

/** How the app ended: approved, declined by the bank (a response code), failed (an error code), or cancelled. */
export type PaymentOutcome =
  | { readonly kind: 'approved' | 'declined'; readonly answer: MobilePayResponse }
  /**
   * `unknown` when the payment went out but no authenticated answer came back: POSP may have
   * debited the card (its records and the payer's text say), so the POS must not say it did not.
   */
  | { readonly kind: 'failed'; readonly code: string; readonly pospCode?: string; readonly unknown: boolean }
  | { readonly kind: 'cancelled' };

/** Everything a screen shows; never a PIN digit or card data. */
export interface PaymentView {
  readonly step: PaymentStep;
  /** The digits keyed at the payee or amount step. */
  readonly entry: string;
  /** The last payee number keyed failed the number rule (C4): show it as invalid and ask again. */
  readonly invalidNumber: boolean;
  /** The last swipe could not be read: ask for another. */
  readonly unreadableSwipe: boolean;
  /** PIN digits keyed so far (shown as '*'). */
  readonly pinLength: number;
  readonly maskedName?: string;
  /** Minor units, once keyed. */
  readonly amount?: number;
  readonly currency: string;
  readonly outcome?: PaymentOutcome;
}

export interface MobilePaymentAppOptions {
  readonly terminal: PaymentTerminal;
  /** ISO 4217 alphabetic code of the amounts keyed. */
  readonly currency: string;
  /** The payer's own number, when the POS knows it (C3: their success text and lookup bucket). */
  readonly payerMobile?: string;
}

/** ISO 9564-1: a PIN has 4 to 12 digits. */
export const PIN_MIN_DIGITS = 4;
export const PIN_MAX_DIGITS = 12;
/** An 11-digit number is all the rule accepts; a 12th key press is ignored. */
const PAYEE_MAX_DIGITS = 11;
/** 999,999,999 minor units: within the ISO 8583 amount field and the message's own bound. */
const AMOUNT_MAX_DIGITS = 9;
const DIGIT_0 = 0x30;

export class MobilePaymentApp {
  readonly #terminal: PaymentTerminal;
  readonly #currency: string;
  readonly #payerMobile: string | undefined;
  #step: PaymentStep = 'payee';
  #entry = '';
  #invalidNumber = false;
  #unreadableSwipe = false;
  #lookup: MobileLookupResponse | undefined;
  #amount: number | undefined;
  #track2: Uint8Array | undefined;
  readonly #pin = new Uint8Array(PIN_MAX_DIGITS);
  #pinLength = 0;
  #outcome: PaymentOutcome | undefined;

  constructor(options: MobilePaymentAppOptions) {
    this.#terminal = options.terminal;
    this.#currency = options.currency;
    this.#payerMobile = options.payerMobile;
  }

  get view(): PaymentView {
    return {
      step: this.#step,
      entry: this.#entry,
      invalidNumber: this.#invalidNumber,
      unreadableSwipe: this.#unreadableSwipe,
      pinLength: this.#pinLength,
      maskedName: this.#lookup?.maskedName,
      amount: this.#amount,
      currency: this.#currency,
      outcome: this.#outcome,
    };
  }

  /** True once the result is showing: the driver reads one more key to leave it. */
  get done(): boolean {
    return this.#step === 'result';
  }

  /** One key press. Returns the POSP exchange it started, if any (the view moves on when it settles). */
  press(key: Key): Promise<void> | undefined {
    if (this.#step === 'lookup' || this.#step === 'paying' || this.#step === 'result') return undefined;
    if (key === 'cancel') {
      this.#cancel();
      return undefined;
    }
    switch (this.#step) {
      case 'payee':
        return this.#pressPayee(key);
      case 'confirm':
        if (key === 'confirm') this.#step = 'amount';
        return undefined;
      case 'amount':
        this.#pressAmount(key);
        return undefined;
      case 'pin':
        return this.#pressPin(key);
      default:
        // 'swipe' takes a card, not keys (cancel was handled above).
        return undefined;
    }
  }

  /** The card reader's answer at the swipe step; anything else is ignored (and wiped). */
  swipe(swipe: Swipe): void {
    if (this.#step !== 'swipe') {
      wipe(swipe);
      return;
    }
    if (swipe.status === 'timeout') {
      // The payer walked away: as cancel, nothing was sent.
      this.#cancel();
      return;
    }
    if (swipe.status === 'unreadable' || swipe.track2 === undefined) {
      // A swipe with track 1 only cannot be paid with: track 2 is what the issuer verifies.
      wipe(swipe);
      this.#unreadableSwipe = true;
      return;
    }
    swipe.track1?.fill(0);
    this.#track2 = swipe.track2;
    this.#unreadableSwipe = false;
    this.#step = 'pin';
  }

  #pressPayee(key: Key): Promise<void> | undefined {
    if (key === 'clear') {
      this.#entry = '';
      return undefined;
    }
    if (key !== 'confirm') {
      if (this.#entry.length < PAYEE_MAX_DIGITS) this.#entry += key;
      this.#invalidNumber = false;
      return undefined;
    }
    // C4: the POS's number check unit; a failing number is keyed again, nothing is sent.
    if (!isMainlandMobileNumber(this.#entry)) {
      this.#entry = '';
      this.#invalidNumber = true;
      return undefined;
    }
    this.#step = 'lookup';
    const payee = this.#entry;
    return this.#terminal.lookupPayee(payee, this.#payerMobile).then(
      (found) => {
        this.#lookup = found;
        this.#entry = '';
        this.#step = 'confirm';
      },
      (e: unknown) => {
        if (refusalCode(e) === 'MOBILE_NUMBER_INVALID') {
          // The platform's rule is the terminal's, but it has the last word: key the number again.
          this.#entry = '';
          this.#invalidNumber = true;
          this.#step = 'payee';
          return;
        }
        this.#fail(e);
      },
    );
  }

  #pressAmount(key: Key): void {
    if (key === 'clear') {
      this.#entry = '';
    } else if (key === 'confirm') {
      const amount = this.#entry === '' ? 0 : Number(this.#entry);
      if (amount > 0) {
        this.#amount = amount;
        this.#entry = '';
        this.#step = 'swipe';
      }
    } else if (this.#entry.length < AMOUNT_MAX_DIGITS && !(this.#entry === '' && key === '0')) {
      this.#entry += key;
    }
  }

  #pressPin(key: Key): Promise<void> | undefined {
    if (key === 'clear') {
      this.#wipePin();
      return undefined;
    }
    if (key !== 'confirm') {
      if (this.#pinLength < PIN_MAX_DIGITS) this.#pin[this.#pinLength++] = DIGIT_0 + Number(key);
      return undefined;
    }
    if (this.#pinLength < PIN_MIN_DIGITS) return undefined;
    return this.#pay();
  }

  /** C6-C8: the payment, sent once. */
  #pay(): Promise<void> {
    this.#step = 'paying';
    const lookup = this.#lookup as MobileLookupResponse;
    const takePin = () => this.#takePin();
    // The PIN becomes a string only when the vault reads it for the PIN block (encipherPin), once:
    // the digits are wiped as they are read.
    const payment: MobilePayment = {
      lookupId: lookup.lookupId,
      amount: this.#amount as number,
      currency: this.#currency,
      track2: this.#track2 as Uint8Array,
      get pin() {
        return takePin();
      },
      payerMobile: this.#payerMobile,
    };
    return this.#terminal.payByMobile(payment).then(
      (answer) => this.#finish({ kind: answer.responseCode === '00' ? 'approved' : 'declined', answer }),
      (e: unknown) => this.#fail(e),
    );
  }

  #takePin(): string {
    const text = this.#pinText();
    this.#wipePin();
    return text;
  }

  #pinText(): string {
    let text = '';
    for (let i = 0; i < this.#pinLength; i++) text += String.fromCharCode(this.#pin[i]);
    return text;
  }

  #cancel(): void {
    this.#finish({ kind: 'cancelled' });
  }

  #fail(e: unknown): void {
    const pospCode = refusalCode(e);
    const unknown = this.#step === 'paying' && pospCode === undefined;
    this.#finish(pospCode === undefined ? { kind: 'failed', code: isPaypadError(e) ? e.code : 'INTERNAL', unknown } : { kind: 'failed', code: 'POSP_REFUSED', pospCode, unknown });
  }

  #finish(outcome: PaymentOutcome): void {
    this.#wipePin();
    this.#track2?.fill(0);
    this.#track2 = undefined;
    this.#entry = '';
    this.#outcome = outcome;
    this.#step = 'result';
  }

  #wipePin(): void {
    this.#pin.fill(0);
    this.#pinLength = 0;
  }
}

/** POSP's own error code when `e` is its authenticated refusal (paymentClient PospRefusal). */
function refusalCode(e: unknown): string | undefined {
  if (!isPaypadError(e, 'POSP_REFUSED')) return undefined;
  const code = (e as PaypadError & { pospCode?: unknown }).pospCode;
  return typeof code === 'string' ? code : undefined;
}

function wipe(swipe: Swipe): void {
  if (swipe.status !== 'read') return;
  swipe.track1?.fill(0);
  swipe.track2?.fill(0);
}
