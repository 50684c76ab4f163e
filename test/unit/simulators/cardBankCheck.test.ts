/** C7: the provider's contracted-bank check by BIN (PaymentProvider.checkCardBank), on the shared test network. */
import { describe, expect, it } from 'vitest';
import { BAD_CHECK_DIGIT_PAN, createTestPaymentNetwork, TEST_CARDS, UNKNOWN_BIN_PAN } from '../../../host/simulators/testCards';

describe('C7: checkCardBank on the simulated provider', () => {
  it('C7: 00 for a contracted bank of each scheme, 57 for South Bridge (its 8-digit BIN inside a contracted 6-digit one)', async () => {
    const { provider } = await createTestPaymentNetwork();
    for (const card of [TEST_CARDS.unionPay, TEST_CARDS.visa, TEST_CARDS.masterCard]) expect((await provider.checkCardBank(card.pan)).responseCode).toBe('00');
    const refused = await provider.checkCardBank(TEST_CARDS.nonContracted.pan);
    expect(refused.responseCode).toBe('57');
    expect(refused.reason).toContain('not contracted');
  });
  it('C7: 14 for a bad check digit or a BIN no scheme issued; a malformed PAN is PAYMENT_REQUEST_INVALID', async () => {
    const { provider } = await createTestPaymentNetwork();
    expect((await provider.checkCardBank(BAD_CHECK_DIGIT_PAN)).responseCode).toBe('14');
    expect((await provider.checkCardBank(UNKNOWN_BIN_PAN)).responseCode).toBe('14');
    for (const pan of ['', '1234567', '62220210000000000170000', '6222 0210 0000 0000 017']) {
      await expect(provider.checkCardBank(pan)).rejects.toMatchObject({ code: 'PAYMENT_REQUEST_INVALID' });
    }
  });
  it('C7: the check moves nothing and uses no reference', async () => {
    const { provider } = await createTestPaymentNetwork();
    await provider.checkCardBank(TEST_CARDS.unionPay.pan);
    expect(provider.balanceOf(TEST_CARDS.unionPay.pan)).toEqual({ balance: 1_000_000, currency: 'CNY' });
    expect(await provider.settlementFile(new Date().toISOString().slice(0, 10), 'CNY')).toMatch(/\nT,0,0,0,0,0,0,0,0\s*$/);
  });
});
