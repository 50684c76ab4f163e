/**
 * A simulated card-issuing bank (X5): its card accounts, and the issuer's side of a debit, a
 * credit, a reversal and an account verification. The provider (bankSimulator.ts) routes requests
 * here after its own checks; what the issuer decides is in the order a real issuer decides it:
 *
 *   no such card 14 -> blocked 57 -> expired 54 -> PIN tries used up 75 -> wrong PIN 55 (the try
 *   that uses up the last one: 75) -> other currency 05 -> not enough money 51 -> approved 00
 *
 * Balances are whole minor units of the account's one currency (fen for CNY). State lives in memory:
 * a simulated bank starts from a fixture (testCards.ts) each time, which is what tests and demos want,
 * and a real bank's ledger is not ours to keep. The account record holds a PIN verification value,
 * never a PIN.
 */
import { PaypadError } from '../../shared/errors';
import { isLuhnValid, isPanShaped } from '../../shared/pan';
import type { AccountVerificationResponse, CreditRequest, DebitRequest } from '../payments/paymentProvider';
import { type PaymentResponse, respond } from '../payments/responseCodes';
import type { IssuerPinVerifier } from './issuerPinVerifier';

export type CardStatus = 'active' | 'blocked';

/** A card account as a fixture describes it. */
export interface CardAccount {
  readonly pan: string;
  readonly holderName: string;
  /** Minor units of `currency`. */
  readonly balance: number;
  readonly currency: string;
  readonly status: CardStatus;
  /** Card expiry as embossed and on track 2 (ISO/IEC 7813): YYMM, valid to the end of that month. */
  readonly expiry: string;
}

/** Wrong PINs in a row before the card's PIN is locked (the usual issuer setting). */
export const PIN_TRY_LIMIT = 3;

interface AccountRecord {
  readonly pan: string;
  readonly holderName: string;
  balance: number;
  readonly currency: string;
  readonly status: CardStatus;
  readonly expiry: string;
  readonly pinVerificationValue: Uint8Array;
  pinTriesLeft: number;
}

const EXPIRY = /^(\d{2})(0[1-9]|1[0-2])$/;

export class IssuingBankSimulator {
  readonly #accounts = new Map<string, AccountRecord>();
  readonly #pinVerifier: IssuerPinVerifier;
  readonly #now: () => Date;

  constructor(
    readonly bankId: string,
    readonly name: string,
    pinVerifier: IssuerPinVerifier,
    now: () => Date,
  ) {
    this.#pinVerifier = pinVerifier;
    this.#now = now;
  }

  /**
   * Issues a card: the PIN the cardholder selected comes as a PIN block, and only its verification
   * value is kept. SIMULATOR_FIXTURE_INVALID for a malformed account or a PAN already issued here.
   */
  async issueCard(account: CardAccount, pinBlock: Uint8Array): Promise<void> {
    assertCardAccount(account);
    if (this.#accounts.has(account.pan)) throw new PaypadError('SIMULATOR_FIXTURE_INVALID', `bank ${this.bankId}: that PAN is already issued`);
    const pinVerificationValue = await this.#pinVerifier.pinVerificationValue(account.pan, pinBlock);
    this.#accounts.set(account.pan, { ...account, pinVerificationValue, pinTriesLeft: PIN_TRY_LIMIT });
  }

  async debit(request: DebitRequest): Promise<PaymentResponse> {
    const account = this.#usableAccount(request.pan);
    if ('responseCode' in account) return account;
    if (account.pinTriesLeft === 0) return respond('75', 'the PIN is locked; the cardholder must contact the bank');
    if (!(await this.#pinVerifier.verifyPin(request.pan, request.pinBlock, account.pinVerificationValue))) {
      account.pinTriesLeft--;
      return account.pinTriesLeft === 0
        ? respond('75', 'the PIN is now locked; the cardholder must contact the bank')
        : respond('55', `${account.pinTriesLeft} ${account.pinTriesLeft === 1 ? 'try' : 'tries'} left`);
    }
    account.pinTriesLeft = PIN_TRY_LIMIT;
    if (request.currency !== account.currency) return respond('05', `the card account does not hold ${request.currency}`);
    if (account.balance < request.amount) return respond('51');
    account.balance -= request.amount;
    return respond('00');
  }

  credit(request: CreditRequest): PaymentResponse {
    const account = this.#usableAccount(request.pan);
    if ('responseCode' in account) return account;
    if (request.currency !== account.currency) return respond('05', `the card account does not hold ${request.currency}`);
    account.balance += request.amount;
    return respond('00');
  }

  /** Puts back an approved debit (the provider checks it was one, and only once). */
  refund(pan: string, amount: number): void {
    this.#accounts.get(pan)!.balance += amount;
  }

  /** Whether the card is good and `holderName` is its holder's (C1); the holder's name is never returned. */
  verifyHolder(pan: string, holderName: string): AccountVerificationResponse {
    const account = this.#usableAccount(pan);
    if ('responseCode' in account) return account;
    return { ...respond('00'), nameMatches: comparableName(holderName) === comparableName(account.holderName) };
  }

  /** The balance a test or an operator looks at; undefined for a card this bank did not issue. */
  balanceOf(pan: string): { balance: number; currency: string } | undefined {
    const account = this.#accounts.get(pan);
    return account && { balance: account.balance, currency: account.currency };
  }

  #usableAccount(pan: string): AccountRecord | PaymentResponse {
    const account = this.#accounts.get(pan);
    if (!account) return respond('14', 'the card issuer has no such card');
    if (account.status === 'blocked') return respond('57', 'the card is blocked');
    if (isExpired(account.expiry, this.#now())) return respond('54');
    return account;
  }
}

/** A card is good through the last day of its expiry month (ISO/IEC 7813 YYMM), in UTC here. */
function isExpired(expiry: string, now: Date): boolean {
  const m = EXPIRY.exec(expiry)!;
  const lastMonth = (2000 + Number(m[1])) * 12 + Number(m[2]) - 1;
  return now.getUTCFullYear() * 12 + now.getUTCMonth() > lastMonth;
}

/**
 * Names compare after Unicode compatibility folding (full-width letters typed on a Chinese keyboard
 * equal their ASCII forms), case folding and collapsed spaces, and exactly otherwise: a "close match"
 * would have to say how close, which tells the asker about a name it does not know.
 */
function comparableName(name: string): string {
  return name.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

function assertCardAccount(account: CardAccount): void {
  const bad = (what: string) => new PaypadError('SIMULATOR_FIXTURE_INVALID', `card account: ${what}`);
  if (typeof account !== 'object' || account === null) throw bad('expected an object');
  if (!isPanShaped(account.pan) || !isLuhnValid(account.pan)) {
    throw bad('pan: expected 8 to 19 digits ending in a Luhn check digit');
  }
  if (typeof account.holderName !== 'string' || account.holderName.trim() === '') throw bad('holderName: expected a name');
  if (!Number.isSafeInteger(account.balance) || account.balance < 0) throw bad('balance: expected whole minor units, zero or more');
  if (typeof account.currency !== 'string' || !/^[A-Z]{3}$/.test(account.currency)) throw bad('currency: expected an ISO 4217 code');
  if (account.status !== 'active' && account.status !== 'blocked') throw bad('status: expected active or blocked');
  if (typeof account.expiry !== 'string' || !EXPIRY.test(account.expiry)) throw bad('expiry: expected YYMM');
}
