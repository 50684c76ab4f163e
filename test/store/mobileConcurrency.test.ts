/**
 * C8, C9 with two host processes on one database (X4): the same payment recorded by both at once
 * is kept once, held once and texted once; both reconciling the same day at once credit each payee
 * once. PostgreSQL only: on SQLite one host process owns the database file (docs/host.md), so two
 * hosts never share one.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { maskPan } from '../../shared/pan';
import { createMobilePayments } from '../../host/payments/mobile/mobilePayments';
import { SmsGatewaySimulator } from '../../host/simulators/smsGatewaySimulator';
import { createTestPaymentNetwork, TEST_CARDS } from '../../host/simulators/testCards';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { freshMobile } from './support/mobileFixture';

const POSTGRES = DIALECTS.includes('postgres');

describe.skipIf(!POSTGRES)('C8, C9 two hosts on one postgres database', () => {
  const database = useMigratedDatabase('postgres');

  it('C8, C9: a payment recorded twice at once is one payment; a day reconciled twice at once credits each payee once', async () => {
    const clock = () => new Date('2026-12-09T10:00:00.000Z');
    const network = await createTestPaymentNetwork({ now: clock });
    const sms = new SmsGatewaySimulator(clock);
    const cardVaultKey = new Uint8Array(randomBytes(32));
    const [a, b] = [database(), database.connect()].map((db) => createMobilePayments({ database: db, provider: network.provider, sms, cardVaultKey, clock }));
    const payee = freshMobile();
    const pending = await a.payees.startRegistration({ name: '王小明', mobile: payee, pan: TEST_CARDS.payee.pan }, 'data');
    await b.payees.confirm(pending.registrationId, /code is (\d{6})/.exec(sms.sent(`+86${payee}`).at(-1)!.text)![1]);

    const references = ['CONCURRENT01', 'CONCURRENT02', 'CONCURRENT03'];
    for (const reference of references) {
      const payer = freshMobile();
      const { lookupId } = await a.platform.lookupPayee({ mobile: payee, terminalId: 'PP-1001', merchantId: 'M001', payerMobile: payer });
      const pan = TEST_CARDS.unionPay.pan;
      expect((await network.provider.authorise({ reference, pan, amount: 1_000, currency: 'CNY', pinBlock: network.pinBlock(pan) })).responseCode).toBe('00');
      const payment = { lookupId, reference, amount: 1_000, currency: 'CNY', maskedPan: maskPan(pan), payerMobile: payer, terminalId: 'PP-1001' };
      await Promise.all([a.platform.recordPayment(payment), b.platform.recordPayment(payment)]);
      await Promise.all([a.sendQueuedTexts(), b.sendQueuedTexts()]);
      expect(sms.sent(`+86${payer}`)).toHaveLength(1);
    }
    expect(await a.ledger.account(`payee:${payee}:CNY`)).toMatchObject({ creditsPending: 3_000n });

    const [ra, rb] = await Promise.all([a.reconcile('2026-12-09', 'CNY'), b.reconcile('2026-12-09', 'CNY')]);
    expect([...ra.credited, ...rb.credited].sort()).toEqual(references);
    // Neither run reports the payments the other one credited.
    expect([...ra.mismatches, ...rb.mismatches]).toEqual([]);
    expect(network.provider.balanceOf(TEST_CARDS.payee.pan)!.balance).toBe(3_000);
    expect(await a.ledger.account(`payee:${payee}:CNY`)).toMatchObject({ creditsPending: 0n, creditsPosted: 3_000n, debitsPosted: 3_000n });
    expect((await a.ledger.verify()).ok).toBe(true);
  });
});
