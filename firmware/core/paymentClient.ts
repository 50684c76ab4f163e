/**
 * The PIN pad's side of the terminal transaction protocol with POSP (docs/payments.md; SPEC C3-C8,
 * X1, X2; shared/protocol/transactions.ts):
 *
 *   POST <kmsUrl>/posp/v1/terminals/<serial>/mobile/lookup   mobileLookupRequest -> mobileLookupResponse (C3-C5)
 *   POST <kmsUrl>/posp/v1/terminals/<serial>/mobile/pay      mobilePayRequest -> mobilePayResponse       (C6-C8)
 *
 * POSP runs beside the customer's KMS, on its listener and with its keys, so the terminal reaches it
 * at the KMS URL it was manufactured with. Every request goes out in the MAC'd envelope under MAK,
 * numbered from the sequence key loading uses (terminalState.reserveSequence, persisted first); a
 * terminal that is not signed on under its current TMK has no MAK to use and sends nothing.
 *
 * Card data leaves only enciphered under TDK and the PIN only as a format 4 block under PIK, both
 * made by the vault (X1). The caller owns the track bytes and wipes them after the call.
 *
 * An answer is read only after its MAC verified under MAK:
 *   - unsigned: POSP_RESPONSE_UNSIGNED (only its error code is shown, never acted on);
 *   - bad MAC: MAC_MISMATCH; malformed MAC header: PROTOCOL_MALFORMED;
 *   - authenticated refusal: PospRefusal (code POSP_REFUSED) with POSP's own error code;
 *   - authenticated answer: validated; a payment's responseCode says whether the card was debited.
 * An answer lost in transit (HTTP_FAILED, HTTP_TIMEOUT) is asked for again with the very same
 * request, bytes and sequence number, up to RESENDS times: POSP answers a repeat from what it
 * stored, so the card is debited at most once and the terminal still learns the outcome
 * (docs/payments.md "Sequence numbers and retries").
 *
 * Structured as kmsClient.ts: a chain of promise reactions, each step small and synchronous on the
 * vault, so the device's stack holds one step's frames at a time (docs/firmware.md "Stack").
 * Runs in XS: no Node APIs.
 */
import { toHex } from 'shared/bytes';
import { PaypadError, isPaypadError } from 'shared/errors';
import { assertMainlandMobileNumber } from 'shared/mobileNumber';
import { MAX_BODY_BYTES, requestMacHeaders, requestMacInput, responseMacInput, responseMacOf } from 'shared/protocol/macEnvelope';
import { validateMessage } from 'shared/protocol/messages';
import {
  type MobileLookupResponse,
  type MobilePayResponse,
  type PospTransactionRoute,
  TRANSACTION_MAX_BODY_BYTES,
  TRANSACTION_VERSION,
  type TransactionMessage,
  pospTerminalPath,
  validateTransactionMessage,
} from 'shared/protocol/transactions';
import { readTrack2 } from 'shared/track2';
import { decodeJson, encodeJson } from 'shared/protocol/validate';
import type { Http, HttpResponse } from '../hal/http';
import type { Storage } from '../hal/storage';
import { hasMacHeader, unsignedErrorCode } from './kmsClient';
import type { KeyVault } from './keyVault';
import type { TerminalIdentity } from './terminalIdentity';
import { reserveSequence } from './terminalState';

type AnswerName = 'mobileLookupResponse' | 'mobilePayResponse';

/** How often a request whose answer was lost is sent again, unchanged. */
const RESENDS = 2;

/** An authenticated refusal: POSP MAC'd its answer, so its error code can be acted on (e.g. PAYEE_UNKNOWN, RATE_LIMITED). */
export class PospRefusal extends PaypadError {
  readonly pospCode: string;
  readonly status: number;
  constructor(route: PospTransactionRoute, status: number, pospCode: string, pospMessage: string) {
    super('POSP_REFUSED', `POSP refused the ${route} request (${status} ${pospCode}: ${pospMessage})`);
    this.pospCode = pospCode;
    this.status = status;
  }
}

/** A payment to the payee a lookup confirmed (C3, C6). */
export interface MobilePayment {
  /** From the mobileLookupResponse the payer confirmed (C5). */
  readonly lookupId: string;
  /** Integer minor units of `currency` (fen for CNY). */
  readonly amount: number;
  /** ISO 4217 alphabetic code. */
  readonly currency: string;
  /** Track 2 as the card reader gave it (ASCII, no sentinels); the caller wipes it afterwards. */
  readonly track2: Uint8Array;
  /** As keyed on the PIN pad; enciphered at once into a format 4 block under PIK. */
  readonly pin: string;
  /** The payer's own mobile number, for the success text (C3, C8). */
  readonly payerMobile?: string;
}

export interface PaymentClientOptions {
  readonly identity: TerminalIdentity;
  readonly vault: KeyVault;
  readonly storage: Storage;
  readonly http: Http;
  /** True when the vault's MAK belongs to its current TMK (kmsClient signOnKeyId() === 'MAK'). */
  readonly signedOn: () => boolean;
}

/** A request as sent: what its answer is verified against. */
interface SignedRequest {
  readonly route: PospTransactionRoute;
  readonly path: string;
  readonly body: Uint8Array;
  readonly headers: Record<string, string>;
  readonly seq: number;
}

export class PaymentClient {
  readonly #identity: TerminalIdentity;
  readonly #vault: KeyVault;
  readonly #storage: Storage;
  readonly #http: Http;
  readonly #signedOn: () => boolean;

  constructor(options: PaymentClientOptions) {
    this.#identity = options.identity;
    this.#vault = options.vault;
    this.#storage = options.storage;
    this.#http = options.http;
    this.#signedOn = options.signedOn;
  }

  /** C3-C5: the payee registered for `payeeMobile`, name masked, for the payer to confirm; the payer's own number when keyed. */
  lookupPayee(payeeMobile: string, payerMobile?: string): Promise<MobileLookupResponse> {
    // C4: the POS's number check unit, the platform's own rule: a bad number is keyed again without a round trip.
    try {
      assertMainlandMobileNumber(payeeMobile, "payee's mobile number");
      if (payerMobile !== undefined) assertMainlandMobileNumber(payerMobile, "payer's mobile number");
    } catch (e) {
      return Promise.reject(e);
    }
    const request = { v: TRANSACTION_VERSION, payeeMobile };
    return this.#exchange(
      'mobile/lookup',
      () => validateTransactionMessage('mobileLookupRequest', payerMobile === undefined ? request : { ...request, payerMobile }),
      'mobileLookupResponse',
    );
  }

  /** C6-C8: debits the swiped card for the confirmed payee; the answer's responseCode '00' is approved. */
  payByMobile(payment: MobilePayment): Promise<MobilePayResponse> {
    return this.#exchange(
      'mobile/pay',
      () => toHex(this.#vault.encipherCardData(payment.track2)),
      'mobilePayResponse',
      (sealedCard) => {
        const { pan } = readTrack2(payment.track2);
        const pinBlock = toHex(this.#vault.encipherPin(payment.pin, pan));
        const request = { v: TRANSACTION_VERSION, lookupId: payment.lookupId, amount: payment.amount, currency: payment.currency, card: sealedCard, pinBlock };
        return validateTransactionMessage('mobilePayRequest', payment.payerMobile === undefined ? request : { ...request, payerMobile: payment.payerMobile });
      },
    );
  }

  /**
   * One MAC'd round trip as a chain of promise reactions (kmsClient.ts #exchange): `first` runs
   * from an empty stack, `build` (when given) turns its result into the message, then the message
   * is MAC'd and sent, and the answer is read only once its MAC verified.
   */
  #exchange<N extends AnswerName, F>(
    route: PospTransactionRoute,
    first: () => F,
    answerName: N,
    build?: (firstResult: F) => object,
  ): Promise<TransactionMessage<N>> {
    return Promise.resolve()
      .then(() => {
        if (!this.#signedOn()) throw new PaypadError('TERMINAL_STATE', 'the terminal is not signed on under its current TMK: sign on first (A12)');
        return first();
      })
      .then((result) => (build === undefined ? result : build(result)) as object)
      .then((message) => this.#sign(route, message))
      .then((request) => this.#send(request))
      .then(({ request, response }) => {
        this.#authenticate(request, response);
        return response;
      })
      .then((response) => answer(route, response, answerName));
  }

  /** `message` MAC'd under MAK with the next sequence number (persisted first). */
  #sign(route: PospTransactionRoute, message: object): SignedRequest {
    const { serial } = this.#identity;
    const path = pospTerminalPath(serial, route);
    const body = encodeJson(message);
    const fields = { method: 'POST', path, serial, seq: reserveSequence(this.#storage), keyId: 'MAK' as const };
    const headers = requestMacHeaders(fields, this.#vault.mac('MAK', requestMacInput(fields, body)));
    const out: Record<string, string> = { 'content-type': 'application/json' };
    for (const name of Object.keys(headers)) out[name.toLowerCase()] = headers[name];
    return { route, path, body, headers: out, seq: fields.seq };
  }

  #send(request: SignedRequest, resends = RESENDS): Promise<{ request: SignedRequest; response: HttpResponse }> {
    const { kmsUrl, trustAnchor } = this.#identity;
    return this.#http
      .request({ method: 'POST', url: kmsUrl + request.path, headers: request.headers, body: request.body, tls: { trustAnchor }, maxResponseBytes: MAX_BODY_BYTES })
      .then(
        (response) => ({ request, response }),
        (e: unknown) => {
          if (resends > 0 && (isPaypadError(e, 'HTTP_FAILED') || isPaypadError(e, 'HTTP_TIMEOUT'))) return this.#send(request, resends - 1);
          throw e;
        },
      );
  }

  /** Throws unless the response carries a MAC that verifies under MAK for this request's serial and sequence. */
  #authenticate(request: SignedRequest, response: HttpResponse): void {
    if (!hasMacHeader(response.headers)) {
      throw new PaypadError(
        'POSP_RESPONSE_UNSIGNED',
        `POSP answered the ${request.route} request with status ${response.status} and no MAC (unauthenticated diagnostic: ${unsignedErrorCode(response)})`,
      );
    }
    const fields = { status: response.status, serial: this.#identity.serial, seq: request.seq };
    try {
      this.#vault.verifyMac('MAK', responseMacInput(fields, response.body), responseMacOf(response.headers));
    } catch (e) {
      if (!isPaypadError(e)) throw e;
      throw new PaypadError(e.code, `POSP ${request.route} response: ${e.code === 'MAC_MISMATCH' ? 'response MAC does not verify' : e.message}`);
    }
  }
}

/** An authenticated answer, validated; an authenticated refusal as a PospRefusal. */
function answer<N extends AnswerName>(route: PospTransactionRoute, response: HttpResponse, answerName: N): TransactionMessage<N> {
  if (response.status !== 200) {
    const { error } = decodeJson(response.body, MAX_BODY_BYTES, (value) => validateMessage('errorBody', value), 'errorBody');
    throw new PospRefusal(route, response.status, error.code, error.message);
  }
  return decodeJson(response.body, TRANSACTION_MAX_BODY_BYTES, (value) => validateTransactionMessage(answerName, value), answerName);
}
