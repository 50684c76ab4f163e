/**
 * How a checkout payment can end without money moving (E5-E7), as typed errors the checkout page
 * shows. Each carries what the page needs to say it, never card data.
 */
import { PaypadError } from '../../shared/errors';
import type { PinCaptureOutcome } from './voicePinChannel';

/** The issuer declined the debit (field 39 other than 00 and 51); `responseCode` says why (55: wrong PIN). */
export class PaymentDeclined extends PaypadError {
  readonly responseCode: string;
  constructor(responseCode: string) {
    super('PAYMENT_DECLINED', responseCode === '55' ? 'the card issuer declined the payment: wrong PIN (55)' : `the card issuer declined the payment (response code ${responseCode})`);
    this.responseCode = responseCode;
  }
}

/** The issuer answered 51: not enough money on the card. */
export class PaymentInsufficientFunds extends PaypadError {
  constructor() {
    super('PAYMENT_INSUFFICIENT_FUNDS', 'the card issuer declined the payment: insufficient funds (51)');
  }
}

/** No answer from the acquirer in time: the debit was reversed, nothing was taken. */
export class PaymentOutcomeUnknown extends PaypadError {
  constructor() {
    super('PAYMENT_OUTCOME_UNKNOWN', 'the bank did not answer in time; the debit was reversed and nothing was taken');
  }
}

const PIN_CALL_MESSAGES: Readonly<Record<Exclude<PinCaptureOutcome, 'captured'>, string>> = Object.freeze({
  'not-answered': 'the PIN call was not answered',
  'no-pin-keyed': 'no PIN was keyed during the call',
  dropped: 'the PIN call was hung up before the PIN was keyed',
  cancelled: 'the payment was cancelled on the phone',
  'timed-out': 'the PIN call took too long and was ended',
});

/** The voice call ended without a PIN. */
export class PaymentPinNotCaptured extends PaypadError {
  readonly outcome: Exclude<PinCaptureOutcome, 'captured'>;
  constructor(outcome: Exclude<PinCaptureOutcome, 'captured'>) {
    super('PAYMENT_PIN_NOT_CAPTURED', PIN_CALL_MESSAGES[outcome]);
    this.outcome = outcome;
  }
}

/** A pay request whose request id this checkout has seen: nothing runs a second time. */
export class PaymentRequestReplayed extends PaypadError {
  constructor() {
    super('PAYMENT_REQUEST_REPLAYED', 'this payment request was sent before; nothing was run again');
  }
}

/** This checkout is paying now: one payment at a time. */
export class PaymentInProgress extends PaypadError {
  constructor() {
    super('PAYMENT_IN_PROGRESS', 'a payment is running on this checkout');
  }
}
