/**
 * POSP with the real mobile payment platform behind its seam (host/payments/mobile; SPEC C1, C4-C8):
 * a payee registered the way a payee does it (C1, an SMS code), looked up from a terminal with the
 * name masked (C5), paid with a card over the acquirer link (C8), and the platform's own record of
 * the payment and the payer's text. Runs on SQLite, and on PostgreSQL when DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsStore } from '../../../host/kms/kmsStore';
import { type KmsService, openKmsService } from '../../../host/kms/kmsService';
import { createMobilePayments, type MobilePayments } from '../../../host/payments/mobile/mobilePayments';
import { SmsGatewaySimulator } from '../../../host/simulators/smsGatewaySimulator';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';
import { DIALECTS, useMigratedDatabase } from '../../store/helpers/testDatabase';
import { openTestHsm, type TestHsm } from '../hsm/hsmTestKit';
import { type AcquiringSide, CUSTOMER, NOW, signedOnTerminal, startAcquiringSide } from './pospTestKit';

describe.each(DIALECTS)('POSP and the mobile payment platform on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let hsm: TestHsm;
  let kms: KmsService;
  let side: AcquiringSide<MobilePayments['platform']>;
  let mobile: MobilePayments;
  const sms = new SmsGatewaySimulator(() => NOW);

  beforeAll(async () => {
    hsm = await openTestHsm();
    const kmsStore = createKmsStore(database().db);
    kms = await openKmsService({ customerCode: CUSTOMER, hsm: hsm.hsm, store: kmsStore, clock: () => NOW });
    side = await startAcquiringSide({
      database: database(),
      hsm: hsm.hsm,
      open: hsm.open,
      kmsStore,
      platform: (provider) => {
        mobile = createMobilePayments({ database: database(), provider, sms, cardVaultKey: new Uint8Array(randomBytes(32)), clock: () => NOW });
        return mobile.platform;
      },
    });
  });
  afterAll(async () => {
    await side?.close();
    await hsm?.hsm.close();
  });

  it('C1, C5, C8: a registered payee is looked up with the name masked, paid by card (00), and the payer is texted', async () => {
    const pending = await mobile.payees.startRegistration({ name: '王小明', mobile: '13800138000', pan: TEST_CARDS.payee.pan }, 'data');
    const code = /code is (\d{6})/.exec(sms.sent('+8613800138000').at(-1)?.text ?? '')?.[1];
    if (!code) throw new Error('no registration code was texted');
    await mobile.payees.confirm(pending.registrationId, code);

    const terminal = await signedOnTerminal(kms);
    const lookup = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: '13800138000', payerMobile: '13900139000' });
    const payee = await terminal.answer(lookup, await side.posp.lookup(lookup.parsed));
    expect(payee.maskedName).toBe('王*明');

    const pan = TEST_CARDS.unionPay.pan;
    const before = side.provider.balanceOf(pan)!.balance;
    const pay = await terminal.transaction('mobile/pay', {
      v: 1,
      lookupId: payee.lookupId,
      amount: 6_600,
      currency: 'CNY',
      card: terminal.card(pan),
      pinBlock: terminal.pinBlock(TEST_PIN, pan),
      payerMobile: '13900139000',
    });
    const answer = await terminal.answer(pay, await side.posp.pay(pay.parsed));
    expect(answer).toMatchObject({ responseCode: '00', amount: 6_600, maskedPan: '622202*********0017' });
    expect(side.provider.balanceOf(pan)!.balance).toBe(before - 6_600);
    await mobile.sendQueuedTexts();
    expect(sms.sent('+8613900139000').length).toBeGreaterThan(0);
    expect(sms.sent('+8613900139000').map((t) => t.text).join('\n')).not.toContain(pan);
  });

  it('C4: an unregistered number is PAYEE_UNKNOWN from the platform, MAC\'d by POSP', async () => {
    const terminal = await signedOnTerminal(kms);
    const lookup = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: '13700137000' });
    const reply = await side.posp.lookup(lookup.parsed);
    expect(reply.status).toBe(404);
    expect(await terminal.answer(lookup, reply)).toMatchObject({ error: { code: 'PAYEE_UNKNOWN' } });
  });
});
