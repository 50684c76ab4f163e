/**
 * C5, C7, C8, C9 on every dialect: lookups masked, audited and stopped at the buckets; the paying
 * card's bank checked through the provider; payments recorded once, with the ledger hold and the
 * payer's text; reconciliation against the provider's settlement file, mismatches listed and left
 * alone, matched payees credited once and told.
 */
import { describe, expect, it } from 'vitest';
import { createAuditStore } from '../../host/audit/auditStore';
import { maskPan } from '../../shared/pan';
import type { PayeeLookupLimits } from '../../host/payments/mobile/lookupBuckets';
import { creditReferenceOf } from '../../host/payments/mobile/reconciliation';
import { BAD_CHECK_DIGIT_PAN, TEST_CARDS } from '../../host/simulators/testCards';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { createMobileFixture, freshMobile, type MobileFixture } from './support/mobileFixture';

let terminals = 0;
const freshTerminal = () => `T${String(++terminals).padStart(7, '0')}`;
const DAY = '2026-12-06';

/** The POSP's side of a payment (C6-C8): the lookup, the provider's debit, then recordPayment. */
async function pay(f: MobileFixture, o: { payee: string; payer?: string; terminal: string; reference: string; amount: number; pan?: string; record?: boolean; debit?: boolean }) {
  const pan = o.pan ?? TEST_CARDS.unionPay.pan;
  const { lookupId } = await f.mobile.platform.lookupPayee({ mobile: o.payee, terminalId: o.terminal, merchantId: 'M001', payerMobile: o.payer });
  if (o.debit !== false) {
    const answer = await f.network.provider.authorise({ reference: o.reference, pan, amount: o.amount, currency: 'CNY', pinBlock: f.network.pinBlock(pan) });
    expect(answer.responseCode).toBe('00');
  }
  const payment = { lookupId, reference: o.reference, amount: o.amount, currency: 'CNY', maskedPan: maskPan(pan), payerMobile: o.payer, terminalId: o.terminal };
  if (o.record !== false) await f.mobile.platform.recordPayment(payment);
  return payment;
}

describe.each(DIALECTS)('C5, C7, C8 the platform behind the POSP on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('C5: a lookup answers the name with its second character hidden and is audited; an unknown number is PAYEE_UNKNOWN and audited too', async () => {
    const f = await createMobileFixture(database());
    const payee = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    const terminal = freshTerminal();
    const found = await f.mobile.platform.lookupPayee({ mobile: payee, terminalId: terminal, merchantId: 'M001' });
    expect(found.maskedName).toBe('王*明');
    expect(Date.parse(found.expiresAt) - f.now().getTime()).toBe(10 * 60_000);
    const unknown = freshMobile();
    await expect(f.mobile.platform.lookupPayee({ mobile: unknown, terminalId: terminal, merchantId: 'M001' })).rejects.toMatchObject({ code: 'PAYEE_UNKNOWN' });
    await expect(f.mobile.platform.lookupPayee({ mobile: '12345678901', terminalId: terminal, merchantId: 'M001' })).rejects.toMatchObject({ code: 'MOBILE_NUMBER_INVALID' });
    await expect(f.mobile.platform.lookupPayee({ mobile: payee, terminalId: terminal, merchantId: 'M001', payerMobile: '1380013800' })).rejects.toMatchObject({ code: 'MOBILE_NUMBER_INVALID' });
    await expect(f.mobile.platform.lookupPayee({ mobile: payee, terminalId: 'x'.repeat(33), merchantId: 'M001' })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    const audit = createAuditStore(database().db);
    expect((await audit.listBySubject(`payee:${payee}`)).filter((e) => e.action === 'mobile.payee.lookup').map((e) => e.detail.outcome)).toEqual(['found']);
    expect((await audit.listBySubject(`payee:${unknown}`)).map((e) => [e.actor, e.detail.outcome])).toEqual([[`terminal:${terminal}`, 'unknown']]);
  });

  it('C5: enumeration from one terminal stops at its bucket (a miss costs 20 of 200): then even registered numbers are refused, with Retry-After seconds, and the refusal is audited', async () => {
    const f = await createMobileFixture(database());
    const payee = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    const terminal = freshTerminal();
    let answered = 0;
    let refusal: unknown;
    for (let i = 0; i < 50 && refusal === undefined; i++) {
      try {
        await f.mobile.platform.lookupPayee({ mobile: freshMobile(), terminalId: terminal, merchantId: 'M002' });
      } catch (e) {
        if ((e as { code?: string }).code === 'PAYEE_UNKNOWN') answered++;
        else refusal = e;
      }
    }
    expect(answered).toBe(10);
    // 10 a minute: one token in 6 s.
    expect(refusal).toMatchObject({ code: 'RATE_LIMITED', retryAfterS: 6 });
    await expect(f.mobile.platform.lookupPayee({ mobile: payee, terminalId: terminal, merchantId: 'M002' })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    // Another terminal of another merchant is not affected; time refills the bucket.
    expect((await f.mobile.platform.lookupPayee({ mobile: payee, terminalId: freshTerminal(), merchantId: 'M003' })).maskedName).toBe('王*明');
    f.advance(6_000);
    expect((await f.mobile.platform.lookupPayee({ mobile: payee, terminalId: terminal, merchantId: 'M002' })).maskedName).toBe('王*明');
    const outcomes = (await createAuditStore(database().db).listBySubject(`payee:${payee}`)).filter((e) => e.action === 'mobile.payee.lookup').map((e) => e.detail.outcome);
    expect(outcomes).toEqual(['rate_limited', 'found', 'found']);
  });

  it('C5: the payer\'s bucket (here 10 tokens, 2 a minute, a hit costs 1) and the refund of a completed payment: 10 hits, then refused, and one payment gives one lookup back', async () => {
    const limits: PayeeLookupLimits = {
      payer: { bucketSize: 10, refillPerMinute: 2, missCost: 5 },
      terminal: { bucketSize: 1000, refillPerMinute: 60, missCost: 20 },
      merchant: { bucketSize: 1000, refillPerMinute: 60, missCost: 20 },
      registration: { bucketSize: 10, refillPerMinute: 1, missCost: 5 },
      card: { bucketSize: 20, refillPerMinute: 1, missCost: 5 },
    };
    const f = await createMobileFixture(database(), limits);
    const payee = freshMobile();
    const payer = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    const terminal = freshTerminal();
    const lookup = () => f.mobile.platform.lookupPayee({ mobile: payee, terminalId: terminal, merchantId: 'M004', payerMobile: payer });
    const first = await lookup();
    for (let i = 1; i < 10; i++) await lookup();
    await expect(lookup()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterS: 30 });
    const recorded = await f.mobile.platform.recordPayment({ lookupId: first.lookupId, reference: 'REFUND000001', amount: 100, currency: 'CNY', maskedPan: maskPan(TEST_CARDS.unionPay.pan), payerMobile: payer, terminalId: terminal });
    expect(recorded).toBeUndefined();
    await lookup();
    await expect(lookup()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('C7: the paying card\'s bank must be contracted with the provider (by BIN); a bad card number is PAN_INVALID', async () => {
    const f = await createMobileFixture(database());
    await f.mobile.platform.checkPayingCard(TEST_CARDS.unionPay.pan);
    await f.mobile.platform.checkPayingCard(TEST_CARDS.visa.pan);
    await expect(f.mobile.platform.checkPayingCard(TEST_CARDS.nonContracted.pan)).rejects.toMatchObject({ code: 'CARD_BANK_NOT_CONTRACTED' });
    await expect(f.mobile.platform.checkPayingCard(BAD_CHECK_DIGIT_PAN)).rejects.toMatchObject({ code: 'PAN_INVALID' });
    await expect(f.mobile.platform.checkPayingCard('12345')).rejects.toMatchObject({ code: 'PAN_INVALID' });
  });

  it('C8: recordPayment holds the amount for the payee in the ledger and texts the payer; the same payment again changes nothing; every bad input is typed and changes nothing', async () => {
    const f = await createMobileFixture(database());
    const payee = freshMobile();
    const payer = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    const terminal = freshTerminal();
    const payment = await pay(f, { payee, payer, terminal, reference: 'C8PAYMENT001', amount: 12_345 });
    const account = await f.mobile.ledger.account(`payee:${payee}:CNY`);
    expect(account).toMatchObject({ creditsPending: 12_345n, creditsPosted: 0n });
    await f.mobile.sendQueuedTexts();
    expect(f.sms.sent(`+86${payer}`)).toHaveLength(1);
    const [text] = f.sms.sent(`+86${payer}`);
    expect(text.text).toBe(`paypad: you paid CNY 123.45 to 王*明 (${payee.slice(0, 3)}****${payee.slice(7)}) from card 622202*********0017, reference C8PAYMENT001.`);

    await f.mobile.platform.recordPayment(payment);
    await f.mobile.sendQueuedTexts();
    expect(f.sms.sent(`+86${payer}`)).toHaveLength(1);
    expect(await f.mobile.ledger.account(`payee:${payee}:CNY`)).toMatchObject({ creditsPending: 12_345n });

    const second = await f.mobile.platform.lookupPayee({ mobile: payee, terminalId: terminal, merchantId: 'M001' });
    const bad: [string, object, string][] = [
      ['replayed: the same reference, another amount', { ...payment, amount: 1 }, 'PAYMENT_EXISTS_DIFFERENT'],
      ['replayed: the same lookup, another reference', { ...payment, reference: 'C8PAYMENT002' }, 'PAYMENT_EXISTS_DIFFERENT'],
      ['tampered: the lookup of another terminal', { ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT003', terminalId: freshTerminal() }, 'LOOKUP_UNKNOWN'],
      ['tampered: an unknown lookup', { ...payment, lookupId: '00000000-0000-0000-0000-000000000000', reference: 'C8PAYMENT004' }, 'LOOKUP_UNKNOWN'],
      ['malformed: a full card number where the mask belongs', { ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT005', maskedPan: TEST_CARDS.unionPay.pan }, 'BAD_ARGUMENT'],
      ['malformed: a reference of 11 characters', { ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT05' }, 'BAD_ARGUMENT'],
      ['malformed: an amount in yuan with a decimal point', { ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT006', amount: 123.45 }, 'BAD_ARGUMENT'],
      ['oversized: an amount beyond ISO 8583 n12', { ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT007', amount: 1e12 }, 'BAD_ARGUMENT'],
      ['malformed: a lower-case currency', { ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT008', currency: 'cny' }, 'BAD_ARGUMENT'],
      ['malformed: a bad payer number', { ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT009', payerMobile: '2380013800' }, 'MOBILE_NUMBER_INVALID'],
    ];
    for (const [what, p, code] of bad) await expect(f.mobile.platform.recordPayment(p as never), what).rejects.toMatchObject({ code });
    // Out of order: a lookup too old to pay against.
    f.advance(10 * 60_000);
    await expect(f.mobile.platform.recordPayment({ ...payment, lookupId: second.lookupId, reference: 'C8PAYMENT010' })).rejects.toMatchObject({ code: 'LOOKUP_EXPIRED' });
    expect(await f.mobile.ledger.account(`payee:${payee}:CNY`)).toMatchObject({ creditsPending: 12_345n, creditsPosted: 0n });
    await f.mobile.sendQueuedTexts();
    expect(f.sms.sent(`+86${payer}`)).toHaveLength(1);
    expect((await f.mobile.ledger.verify()).ok).toBe(true);
  });
});

describe.each(DIALECTS)('C9 reconciliation on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('C9: matched payments are credited to the payee\'s card once and the payee is told the payer\'s masked number; every mismatch is listed and left alone', async () => {
    const f = await createMobileFixture(database());
    const payee = freshMobile();
    const payer = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    const terminal = freshTerminal();
    await pay(f, { payee, payer, terminal, reference: 'C9MATCHED001', amount: 10_000 });
    await pay(f, { payee, terminal, reference: 'C9MATCHED002', amount: 2_500, pan: TEST_CARDS.visa.pan });
    await pay(f, { payee, payer, terminal, reference: 'C9NOTDEBIT01', amount: 700, debit: false });
    await pay(f, { payee, payer, terminal, reference: 'C9NOTRECORD1', amount: 800, record: false });
    await pay(f, { payee, payer, terminal, reference: 'C9REVERSED01', amount: 900 });
    expect((await f.network.provider.reverse({ reference: 'C9REVERSED01' })).responseCode).toBe('00');
    const balanceBefore = f.network.provider.balanceOf(TEST_CARDS.payee.pan)!.balance;

    const report = await f.mobile.reconcile(DAY, 'CNY');
    expect(report.credited).toEqual(['C9MATCHED001', 'C9MATCHED002']);
    expect(report.mismatches.map((m) => [m.kind, m.reference])).toEqual([
      ['MISSING_FROM_FILE', 'C9NOTDEBIT01'],
      ['REVERSED', 'C9REVERSED01'],
      ['NOT_RECORDED', 'C9NOTRECORD1'],
    ]);
    expect(f.network.provider.balanceOf(TEST_CARDS.payee.pan)!.balance).toBe(balanceBefore + 12_500);
    // The payee's account: held, settled, paid out; the mismatched ones still held.
    expect(await f.mobile.ledger.account(`payee:${payee}:CNY`)).toMatchObject({ creditsPosted: 12_500n, debitsPosted: 12_500n, creditsPending: 1_600n });
    await f.mobile.sendQueuedTexts();
    const toPayee = f.sms.sent(`+86${payee}`).map((m) => m.text).filter((t) => t.includes('credited'));
    expect(toPayee).toEqual([
      `paypad: CNY 100.00 from ${payer.slice(0, 3)}****${payer.slice(7)} has been credited to your card 622202*********0058, reference C9MATCHED001.`,
      `paypad: CNY 25.00 from a card payment at terminal ${terminal} has been credited to your card 622202*********0058, reference C9MATCHED002.`,
    ]);

    // Again: nothing is credited twice; the credits now in the file are the platform's own.
    const again = await f.mobile.reconcile(DAY, 'CNY');
    expect(again.credited).toEqual([]);
    expect(again.mismatches.map((m) => m.kind)).toEqual(['MISSING_FROM_FILE', 'REVERSED', 'NOT_RECORDED']);
    expect(f.network.provider.balanceOf(TEST_CARDS.payee.pan)!.balance).toBe(balanceBefore + 12_500);
    expect((await f.mobile.ledger.verify()).ok).toBe(true);
  });

  it('C9: a credit the provider does not answer (91) is reported and never sent again; a credit it made anyway shows in the file as unanswered', async () => {
    const f = await createMobileFixture(database(), undefined, '2026-12-07T09:00:00.000Z');
    const payee = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    await pay(f, { payee, terminal: freshTerminal(), reference: 'C9SLOWCRED01', amount: 5_000 });
    f.network.provider.setIssuerAvailability('SIM-EAST', 'slow');
    const report = await f.mobile.reconcile('2026-12-07', 'CNY');
    expect(report.credited).toEqual([]);
    expect(report.mismatches.map((m) => m.kind)).toEqual(['CREDIT_UNANSWERED']);
    expect(report.mismatches[0].detail).toContain(creditReferenceOf('C9SLOWCRED01'));
    f.network.provider.setIssuerAvailability('SIM-EAST', 'up');
    // Run again: still owed and reported; and now the file shows the credit was made after all.
    const again = await f.mobile.reconcile('2026-12-07', 'CNY');
    expect(again.credited).toEqual([]);
    expect(again.mismatches.map((m) => [m.kind, m.reference])).toEqual([['CREDIT_UNANSWERED', 'C9SLOWCRED01'], ['CREDIT_UNANSWERED', 'C9SLOWCRED01']]);
    expect(again.mismatches[1].detail).toContain('settled by the provider');
    // The money reached the card once.
    expect(f.network.provider.balanceOf(TEST_CARDS.payee.pan)!.balance).toBe(5_000);
  });

  it('C9: a credit the provider settled for another amount than the platform sent is reported', async () => {
    const f = await createMobileFixture(database(), undefined, '2026-12-10T09:00:00.000Z');
    const payee = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    await pay(f, { payee, terminal: freshTerminal(), reference: 'C9CREDITAMT1', amount: 3_000 });
    expect((await f.mobile.reconcile('2026-12-10', 'CNY')).credited).toEqual(['C9CREDITAMT1']);
    // The provider's file says the credit was for 30 fen more (its trailer totals kept consistent).
    const genuine = f.network.provider.settlementFile.bind(f.network.provider);
    f.network.provider.settlementFile = async (day, currency) => {
      const lines = (await genuine(day, currency)).trimEnd().split('\n');
      const i = lines.findIndex((l) => l.includes(',CREDIT,'));
      lines[i] = lines[i].replace(',3000,', ',3030,');
      const t = lines.at(-1)!.split(',');
      t[5] = String(Number(t[5]) + 30);
      t[8] = String(Number(t[8]) - 30);
      lines[lines.length - 1] = t.join(',');
      return `${lines.join('\n')}\n`;
    };
    const again = await f.mobile.reconcile('2026-12-10', 'CNY');
    expect(again.mismatches).toEqual([{ kind: 'AMOUNT_MISMATCH', reference: 'C9CREDITAMT1', detail: `credited 3000, the provider settled credit ${creditReferenceOf('C9CREDITAMT1')} for 3030` }]);
  });

  it('C9: a bad business day or currency, and a settlement file that cannot be trusted, credit nothing', async () => {
    const f = await createMobileFixture(database(), undefined, '2026-12-08T09:00:00.000Z');
    await expect(f.mobile.reconcile('2026-02-30', 'CNY')).rejects.toMatchObject({ code: 'PAYMENT_REQUEST_INVALID' });
    await expect(f.mobile.reconcile('2026-12-08', 'cny')).rejects.toMatchObject({ code: 'PAYMENT_REQUEST_INVALID' });
    const payee = freshMobile();
    await f.register('王小明', payee, TEST_CARDS.payee.pan);
    await pay(f, { payee, terminal: freshTerminal(), reference: 'C9TAMPERED01', amount: 5_000 });
    const genuine = f.network.provider.settlementFile.bind(f.network.provider);
    f.network.provider.settlementFile = async (day, currency) => (await genuine(day, currency)).replace(',5000,', ',50000,');
    await expect(f.mobile.reconcile('2026-12-08', 'CNY')).rejects.toMatchObject({ code: 'SETTLEMENT_FILE_TOTALS_MISMATCH' });
    expect(f.network.provider.balanceOf(TEST_CARDS.payee.pan)!.balance).toBe(0);
  });
});
