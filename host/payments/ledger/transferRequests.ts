/**
 * What a caller may ask of the ledger, and the checks at its boundary: every request is checked
 * whole before a transaction starts, so malformed input changes nothing and names exactly what
 * was expected. Rules that depend on stored state (funds, currency, a hold's state) are in ledger.ts.
 */
import { PaypadError } from '../../../shared/errors';
import { isLuhnValid } from '../../../shared/pan';
import { BALANCE_LIMITS, MAX_BALANCE } from './balances';
import { ACCOUNT_KINDS, type AccountSpec } from './ledgerStore';

/** Single-phase: moves `amount` at once (a debit of the paying card that needs no hold). */
export interface PostedTransferRequest {
  readonly kind: 'posted';
  /** The idempotency key: the same id with the same content returns the stored transfer. */
  readonly id: string;
  readonly debitAccount: string;
  readonly creditAccount: string;
  /** Minor units, 1 .. MAX_BALANCE. */
  readonly amount: bigint;
}

/** Two-phase, first phase: holds `amount` (an authorisation) until posted, voided or expired. */
export interface PendingTransferRequest extends Omit<PostedTransferRequest, 'kind'> {
  readonly kind: 'pending';
  /** The hold lapses this many seconds after it was made unless posted or voided first. */
  readonly timeoutSeconds?: number;
}

/** Settles the hold `pendingId` for `amount` (default: all of it); the rest of the hold is released. */
export interface PostPendingTransferRequest {
  readonly kind: 'post_pending';
  readonly id: string;
  readonly pendingId: string;
  readonly amount?: bigint;
}

/** Reverses the hold `pendingId`: all of it is released, nothing moves. */
export interface VoidPendingTransferRequest {
  readonly kind: 'void_pending';
  readonly id: string;
  readonly pendingId: string;
}

export type TransferRequest = PostedTransferRequest | PendingTransferRequest | PostPendingTransferRequest | VoidPendingTransferRequest;

/** Account codes and transfer ids: readable keys such as "payee:13800138000" or "pay-0001:auth". */
export const LEDGER_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/;
export const MAX_ACCOUNT_NAME_LENGTH = 200;
/** ISO 4217 alphabetic code. */
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
/** Card schemes keep an authorisation for days to weeks; a year bounds a typo without getting in the way. */
export const MAX_TIMEOUT_SECONDS = 366 * 24 * 60 * 60;
/** Linked transfers run in one transaction and lock every account they touch. */
export const MAX_LINKED_TRANSFERS = 1_000;

export function checkAccountSpec(spec: AccountSpec): AccountSpec {
  checkKey('account code', spec.code);
  if (typeof spec.name !== 'string' || spec.name.trim() === '' || spec.name.length > MAX_ACCOUNT_NAME_LENGTH) {
    throw new PaypadError('BAD_ARGUMENT', `account name must be a non-empty string of at most ${MAX_ACCOUNT_NAME_LENGTH} characters`);
  }
  refuseCardNumber('account name', spec.name);
  if (!ACCOUNT_KINDS.includes(spec.kind)) throw new PaypadError('BAD_ARGUMENT', `account kind must be one of ${ACCOUNT_KINDS.join(', ')}`);
  if (typeof spec.currency !== 'string' || !CURRENCY_PATTERN.test(spec.currency)) throw new PaypadError('BAD_ARGUMENT', 'account currency must be an ISO 4217 alphabetic code such as CNY');
  if (spec.limit !== undefined && !BALANCE_LIMITS.includes(spec.limit)) throw new PaypadError('BAD_ARGUMENT', `account limit must be one of ${BALANCE_LIMITS.join(', ')}, or omitted`);
  return { code: spec.code, name: spec.name, kind: spec.kind, currency: spec.currency, ...(spec.limit === undefined ? {} : { limit: spec.limit }) };
}

/**
 * Checks a linked batch (one request is a batch of one).
 * @throws PaypadError BAD_ARGUMENT naming the first request at fault and what was expected.
 */
export function checkTransferRequests(requests: readonly TransferRequest[]): void {
  if (!Array.isArray(requests) || requests.length === 0 || requests.length > MAX_LINKED_TRANSFERS) {
    throw new PaypadError('BAD_ARGUMENT', `linked transfers must be a list of 1 to ${MAX_LINKED_TRANSFERS} transfers`);
  }
  const ids = new Set<string>();
  for (const request of requests) {
    checkTransferRequest(request);
    if (ids.has(request.id)) throw new PaypadError('BAD_ARGUMENT', `transfer id ${request.id} appears twice in one batch`);
    ids.add(request.id);
  }
}

function checkTransferRequest(r: TransferRequest): void {
  if (typeof r !== 'object' || r === null) throw new PaypadError('BAD_ARGUMENT', 'a transfer request must be an object');
  checkKey('transfer id', r.id);
  switch (r.kind) {
    case 'posted':
    case 'pending':
      checkKey('debit account', r.debitAccount);
      checkKey('credit account', r.creditAccount);
      if (r.debitAccount === r.creditAccount) throw new PaypadError('BAD_ARGUMENT', `transfer ${r.id} debits and credits the same account ${r.debitAccount}`);
      checkAmount(r.id, r.amount);
      if (r.kind === 'pending' && r.timeoutSeconds !== undefined && (!Number.isSafeInteger(r.timeoutSeconds) || r.timeoutSeconds < 1 || r.timeoutSeconds > MAX_TIMEOUT_SECONDS)) {
        throw new PaypadError('BAD_ARGUMENT', `transfer ${r.id} timeout must be a whole number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}`);
      }
      if (r.kind === 'posted' && (r as { timeoutSeconds?: unknown }).timeoutSeconds !== undefined) {
        throw new PaypadError('BAD_ARGUMENT', `transfer ${r.id} is posted at once; only a pending transfer has a timeout`);
      }
      return;
    case 'post_pending':
    case 'void_pending':
      checkKey('pending transfer id', r.pendingId);
      if (r.pendingId === r.id) throw new PaypadError('BAD_ARGUMENT', `transfer ${r.id} cannot resolve itself`);
      if (r.kind === 'post_pending' && r.amount !== undefined) checkAmount(r.id, r.amount);
      // A void releases the whole hold; an amount on it would be a request the ledger ignores.
      if (r.kind === 'void_pending' && (r as { amount?: unknown }).amount !== undefined) throw new PaypadError('BAD_ARGUMENT', `transfer ${r.id} voids a hold whole and takes no amount`);
      return;
    default:
      throw new PaypadError('BAD_ARGUMENT', `transfer kind must be posted, pending, post_pending or void_pending, got ${JSON.stringify((r as { kind?: unknown }).kind)}`);
  }
}

function checkKey(what: string, value: unknown): void {
  if (typeof value !== 'string' || !LEDGER_KEY_PATTERN.test(value)) {
    throw new PaypadError('BAD_ARGUMENT', `${what} must be 1-64 of A-Z a-z 0-9 : . _ - starting with a letter or digit`);
  }
  refuseCardNumber(what, value);
}

/**
 * Codes, ids and names are stored and logged in clear, so they must not carry a card number
 * (PCI DSS v4.0 Req. 3.4.1; docs/ledger.md): a run of 13-19 digits that passes the Luhn check is
 * refused. Phone numbers (11 digits) and most references pass; name a card by an internal id.
 */
function refuseCardNumber(what: string, value: string): void {
  for (const digits of value.match(/[0-9]+/g) ?? []) {
    if (digits.length >= 13 && digits.length <= 19 && isLuhnValid(digits)) {
      throw new PaypadError('BAD_ARGUMENT', `${what} holds what looks like a card number; name a card by an internal id`);
    }
  }
}

function checkAmount(id: string, amount: unknown): void {
  // bigint, never number: a float cannot reach the books, and a typed caller cannot pass one.
  if (typeof amount !== 'bigint' || amount < 1n || amount > MAX_BALANCE) {
    throw new PaypadError('BAD_ARGUMENT', `transfer ${id} amount must be a bigint of minor units from 1 to ${MAX_BALANCE}`);
  }
}
