/**
 * The simulated payment network every test and demo uses (X5): one provider, four banks (three
 * contracted, one not), a BIN table for UnionPay, VISA and MasterCard, and a test card for each
 * answer a payment can get. docs/simulators.md lists the same cards; a test keeps the two equal.
 *
 * Every PAN here ends in a valid Luhn check digit and is routed by the BIN table to the bank named.
 * The test PIN is test data, like a published test vector: it is enciphered into a PIN block under
 * the zone PIN key when the network is made, and the simulated banks only ever see PIN blocks.
 */
import { randomBytes } from 'node:crypto';
import type { Rng } from '../../shared/bytes';
import { encipherPinBlockIso4 } from '../../shared/crypto/pinblock';
import { BankSimulator, type FixtureCard, type PaymentNetworkFixture } from './bankSimulator';

/** Every test card's PIN. */
export const TEST_PIN = '1234';

export const TEST_BANKS = Object.freeze({
  east: { bankId: 'SIM-EAST', name: 'East Harbour Bank (simulated)', contracted: true },
  west: { bankId: 'SIM-WEST', name: 'West Lake Bank (simulated)', contracted: true },
  north: { bankId: 'SIM-NORTH', name: 'North Star Bank (simulated)', contracted: true },
  south: { bankId: 'SIM-SOUTH', name: 'South Bridge Bank (simulated, not contracted)', contracted: false },
});

const card = (pan: string, holderName: string, balance: number, extra: Partial<FixtureCard> = {}): FixtureCard =>
  Object.freeze({ pan, holderName, balance, currency: 'CNY', status: 'active', expiry: '3012', pin: TEST_PIN, ...extra });

export const TEST_CARDS = Object.freeze({
  /** UnionPay, East Harbour: approved up to 10 000.00 CNY. */
  unionPay: card('6222021000000000017', '张三', 1_000_000),
  /** UnionPay, East Harbour: 5.00 CNY, so most debits answer 51. */
  insufficientFunds: card('6222021000000000025', '李四', 500),
  /** UnionPay, East Harbour: blocked by the bank, 57. */
  blocked: card('6222021000000000033', '王五', 1_000_000, { status: 'blocked' }),
  /** UnionPay, East Harbour: expired January 2024, 54. */
  expired: card('6222021000000000041', '赵六', 1_000_000, { expiry: '2401' }),
  /** UnionPay, South Bridge (BIN 62220299 inside East Harbour's 622202): not contracted, 57 (C7). */
  nonContracted: card('6222029900000000010', '钱七', 1_000_000),
  /** UnionPay, East Harbour: an empty account to credit, the payee's bound card (C9). */
  payee: card('6222021000000000058', '王小明', 0),
  /** VISA, West Lake: approved. */
  visa: card('4111111000000003', 'Li Lei', 1_000_000),
  /** MasterCard, North Star: approved. */
  masterCard: card('5454541000000003', 'Han Meimei', 1_000_000),
  /** MasterCard, North Star: a USD account, so a CNY debit answers 05. */
  foreignCurrency: card('5454541000000011', 'John Smith', 100_000, { currency: 'USD' }),
});

/** A PAN whose last digit is not its Luhn check digit (14). */
export const BAD_CHECK_DIGIT_PAN = '6222021000000000018';
/** A Luhn-valid PAN (a Discover test card) that no scheme in the table issues (14). */
export const UNKNOWN_BIN_PAN = '6011111111111117';

export const TEST_NETWORK: PaymentNetworkFixture = {
  providerId: 'SIM-PSP',
  banks: Object.values(TEST_BANKS),
  bins: [
    { bin: '622202', scheme: 'UnionPay', bankId: TEST_BANKS.east.bankId },
    { bin: '62220299', scheme: 'UnionPay', bankId: TEST_BANKS.south.bankId },
    { bin: '411111', scheme: 'VISA', bankId: TEST_BANKS.west.bankId },
    { bin: '545454', scheme: 'MasterCard', bankId: TEST_BANKS.north.bankId },
  ],
  cards: Object.values(TEST_CARDS),
};

export interface TestPaymentNetwork {
  readonly provider: BankSimulator;
  /** A PIN block for `pan` as the platform's HSM would send it: format 4 under the zone PIN key. */
  pinBlock(pan: string, pin?: string): Uint8Array;
  /**
   * The simulated network's zone PIN key, as its side of a key ceremony holds it: for a simulated
   * ceremony that gives the same key to a POSP's HSM (host/posp/simulatedAcquirer.ts).
   */
  readonly zonePinKey: Uint8Array;
}

const nodeRng: Rng = (length) => new Uint8Array(randomBytes(length));

/** A fresh network from TEST_NETWORK, with a zone PIN key of its own; `now` defaults to the wall clock. */
export async function createTestPaymentNetwork(options: { now?: () => Date } = {}): Promise<TestPaymentNetwork> {
  const zonePinKey = nodeRng(16);
  const provider = await BankSimulator.create(TEST_NETWORK, { zonePinKey, rng: nodeRng, now: options.now ?? (() => new Date()) });
  return { provider, pinBlock: (pan, pin = TEST_PIN) => encipherPinBlockIso4(zonePinKey, pin, pan, nodeRng), zonePinKey };
}
