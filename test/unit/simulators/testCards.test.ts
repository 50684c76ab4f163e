/**
 * The one simulated network every test uses (host/simulators/testCards.ts): each test card is a
 * valid PAN routed to the scheme and bank it says, each gets the answer it is there for, and
 * docs/simulators.md lists exactly these cards.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import { isLuhnValid } from '../../../shared/pan';
import { BankSimulator } from '../../../host/simulators/bankSimulator';
import { BinTable } from '../../../host/simulators/binTable';
import {
  BAD_CHECK_DIGIT_PAN,
  createTestPaymentNetwork,
  TEST_BANKS,
  TEST_CARDS,
  TEST_NETWORK,
  UNKNOWN_BIN_PAN,
} from '../../../host/simulators/testCards';

const bins = new BinTable(TEST_NETWORK.bins);
const contracted = new Map(TEST_NETWORK.banks.map((b) => [b.bankId, b.contracted]));
const now = () => new Date('2026-12-06T10:00:00Z');

/** What each card is for: its scheme, and the answer to a 10.00 CNY debit with the right PIN. */
const PURPOSE: Record<keyof typeof TEST_CARDS, { scheme: string; debit: string }> = {
  unionPay: { scheme: 'UnionPay', debit: '00' },
  insufficientFunds: { scheme: 'UnionPay', debit: '51' },
  blocked: { scheme: 'UnionPay', debit: '57' },
  expired: { scheme: 'UnionPay', debit: '54' },
  nonContracted: { scheme: 'UnionPay', debit: '57' },
  payee: { scheme: 'UnionPay', debit: '51' },
  visa: { scheme: 'VISA', debit: '00' },
  masterCard: { scheme: 'MasterCard', debit: '00' },
  foreignCurrency: { scheme: 'MasterCard', debit: '05' },
};

describe('X5: the test cards', () => {
  it.each(Object.entries(TEST_CARDS))('X5: %s is a Luhn-valid PAN routed to its scheme', (name, card) => {
    expect(isLuhnValid(card.pan)).toBe(true);
    expect(bins.lookup(card.pan)?.scheme).toBe(PURPOSE[name as keyof typeof TEST_CARDS].scheme);
  });

  it('X5: every scheme has an approved card, and exactly one bank is not contracted (C7)', () => {
    expect(new Set(['unionPay', 'visa', 'masterCard'].map((n) => bins.lookup(TEST_CARDS[n as 'visa'].pan)?.scheme))).toEqual(new Set(['UnionPay', 'VISA', 'MasterCard']));
    expect([...contracted].filter(([, c]) => !c).map(([id]) => id)).toEqual([TEST_BANKS.south.bankId]);
    expect(contracted.get(bins.lookup(TEST_CARDS.nonContracted.pan)!.bankId)).toBe(false);
  });

  it.each(Object.entries(PURPOSE).map(([name, p]) => [name, p.debit]))('C8: a 10.00 CNY debit on %s answers %s', async (name, expected) => {
    const { provider, pinBlock } = await createTestPaymentNetwork({ now });
    const pan = TEST_CARDS[name as keyof typeof TEST_CARDS].pan;
    expect((await provider.authorise({ reference: 'TESTCARD0001', pan, amount: 1_000, currency: 'CNY', pinBlock: pinBlock(pan) })).responseCode).toBe(expected);
  });

  it('X5: the two numbers for 14 are what they say: one fails Luhn, the other passes but has no BIN', () => {
    expect(isLuhnValid(BAD_CHECK_DIGIT_PAN)).toBe(false);
    expect(isLuhnValid(UNKNOWN_BIN_PAN)).toBe(true);
    expect(bins.lookup(UNKNOWN_BIN_PAN)).toBeUndefined();
  });

  it('X5: docs/simulators.md lists every test card with its answer, and no other', () => {
    const doc = readFileSync(new URL('../../../docs/simulators.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(\d{16,19})` \|[^|]*\|[^|]*\|[^|]*\| (\d\d) /gm)].map((m) => `${m[1]} ${m[2]}`);
    const expected = Object.entries(TEST_CARDS).map(([name, card]) => `${card.pan} ${PURPOSE[name as keyof typeof TEST_CARDS].debit}`);
    expect(rows.sort()).toEqual(expected.sort());
  });
});

describe('X5: fixtures that cannot make a network', () => {
  const make = (change: Partial<typeof TEST_NETWORK>) =>
    BankSimulator.create({ ...TEST_NETWORK, ...change }, { zonePinKey: new Uint8Array(16).fill(7), rng: (n) => new Uint8Array(n).fill(1), now }).then(
      () => 'made',
      (e: unknown) => (isPaypadError(e) ? e.code : String(e)),
    );
  const card = TEST_CARDS.unionPay;

  it.each([
    ['a provider id with a space', { providerId: 'SIM PSP' }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a bank listed twice', { banks: [...TEST_NETWORK.banks, TEST_BANKS.east] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a bank id in lower case', { banks: [...TEST_NETWORK.banks, { bankId: 'sim-x', name: 'x', contracted: true }] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a BIN naming an unlisted bank', { bins: [...TEST_NETWORK.bins, { bin: '601111', scheme: 'VISA' as const, bankId: 'SIM-GONE' }] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a card no BIN routes', { cards: [{ ...card, pan: UNKNOWN_BIN_PAN }] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a card with a bad check digit', { cards: [{ ...card, pan: BAD_CHECK_DIGIT_PAN }] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a card issued twice', { cards: [card, card] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a fractional balance', { cards: [{ ...card, balance: 0.5 }] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['an expiry month 13', { cards: [{ ...card, expiry: '3013' }] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a status other than active or blocked', { cards: [{ ...card, status: 'closed' as never }] }, 'SIMULATOR_FIXTURE_INVALID'],
    ['a 3-digit PIN', { cards: [{ ...card, pin: '123' }] }, 'PIN_INVALID'],
    ['a BIN listed twice', { bins: [...TEST_NETWORK.bins, TEST_NETWORK.bins[0]] }, 'BIN_TABLE_INVALID'],
  ])('X5: %s', async (_what, change, expected) => {
    expect(await make(change)).toBe(expected);
  });

  it('X5 control: the fixture itself makes a network', async () => {
    expect(await make({})).toBe('made');
  });
});
