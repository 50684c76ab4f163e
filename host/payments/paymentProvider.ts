/**
 * The payment service provider as the platform sees it (C6-C9): the card network (UnionPay, VISA,
 * MasterCard) that routes a request to the card's issuing bank and answers with an ISO 8583 response
 * code. Each method is one ISO 8583:1987 exchange:
 *
 *   authorise       0200/0210  financial request: the paying card is debited at once (C8)
 *   reverse         0400/0410  reversal of a debit whose answer was lost or is void
 *   credit          0200/0210  credit to the payee's bound card after reconciliation (C9),
 *                              processing code 20 (ISO 8583 DE 3)
 *   verifyAccount   0100/0110  account verification, amount zero, with the cardholder's name (C1)
 *   checkCardBank              whether the card's bank is one the provider has a contract with,
 *                              by its BIN (C7), before the payer spends a PIN entry on it
 *   settlementFile             the provider's daily file of what it settled (C9 reconciliation)
 *
 * host/simulators/bankSimulator.ts answers in process for tests and demos; an ISO 8583 client over
 * the acquiring channel implements the same interface, and nothing else knows which it got (X5).
 * A decline is an answer (a response code), not an error; a request the provider could not even
 * read is a PaypadError PAYMENT_REQUEST_INVALID, and changes nothing.
 */
import { PaypadError } from '../../shared/errors';
import { isPanShaped } from '../../shared/pan';
import type { PaymentResponse } from './responseCodes';

/** The schemes the provider in the patent stands for (C7). */
export type CardScheme = 'UnionPay' | 'VISA' | 'MasterCard';

export const CARD_SCHEMES: readonly CardScheme[] = Object.freeze(['UnionPay', 'VISA', 'MasterCard']);

export interface PaymentProvider {
  authorise(request: DebitRequest): Promise<ApprovalResponse>;
  reverse(request: ReversalRequest): Promise<PaymentResponse>;
  credit(request: CreditRequest): Promise<ApprovalResponse>;
  verifyAccount(request: AccountVerificationRequest): Promise<AccountVerificationResponse>;
  /**
   * C7: 00 when the provider routes `pan` (by its BIN, longest match) to a bank it has a contract
   * with; 57 when the bank is not contracted; 14 when no scheme issued the number or its check digit
   * is wrong. Moves nothing and uses no reference. PAYMENT_REQUEST_INVALID unless 8 to 19 digits.
   */
  checkCardBank(pan: string): Promise<PaymentResponse>;
  /** The file for one business day (YYYY-MM-DD, UTC) and currency, as text. */
  settlementFile(businessDay: string, currency: string): Promise<string>;
}

/** What every money-moving request carries. */
export interface TransferRequest {
  /** Retrieval reference number, ISO 8583 DE 37: 12 letters or digits, unique per request. */
  readonly reference: string;
  readonly pan: string;
  /** Minor units of `currency` (fen for CNY), ISO 8583 DE 4: 1 to 999 999 999 999. */
  readonly amount: number;
  /** ISO 4217 alphabetic code. */
  readonly currency: string;
}

export interface DebitRequest extends TransferRequest {
  /** ISO 9564-1 format 4 PIN block under the zone PIN key shared with the provider (DE 52). */
  readonly pinBlock: Uint8Array;
}

export type CreditRequest = TransferRequest;

export interface ReversalRequest {
  /** The reference of the debit to reverse (ISO 8583 DE 90 carries the original's data). */
  readonly reference: string;
}

export interface AccountVerificationRequest {
  readonly pan: string;
  /** The name the payee registered with (C1); compared by the issuer, never returned. */
  readonly holderName: string;
}

export interface ApprovalResponse extends PaymentResponse {
  /** ISO 8583 DE 38: six characters, present when approved. */
  readonly approvalCode?: string;
}

export interface AccountVerificationResponse extends PaymentResponse {
  /** Present when the card is good (00): whether the name matched. The issuer's name is never told. */
  readonly nameMatches?: boolean;
}

const REFERENCE = /^[0-9A-Za-z]{12}$/;
const CURRENCY = /^[A-Z]{3}$/;
/** ISO 8583 DE 4 is n12. */
const MAX_AMOUNT = 999_999_999_999;
const MAX_HOLDER_NAME = 70;
const PIN_BLOCK_BYTES = 16;
const BUSINESS_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

export function assertDebitRequest(request: DebitRequest): void {
  assertTransferRequest(request);
  if (!(request.pinBlock instanceof Uint8Array) || request.pinBlock.length !== PIN_BLOCK_BYTES) {
    throw invalid(`pinBlock: expected ${PIN_BLOCK_BYTES} bytes (ISO 9564-1 format 4)`);
  }
}

export function assertTransferRequest(request: TransferRequest): void {
  assertRequestObject(request);
  assertReference(request.reference);
  assertRequestPan(request.pan);
  if (!Number.isSafeInteger(request.amount) || request.amount < 1 || request.amount > MAX_AMOUNT) {
    throw invalid(`amount: expected whole minor units from 1 to ${MAX_AMOUNT}`);
  }
  assertCurrency(request.currency);
}

export function assertReversalRequest(request: ReversalRequest): void {
  assertRequestObject(request);
  assertReference(request.reference);
}

export function assertAccountVerificationRequest(request: AccountVerificationRequest): void {
  assertRequestObject(request);
  assertRequestPan(request.pan);
  const name = request.holderName;
  if (typeof name !== 'string' || name.trim().length === 0 || name.length > MAX_HOLDER_NAME) {
    throw invalid(`holderName: expected 1 to ${MAX_HOLDER_NAME} characters`);
  }
}

export function assertCurrency(currency: string): void {
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) throw invalid('currency: expected an ISO 4217 code such as CNY');
}

/** PAYMENT_REQUEST_INVALID unless `day` is a calendar date written YYYY-MM-DD. */
export function assertBusinessDay(day: string): void {
  const m = typeof day === 'string' ? BUSINESS_DAY.exec(day) : null;
  const date = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!date || date.toISOString().slice(0, 10) !== day) throw invalid('business day: expected a date written YYYY-MM-DD');
}

/** PAYMENT_REQUEST_INVALID unless `pan` is 8 to 19 digits. */
export function assertCardBankRequest(pan: string): void {
  assertRequestPan(pan);
}

function assertRequestObject(request: object): void {
  if (typeof request !== 'object' || request === null) throw invalid('expected a request object');
}

function assertReference(reference: string): void {
  if (typeof reference !== 'string' || !REFERENCE.test(reference)) {
    throw invalid('reference: expected 12 letters or digits (ISO 8583 DE 37)');
  }
}

/**
 * A PAN that is not 8 to 19 digits cannot be read at all (a malformed request); one whose check digit
 * is wrong is a well-formed request for an invalid card, which the provider answers with 14.
 */
function assertRequestPan(pan: string): void {
  if (!isPanShaped(pan)) throw invalid('pan: expected 8 to 19 digits');
}

function invalid(message: string): PaypadError {
  return new PaypadError('PAYMENT_REQUEST_INVALID', message);
}
