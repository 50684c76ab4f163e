/**
 * The simulated provider and its banks (host/simulators/bankSimulator.ts) through the
 * PaymentProvider interface the platform uses: every response code a debit, a credit, a reversal
 * and an account verification can get, and what each one did or did not change at the bank.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import type { DebitRequest } from '../../../host/payments/paymentProvider';
import type { BankSimulator } from '../../../host/simulators/bankSimulator';
import { PIN_TRY_LIMIT } from '../../../host/simulators/issuingBankSimulator';
import {
  BAD_CHECK_DIGIT_PAN,
  createTestPaymentNetwork,
  TEST_BANKS,
  TEST_CARDS,
  type TestPaymentNetwork,
  UNKNOWN_BIN_PAN,
} from '../../../host/simulators/testCards';

let clock = new Date('2026-12-06T10:00:00Z');
let network: TestPaymentNetwork;
let provider: BankSimulator;
let nextReference = 0;

beforeEach(async () => {
  clock = new Date('2026-12-06T10:00:00Z');
  network = await createTestPaymentNetwork({ now: () => clock });
  provider = network.provider;
});

function reference(): string {
  return `R${String(++nextReference).padStart(11, '0')}`;
}

function debit(pan: string, amount: number, extra: Partial<DebitRequest> = {}): DebitRequest {
  return { reference: reference(), pan, amount, currency: 'CNY', pinBlock: network.pinBlock(pan), ...extra };
}

function balance(pan: string): number | undefined {
  return provider.balanceOf(pan)?.balance;
}

async function expectInvalid(promise: Promise<unknown>, code = 'PAYMENT_REQUEST_INVALID'): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPaypadError(error, code as never), `expected ${code}, got ${String(error)}`).toBe(true);
}

describe('C8: debits at the issuer, each answer with its reason', () => {
  it('C8: 00 approved debits the paying card by exactly the amount and returns a six-character approval code', async () => {
    const answer = await provider.authorise(debit(TEST_CARDS.unionPay.pan, 12_345));
    expect(answer).toMatchObject({ responseCode: '00', reason: 'Approved' });
    expect(answer.approvalCode).toMatch(/^\d{6}$/);
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000 - 12_345);
  });

  it.each([
    ['VISA', TEST_CARDS.visa.pan],
    ['MasterCard', TEST_CARDS.masterCard.pan],
    ['UnionPay', TEST_CARDS.unionPay.pan],
  ])('C8: a %s test card is approved', async (_scheme, pan) => {
    expect((await provider.authorise(debit(pan, 100))).responseCode).toBe('00');
  });

  it('C8: 51 when the balance is short, and the balance stays as it was', async () => {
    const answer = await provider.authorise(debit(TEST_CARDS.insufficientFunds.pan, 501));
    expect(answer).toEqual({ responseCode: '51', reason: 'Insufficient funds' });
    expect(balance(TEST_CARDS.insufficientFunds.pan)).toBe(500);
    expect((await provider.authorise(debit(TEST_CARDS.insufficientFunds.pan, 500))).responseCode).toBe('00');
    expect(balance(TEST_CARDS.insufficientFunds.pan)).toBe(0);
  });

  it('C8: 57 for a blocked card, 54 for an expired one, neither debited', async () => {
    expect(await provider.authorise(debit(TEST_CARDS.blocked.pan, 100))).toEqual({
      responseCode: '57',
      reason: 'Transaction not permitted to the cardholder: the card is blocked',
    });
    expect((await provider.authorise(debit(TEST_CARDS.expired.pan, 100))).responseCode).toBe('54');
    expect(balance(TEST_CARDS.blocked.pan)).toBe(1_000_000);
    expect(balance(TEST_CARDS.expired.pan)).toBe(1_000_000);
  });

  it('C8: a card is good through the last day of its expiry month (UTC), and 54 from the first of the next', async () => {
    const card = TEST_CARDS.visa; // expires 3012
    clock = new Date('2030-12-31T23:59:59Z');
    expect((await provider.authorise(debit(card.pan, 100))).responseCode).toBe('00');
    clock = new Date('2031-01-01T00:00:00Z');
    expect((await provider.authorise(debit(card.pan, 100))).responseCode).toBe('54');
  });

  it('C8: 05 when the card account holds another currency', async () => {
    const answer = await provider.authorise(debit(TEST_CARDS.foreignCurrency.pan, 100));
    expect(answer.responseCode).toBe('05');
    expect(answer.reason).toMatch(/does not hold CNY/);
    expect(balance(TEST_CARDS.foreignCurrency.pan)).toBe(100_000);
  });

  it('C8: 14 for a wrong check digit and for a number no scheme issued', async () => {
    expect(await provider.authorise(debit(BAD_CHECK_DIGIT_PAN, 100, { pinBlock: network.pinBlock(TEST_CARDS.unionPay.pan) }))).toEqual({
      responseCode: '14',
      reason: 'Invalid card number: the card number fails its check digit',
    });
    expect((await provider.authorise(debit(UNKNOWN_BIN_PAN, 100))).reason).toMatch(/no card scheme issues/);
  });

  it('C8: 14 for a number in a bank\'s BIN range that the bank never issued', async () => {
    const unissued = '6222021000000000074'; // Luhn-valid, East Harbour's BIN, no account
    expect((await provider.authorise(debit(unissued, 100))).responseCode).toBe('14');
  });
});

describe('C8: the PIN is checked by the issuer, and tries are counted', () => {
  it('C8: 55 for a wrong PIN, saying how many tries are left; the balance is untouched', async () => {
    const pan = TEST_CARDS.unionPay.pan;
    const answer = await provider.authorise(debit(pan, 100, { pinBlock: network.pinBlock(pan, '9999') }));
    expect(answer).toEqual({ responseCode: '55', reason: `Incorrect PIN: ${PIN_TRY_LIMIT - 1} tries left` });
    expect(balance(pan)).toBe(1_000_000);
  });

  it(`C8: the ${PIN_TRY_LIMIT}rd wrong PIN in a row answers 75, and after it even the right PIN answers 75`, async () => {
    const pan = TEST_CARDS.visa.pan;
    const codes: string[] = [];
    for (let i = 0; i < PIN_TRY_LIMIT; i++) codes.push((await provider.authorise(debit(pan, 100, { pinBlock: network.pinBlock(pan, '0000') }))).responseCode);
    expect(codes).toEqual(['55', '55', '75']);
    expect((await provider.authorise(debit(pan, 100))).responseCode).toBe('75');
    expect(balance(pan)).toBe(1_000_000);
  });

  it('C8: a right PIN before the limit starts the count again', async () => {
    const pan = TEST_CARDS.masterCard.pan;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < PIN_TRY_LIMIT - 1; i++) {
        expect((await provider.authorise(debit(pan, 1, { pinBlock: network.pinBlock(pan, '4321') }))).responseCode).toBe('55');
      }
      expect((await provider.authorise(debit(pan, 1))).responseCode).toBe('00');
    }
  });

  it('C8: a PIN block made for another card, or under another key, or altered, is a wrong PIN (55)', async () => {
    const pan = TEST_CARDS.unionPay.pan;
    const forOtherCard = network.pinBlock(TEST_CARDS.visa.pan);
    const tampered = network.pinBlock(pan);
    tampered[3] ^= 0x01;
    const otherNetwork = await createTestPaymentNetwork({ now: () => clock });
    const codes: string[] = [];
    for (const pinBlock of [forOtherCard, tampered, otherNetwork.pinBlock(pan)]) {
      codes.push((await provider.authorise(debit(pan, 100, { pinBlock }))).responseCode);
    }
    expect(codes).toEqual(['55', '55', '75']); // each one counts as a wrong try
    expect(balance(pan)).toBe(1_000_000);
  });
});

describe('C7: only contracted banks', () => {
  it('C7: a card of a bank the provider has no contract with is refused with 57 and the reason, and never reaches the bank', async () => {
    const answer = await provider.authorise(debit(TEST_CARDS.nonContracted.pan, 100));
    expect(answer).toEqual({
      responseCode: '57',
      reason: "Transaction not permitted to the cardholder: the card's bank is not contracted with the payment service provider",
    });
    expect(provider.balanceOf(TEST_CARDS.nonContracted.pan)).toBeUndefined(); // the provider does not deal with that bank at all
  });

  it('C7: the non-contracted bank\'s 8-digit BIN sits inside a contracted bank\'s 6-digit BIN: the longest match decides', async () => {
    expect(TEST_CARDS.nonContracted.pan.startsWith('622202')).toBe(true);
    expect((await provider.credit({ reference: reference(), pan: TEST_CARDS.nonContracted.pan, amount: 100, currency: 'CNY' })).responseCode).toBe('57');
    expect((await provider.verifyAccount({ pan: TEST_CARDS.nonContracted.pan, holderName: '钱七' })).responseCode).toBe('57');
  });
});

describe('C8: duplicates, outages and reversals', () => {
  it('C8: 94 for a reference used before, even with other data, and the card is debited once', async () => {
    const first = debit(TEST_CARDS.unionPay.pan, 1_000);
    expect((await provider.authorise(first)).responseCode).toBe('00');
    expect((await provider.authorise(first)).responseCode).toBe('94');
    expect((await provider.authorise({ ...first, amount: 2_000 })).responseCode).toBe('94');
    expect((await provider.credit({ ...first })).responseCode).toBe('94');
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(999_000);
  });

  it('C8: a declined request uses up its reference too, so a retry needs a new one', async () => {
    const declined = debit(TEST_CARDS.insufficientFunds.pan, 10_000);
    expect((await provider.authorise(declined)).responseCode).toBe('51');
    expect((await provider.authorise(declined)).responseCode).toBe('94');
  });

  it('C8: 91 while the issuer is down; nothing is debited, and a reversal finds nothing to undo (25)', async () => {
    provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'down');
    const request = debit(TEST_CARDS.unionPay.pan, 100);
    expect(await provider.authorise(request)).toEqual({ responseCode: '91', reason: 'Card issuer unavailable, try again later: the card issuer did not answer' });
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000);
    expect((await provider.reverse({ reference: request.reference })).responseCode).toBe('25');
    expect((await provider.authorise(debit(TEST_CARDS.visa.pan, 100))).responseCode).toBe('00'); // other banks still answer
    provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'up');
    expect((await provider.authorise(debit(TEST_CARDS.unionPay.pan, 100))).responseCode).toBe('00');
  });

  it('C8: 91 when the issuer answers too late: the debit stands until the acquirer reverses it, then the money is back once', async () => {
    provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'slow');
    const request = debit(TEST_CARDS.unionPay.pan, 2_500);
    const answer = await provider.authorise(request);
    expect(answer.responseCode).toBe('91');
    expect(answer.approvalCode).toBeUndefined();
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(997_500);
    expect(await provider.reverse({ reference: request.reference })).toEqual({ responseCode: '00', reason: 'Approved: reversed' });
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000);
    expect((await provider.reverse({ reference: request.reference })).reason).toMatch(/already reversed/);
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000);
  });

  it('C8: a reversal while the issuer is down answers 91 and undoes nothing yet; sent again later, it does', async () => {
    const request = debit(TEST_CARDS.unionPay.pan, 700);
    await provider.authorise(request);
    provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'down');
    expect((await provider.reverse({ reference: request.reference })).responseCode).toBe('91');
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(999_300);
    provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'up');
    expect((await provider.reverse({ reference: request.reference })).responseCode).toBe('00');
    expect(balance(TEST_CARDS.unionPay.pan)).toBe(1_000_000);
  });

  it('C8: 25 for reversing an unknown reference, a declined debit or a credit', async () => {
    const declined = debit(TEST_CARDS.insufficientFunds.pan, 10_000);
    await provider.authorise(declined);
    const credit = { reference: reference(), pan: TEST_CARDS.payee.pan, amount: 100, currency: 'CNY' };
    await provider.credit(credit);
    for (const ref of ['NEVERSEEN001', declined.reference, credit.reference]) {
      expect((await provider.reverse({ reference: ref })).responseCode).toBe('25');
    }
    expect(balance(TEST_CARDS.payee.pan)).toBe(100);
  });

  it('X5: an unknown bank or availability is BAD_ARGUMENT', () => {
    expect(() => provider.setIssuerAvailability('SIM-NOWHERE', 'down')).toThrow(/no simulated bank/);
    expect(() => provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'sideways' as never)).toThrow(/expected up, down or slow/);
  });
});

describe('C9: credits to the payee\'s bound card', () => {
  it('C9: 00 credits the payee by exactly the amount, with an approval code', async () => {
    const answer = await provider.credit({ reference: reference(), pan: TEST_CARDS.payee.pan, amount: 8_800, currency: 'CNY' });
    expect(answer.responseCode).toBe('00');
    expect(answer.approvalCode).toMatch(/^\d{6}$/);
    expect(balance(TEST_CARDS.payee.pan)).toBe(8_800);
  });

  it('C9: a credit is refused like a debit for a blocked (57), expired (54), other-currency (05) or unknown (14) card', async () => {
    const credit = (pan: string) => provider.credit({ reference: reference(), pan, amount: 100, currency: 'CNY' });
    expect((await credit(TEST_CARDS.blocked.pan)).responseCode).toBe('57');
    expect((await credit(TEST_CARDS.expired.pan)).responseCode).toBe('54');
    expect((await credit(TEST_CARDS.foreignCurrency.pan)).responseCode).toBe('05');
    expect((await credit(UNKNOWN_BIN_PAN)).responseCode).toBe('14');
    expect(balance(TEST_CARDS.blocked.pan)).toBe(1_000_000);
  });

  it('C9: a credit answered late (91) was still made, and shows in the settlement file', async () => {
    provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'slow');
    const request = { reference: reference(), pan: TEST_CARDS.payee.pan, amount: 4_200, currency: 'CNY' };
    expect((await provider.credit(request)).responseCode).toBe('91');
    expect(balance(TEST_CARDS.payee.pan)).toBe(4_200);
    expect(await provider.settlementFile('2026-12-06', 'CNY')).toContain(`,CREDIT,${request.reference},`);
  });
});

describe('C1: account verification for payee registration', () => {
  it('C1: the right name matches, a wrong one does not, and the answer never carries the holder\'s name', async () => {
    const right = await provider.verifyAccount({ pan: TEST_CARDS.payee.pan, holderName: '王小明' });
    const wrong = await provider.verifyAccount({ pan: TEST_CARDS.payee.pan, holderName: '王小红' });
    expect(right).toEqual({ responseCode: '00', reason: 'Approved', nameMatches: true });
    expect(wrong).toEqual({ responseCode: '00', reason: 'Approved', nameMatches: false });
    expect(JSON.stringify(wrong)).not.toContain('小明');
  });

  it('C1: case, surrounding and repeated spaces and full-width letters do not matter; any other difference does', async () => {
    const verify = (holderName: string) => provider.verifyAccount({ pan: TEST_CARDS.masterCard.pan, holderName });
    expect((await verify('  han   MEIMEI ')).nameMatches).toBe(true);
    expect((await verify('ＨＡＮ ＭＥＩＭＥＩ')).nameMatches).toBe(true);
    expect((await verify('Han Meime')).nameMatches).toBe(false);
    expect((await verify('HanMeimei')).nameMatches).toBe(false);
  });

  it('C1: a blocked, expired, unknown or unreachable card gets its code and no name answer', async () => {
    expect(await provider.verifyAccount({ pan: TEST_CARDS.blocked.pan, holderName: '王五' })).not.toHaveProperty('nameMatches');
    expect((await provider.verifyAccount({ pan: TEST_CARDS.expired.pan, holderName: '赵六' })).responseCode).toBe('54');
    expect((await provider.verifyAccount({ pan: BAD_CHECK_DIGIT_PAN, holderName: '张三' })).responseCode).toBe('14');
    provider.setIssuerAvailability(TEST_BANKS.west.bankId, 'slow');
    expect(await provider.verifyAccount({ pan: TEST_CARDS.visa.pan, holderName: 'Li Lei' })).not.toHaveProperty('nameMatches');
  });
});

describe('X5: requests the provider cannot read are typed errors and change nothing', () => {
  const pan = TEST_CARDS.unionPay.pan;
  it.each([
    ['a reference of 11 characters', { reference: 'SHORTREF001' }],
    ['a reference with a space', { reference: 'REF 00000001' }],
    ['a zero amount', { amount: 0 }],
    ['a negative amount', { amount: -5 }],
    ['a fractional amount', { amount: 12.5 }],
    ['an amount beyond ISO 8583 n12', { amount: 1_000_000_000_000 }],
    ['a lower-case currency', { currency: 'cny' }],
    ['a PAN with letters', { pan: '62220210000000000AB' }],
    ['a 20-digit PAN', { pan: '62220210000000000170' }],
    ['a 15-byte PIN block', { pinBlock: new Uint8Array(15) }],
    ['a PIN block as hex text', { pinBlock: 'CC17F65586BFD0953010226C4FC5B3CA' as never }],
  ])('X5: %s is PAYMENT_REQUEST_INVALID, and its reference stays unused', async (_what, change) => {
    const request = { ...debit(pan, 100), ...change } as DebitRequest;
    await expectInvalid(provider.authorise(request));
    expect(balance(pan)).toBe(1_000_000);
    if (/^[0-9A-Za-z]{12}$/.test(request.reference)) {
      expect((await provider.authorise({ ...debit(pan, 100), reference: request.reference })).responseCode).toBe('00');
    }
  });

  it('X5: a malformed reversal, credit, verification or settlement day is PAYMENT_REQUEST_INVALID', async () => {
    await expectInvalid(provider.reverse({ reference: '' }));
    await expectInvalid(provider.reverse(null as never));
    await expectInvalid(provider.credit({ reference: reference(), pan, amount: 100, currency: 'YUAN' }));
    await expectInvalid(provider.verifyAccount({ pan, holderName: '   ' }));
    await expectInvalid(provider.verifyAccount({ pan, holderName: 'x'.repeat(71) }));
    await expectInvalid(provider.settlementFile('2026-02-30', 'CNY'));
    await expectInvalid(provider.settlementFile('20261206', 'CNY'));
  });

  it('X1: no error message carries the PAN', async () => {
    const error = await provider.authorise({ ...debit(pan, 0) }).catch((e: Error) => e);
    expect(String((error as Error).message)).not.toContain(pan);
  });
});
