/**
 * The voice PIN channel (E5) as the gateway's payment flow sees it: given a payment that needs the
 * card's PIN, call the mobile number the user entered, have the PIN keyed during the call, and get
 * back an ISO 9564-1 format 4 PIN block under the PIN-capture module's key (voicePinBlock.ts).
 * voicePinCapture.ts implements it; docs/voice-pin.md says how a payment uses it.
 *
 * The request carries the PAN and nothing else of the card: track data, expiry and card
 * verification values go to the acquirer on the payment flow's own channel, never on this one, so
 * PIN and track data never travel together (E5).
 *
 * A PIN the issuer refuses (response code 55) is found only after the debit; the flow then calls
 * `retry`, which calls the number again, until the issuer's PIN try limit.
 */
import { isMainlandMobileNumber, mobileNumberToE164 } from '../../shared/mobileNumber';
import { isLuhnValid, isPanShaped } from '../../shared/pan';
import { PaypadError } from '../../shared/errors';
import { isE164 } from '../voice/outboundCalls';

export interface PinCaptureRequest {
  /** The payment's reference (the gateway's order number): in the call log and the outcome, never said. */
  readonly reference: string;
  /** The number the user entered: 11 mainland digits ('13800138000') or E.164 ('+8613800138000'). */
  readonly mobile: string;
  /** The card's PAN: the PIN block is bound to it (format 4). Only the PAN: no track data. */
  readonly pan: string;
  /** Minor units (fen for CNY), said in the call. */
  readonly amountMinor: number;
  /** ISO 4217 alphabetic code. */
  readonly currency: string;
  /** The merchant as the user should hear it. */
  readonly merchantName: string;
}

/** Every way one call can end; only 'captured' carries a PIN block. */
export type PinCaptureResult =
  | (CaptureFacts & { readonly outcome: 'captured'; readonly pinBlock: Uint8Array; readonly pinKeyKcv: string })
  /** The call was never answered: busy, rang out, or could not be placed through. */
  | (CaptureFacts & { readonly outcome: 'not-answered'; readonly callStatus: 'busy' | 'no-answer' | 'failed' })
  /** Answered, but no PIN after every prompt: silence, or keys that are not 4-12 digits. */
  | (CaptureFacts & { readonly outcome: 'no-pin-keyed'; readonly prompts: number })
  /** The callee hung up (or the line dropped) before a PIN was keyed. */
  | (CaptureFacts & { readonly outcome: 'dropped' })
  /** The callee keyed '*': they do not want to pay. */
  | (CaptureFacts & { readonly outcome: 'cancelled' })
  /** The whole call took longer than the channel allows; it was hung up. */
  | (CaptureFacts & { readonly outcome: 'timed-out' });

export interface CaptureFacts {
  /** Names this capture for `retry` and `release`. */
  readonly captureId: string;
  readonly reference: string;
  /** 1 for the first call, 2 for the first retry ... */
  readonly attempt: number;
  /** The provider's id of this attempt's call (absent if the call never got one). */
  readonly callId?: string;
}

export type PinCaptureOutcome = PinCaptureResult['outcome'];

export interface VoicePinChannel {
  /**
   * Calls `request.mobile` and captures the PIN. VOICE_PIN_REQUEST_INVALID for a bad request
   * (nothing is called); VOICE_PIN_CAPTURE_BUSY while another capture for the same reference is
   * live; VOICE_PROVIDER_UNAVAILABLE when the provider refused the call request.
   */
  capturePin(request: PinCaptureRequest): Promise<PinCaptureResult>;
  /**
   * Calls again for a capture whose PIN the issuer refused (55) or whose call failed.
   * PIN_TRIES_EXCEEDED once the issuer's tries or the channel's calls are used up;
   * VOICE_PIN_CAPTURE_NOT_FOUND for an unknown or released capture; VOICE_PIN_CAPTURE_BUSY while its call runs.
   */
  retry(captureId: string): Promise<PinCaptureResult>;
  /** Forgets the capture and the PAN it holds (the payment is over, E7). Unknown ids are ignored. */
  release(captureId: string): void;
}

/** The request is not one the channel can call for; nothing was called. */
export class PinCaptureRequestInvalid extends PaypadError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('VOICE_PIN_REQUEST_INVALID', `${field}: ${message}`);
    this.field = field;
  }
}

export class PinCaptureNotFound extends PaypadError {
  constructor() {
    super('VOICE_PIN_CAPTURE_NOT_FOUND', 'no such PIN capture: it was released, expired, or never made');
  }
}

export class PinCaptureBusy extends PaypadError {
  constructor(reference: string) {
    super('VOICE_PIN_CAPTURE_BUSY', `the PIN capture for ${reference} is calling now, or awaits its payment's outcome: retry or release it`);
  }
}

/** The card's PIN may not be tried again: the payment must end without it. */
export class PinTriesExceeded extends PaypadError {
  readonly limit: number;
  constructor(limit: number, what: 'PIN tries' | 'calls') {
    super('PIN_TRIES_EXCEEDED', `all ${limit} ${what} for this payment are used up`);
    this.limit = limit;
  }
}

const REFERENCE = /^[A-Za-z0-9._:-]{1,64}$/;
const CURRENCY = /^[A-Z]{3}$/;
const MERCHANT_NAME_MAX = 60;
// Letters, marks, digits, spaces and the punctuation of company names: nothing a prompt would read oddly.
const MERCHANT_NAME = /^[\p{L}\p{M}\p{N} &'().,-]+$/u;

/** The request checked, with the number in E.164. PinCaptureRequestInvalid naming the first bad field. */
export function checkPinCaptureRequest(request: PinCaptureRequest): PinCaptureRequest & { readonly mobileE164: string } {
  if (typeof request !== 'object' || request === null) throw new PinCaptureRequestInvalid('request', 'expected an object');
  const { reference, mobile, pan, amountMinor, currency, merchantName } = request;
  if (typeof reference !== 'string' || !REFERENCE.test(reference)) throw new PinCaptureRequestInvalid('reference', 'expected 1-64 letters, digits, . _ : -');
  let mobileE164: string;
  if (isMainlandMobileNumber(mobile)) mobileE164 = mobileNumberToE164(mobile);
  else if (isE164(mobile)) mobileE164 = mobile;
  else throw new PinCaptureRequestInvalid('mobile', 'expected an 11-digit mainland mobile number or an E.164 number');
  if (!isPanShaped(pan) || !isLuhnValid(pan)) throw new PinCaptureRequestInvalid('pan', 'expected a card number of 8-19 digits with a valid check digit');
  if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) throw new PinCaptureRequestInvalid('amountMinor', 'expected a positive whole number of minor units');
  if (typeof currency !== 'string' || !CURRENCY.test(currency) || !isKnownCurrency(currency)) throw new PinCaptureRequestInvalid('currency', 'expected an ISO 4217 code such as CNY');
  if (typeof merchantName !== 'string' || merchantName.trim().length === 0 || merchantName.length > MERCHANT_NAME_MAX || !MERCHANT_NAME.test(merchantName)) {
    throw new PinCaptureRequestInvalid('merchantName', `expected 1-${MERCHANT_NAME_MAX} letters, digits, spaces and & ' ( ) . , -`);
  }
  return { reference, mobile, pan, amountMinor, currency, merchantName, mobileE164 };
}

/** 2500 CNY -> "25.00 CNY": the currency's own number of minor digits (ISO 4217), as the call says it. */
export function spokenAmount(amountMinor: number, currency: string): string {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return `${(amountMinor / 10 ** digits).toFixed(digits)} ${currency}`;
}

function isKnownCurrency(code: string): boolean {
  return Intl.supportedValuesOf('currency').includes(code);
}
