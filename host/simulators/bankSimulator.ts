/**
 * The simulated payment service provider and the banks behind it (X5): the card network the
 * platform's payment interface talks to (C6-C9), answering PaymentProvider calls the way the
 * provider answers ISO 8583 messages over the acquiring channel.
 *
 * What the provider decides before an issuer sees the request, in this order:
 *
 *   unreadable request  PaypadError PAYMENT_REQUEST_INVALID, nothing recorded
 *   reference seen      94 (every well-formed request uses up its reference, whatever the answer)
 *   bad check digit     14
 *   no BIN matches      14
 *   bank not contracted 57 (C7: the provider pays and credits only through contracted banks)
 *   issuer down         91, the issuer never saw it
 *   issuer slow         91, but the issuer acted: the answer came after the provider's deadline,
 *                       so a debit stands until the acquirer reverses it, and a credit shows up
 *                       only in the settlement file (what C9 reconciliation is for)
 *
 * then the issuer's own checks (issuingBankSimulator.ts). Approved debits, credits and reversals are
 * kept, with the PAN masked, for the day's settlement file (host/payments/settlementFile.ts).
 *
 * State lives in memory and starts from a fixture (testCards.ts): a simulator stands for parties
 * whose books are not ours, tests want a known start every time, and nothing in it must survive
 * the process. Time comes from `now`, so tests can cross midnight or a card's expiry at will.
 */
import { PaypadError } from '../../shared/errors';
import { encipherPinBlockIso4 } from '../../shared/crypto/pinblock';
import type { Rng } from '../../shared/bytes';
import { isLuhnValid, isPanShaped, maskPan } from '../../shared/pan';
import {
  type AccountVerificationRequest,
  type AccountVerificationResponse,
  type ApprovalResponse,
  assertAccountVerificationRequest,
  assertBusinessDay,
  assertCardBankRequest,
  assertCurrency,
  assertDebitRequest,
  assertReversalRequest,
  assertTransferRequest,
  type CreditRequest,
  type DebitRequest,
  type PaymentProvider,
  type ReversalRequest,
} from '../payments/paymentProvider';
import { type PaymentResponse, respond } from '../payments/responseCodes';
import { formatSettlementFile, type SettlementRecord, type SettlementRecordType } from '../payments/settlementFile';
import { type BinRange, BinTable } from './binTable';
import { IssuerHsmSimulator } from './issuerHsmSimulator';
import type { IssuerPinVerifier } from './issuerPinVerifier';
import { type CardAccount, IssuingBankSimulator } from './issuingBankSimulator';

/** How a simulated issuer answers, set by a test: normally, not at all, or too late. */
export type IssuerAvailability = 'up' | 'down' | 'slow';

export interface SimulatedBank {
  readonly bankId: string;
  readonly name: string;
  /** Whether the provider has a contract with this bank (C7). */
  readonly contracted: boolean;
}

/** A card as a fixture lists it: its account, and the PIN its holder selected (test data only). */
export interface FixtureCard extends CardAccount {
  readonly pin: string;
}

export interface PaymentNetworkFixture {
  readonly providerId: string;
  readonly banks: readonly SimulatedBank[];
  readonly bins: readonly BinRange[];
  readonly cards: readonly FixtureCard[];
}

interface Transaction {
  readonly kind: 'debit' | 'credit';
  readonly pan: string;
  readonly route: BinRange;
  readonly amount: number;
  readonly currency: string;
  /** The issuer applied it (approved, or acted on while the provider answered 91). */
  applied: boolean;
  approvalCode?: string;
  reversed: boolean;
}

export interface BankSimulatorOptions {
  /** The zone PIN key as the key ceremony gave it: the fixture's PINs are enciphered under it at card issue. */
  readonly zonePinKey: Uint8Array;
  readonly rng: Rng;
  readonly now: () => Date;
  /**
   * Each bank's PIN verifier; by default an IssuerHsmSimulator holding `zonePinKey`. Give
   * hsmIssuerPinVerifier to run the issuers' PIN work on a host HSM holding the same ZPK.
   */
  readonly pinVerifierFor?: (bankId: string) => IssuerPinVerifier;
}

/** Provider and bank ids, as the settlement file carries them. */
const PARTY_ID = /^[A-Z0-9-]{1,20}$/;

interface SettlementEntry extends SettlementRecord {
  readonly currency: string;
}

interface Member {
  readonly bank: IssuingBankSimulator;
  readonly contracted: boolean;
  availability: IssuerAvailability;
}

export class BankSimulator implements PaymentProvider {
  readonly #providerId: string;
  readonly #bins: BinTable;
  readonly #members: Map<string, Member>;
  readonly #now: () => Date;
  /** Every reference a well-formed request used; a reference is good once (ISO 8583 duplicate check). */
  readonly #references = new Set<string>();
  /** The requests that reached an issuer's door, by reference. */
  readonly #transactions = new Map<string, Transaction>();
  readonly #settled: SettlementEntry[] = [];
  #approvals = 0;

  private constructor(providerId: string, bins: BinTable, members: Map<string, Member>, now: () => Date) {
    this.#providerId = providerId;
    this.#bins = bins;
    this.#members = members;
    this.#now = now;
  }

  /**
   * The network a fixture describes. Each bank gets its own PIN verifier (an issuer HSM simulator
   * holding `zonePinKey` unless `pinVerifierFor` says otherwise); each card's PIN is enciphered under
   * the zone PIN key, as a PIN-selection device would, and reaches its bank only as a PIN block.
   * SIMULATOR_FIXTURE_INVALID for a malformed provider id, a malformed or repeated bank, a BIN naming
   * an unlisted bank, or a card account that is malformed, repeated or routed by no BIN;
   * BIN_TABLE_INVALID for a malformed BIN table.
   */
  static async create(fixture: PaymentNetworkFixture, options: BankSimulatorOptions): Promise<BankSimulator> {
    if (typeof fixture.providerId !== 'string' || !PARTY_ID.test(fixture.providerId)) {
      throw new PaypadError('SIMULATOR_FIXTURE_INVALID', 'provider id: expected 1 to 20 of A-Z, 0-9, -');
    }
    const members = new Map<string, Member>();
    const pinVerifierFor = options.pinVerifierFor ?? (() => new IssuerHsmSimulator(options.zonePinKey));
    for (const { bankId, name, contracted } of fixture.banks) {
      if (typeof bankId !== 'string' || !PARTY_ID.test(bankId)) throw new PaypadError('SIMULATOR_FIXTURE_INVALID', 'bank id: expected 1 to 20 of A-Z, 0-9, -');
      if (members.has(bankId)) throw new PaypadError('SIMULATOR_FIXTURE_INVALID', `bank ${bankId} is listed twice`);
      const bank = new IssuingBankSimulator(bankId, name, pinVerifierFor(bankId), options.now);
      members.set(bankId, { bank, contracted, availability: 'up' });
    }
    const bins = new BinTable(fixture.bins);
    for (const range of fixture.bins) {
      if (!members.has(range.bankId)) throw new PaypadError('SIMULATOR_FIXTURE_INVALID', `BIN ${range.bin} names bank ${range.bankId}, which is not listed`);
    }
    for (const { pin, ...account } of fixture.cards) {
      const route = isPanShaped(account.pan) ? bins.lookup(account.pan) : undefined;
      if (!route) throw new PaypadError('SIMULATOR_FIXTURE_INVALID', 'card account: no BIN in the table routes its PAN');
      await members.get(route.bankId)!.bank.issueCard(account, encipherPinBlockIso4(options.zonePinKey, pin, account.pan, options.rng));
    }
    return new BankSimulator(fixture.providerId, bins, members, options.now);
  }

  async authorise(request: DebitRequest): Promise<ApprovalResponse> {
    assertDebitRequest(request);
    return this.#transfer('debit', request, (bank) => bank.debit(request));
  }

  async credit(request: CreditRequest): Promise<ApprovalResponse> {
    assertTransferRequest(request);
    return this.#transfer('credit', request, async (bank) => bank.credit(request));
  }

  async reverse(request: ReversalRequest): Promise<PaymentResponse> {
    assertReversalRequest(request);
    const debit = this.#transactions.get(request.reference);
    if (!debit || debit.kind !== 'debit' || !debit.applied) return respond('25', 'no debit with this reference was made');
    if (debit.reversed) return respond('00', 'already reversed');
    const member = this.#members.get(debit.route.bankId)!;
    if (member.availability === 'down') return respond('91', 'the reversal could not reach the card issuer; send it again');
    member.bank.refund(debit.pan, debit.amount);
    debit.reversed = true;
    this.#settle('REVERSAL', request.reference, debit);
    return respond('00', 'reversed');
  }

  async verifyAccount(request: AccountVerificationRequest): Promise<AccountVerificationResponse> {
    assertAccountVerificationRequest(request);
    const routed = this.#route(request.pan);
    if ('responseCode' in routed) return routed;
    if (routed.member.availability !== 'up') return respond('91', 'the card issuer did not answer');
    return routed.member.bank.verifyHolder(request.pan, request.holderName);
  }

  async checkCardBank(pan: string): Promise<PaymentResponse> {
    assertCardBankRequest(pan);
    const routed = this.#route(pan);
    return 'responseCode' in routed ? routed : respond('00', `issued by ${routed.member.bank.name}, a contracted bank`);
  }

  async settlementFile(businessDay: string, currency: string): Promise<string> {
    assertBusinessDay(businessDay);
    assertCurrency(currency);
    const records = this.#settled
      .filter((e) => e.currency === currency && e.time.startsWith(businessDay))
      .map(({ currency: _currency, ...record }) => record);
    return formatSettlementFile({ businessDay, providerId: this.#providerId, currency, records });
  }

  /** Makes a bank's issuer answer normally, not at all, or too late (91 either way). BAD_ARGUMENT for an unknown bank. */
  setIssuerAvailability(bankId: string, availability: IssuerAvailability): void {
    const member = this.#members.get(bankId);
    if (!member) throw new PaypadError('BAD_ARGUMENT', `no simulated bank ${bankId}`);
    if (!['up', 'down', 'slow'].includes(availability)) throw new PaypadError('BAD_ARGUMENT', 'availability: expected up, down or slow');
    member.availability = availability;
  }

  /** The card's balance at its bank, for tests and an operator's view; undefined for an unknown card. */
  balanceOf(pan: string): { balance: number; currency: string } | undefined {
    const routed = this.#route(pan);
    return 'responseCode' in routed ? undefined : routed.member.bank.balanceOf(pan);
  }

  async #transfer(
    kind: Transaction['kind'],
    request: DebitRequest | CreditRequest,
    atIssuer: (bank: IssuingBankSimulator) => Promise<PaymentResponse>,
  ): Promise<ApprovalResponse> {
    if (this.#references.has(request.reference)) return respond('94', 'this reference was already used');
    this.#references.add(request.reference);
    const routed = this.#route(request.pan);
    if ('responseCode' in routed) return routed;
    const { route, member } = routed;
    const transaction: Transaction = { kind, pan: request.pan, route, amount: request.amount, currency: request.currency, applied: false, reversed: false };
    this.#transactions.set(request.reference, transaction);
    if (member.availability === 'down') return respond('91', 'the card issuer did not answer');
    const answer = await atIssuer(member.bank);
    if (answer.responseCode !== '00') return answer;
    transaction.applied = true;
    transaction.approvalCode = String(++this.#approvals).padStart(6, '0');
    this.#settle(kind === 'debit' ? 'DEBIT' : 'CREDIT', request.reference, transaction);
    if (member.availability === 'slow') return respond('91', 'the card issuer did not answer in time');
    return { ...answer, approvalCode: transaction.approvalCode };
  }

  #route(pan: string): { route: BinRange; member: Member } | PaymentResponse {
    if (!isLuhnValid(pan)) return respond('14', 'the card number fails its check digit');
    const route = this.#bins.lookup(pan);
    if (!route) return respond('14', 'no card scheme issues this card number');
    const member = this.#members.get(route.bankId)!;
    if (!member.contracted) return respond('57', "the card's bank is not contracted with the payment service provider");
    return { route, member };
  }

  #settle(type: SettlementRecordType, reference: string, t: Transaction): void {
    const time = new Date(Math.floor(this.#now().getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    this.#settled.push({
      type,
      reference,
      maskedPan: maskPan(t.pan),
      scheme: t.route.scheme,
      bankId: t.route.bankId,
      amount: t.amount,
      approvalCode: t.approvalCode!,
      time,
      currency: t.currency,
    });
  }
}
