/**
 * C1, C2: payee registration and updates on every dialect: the card verified by the provider and
 * the number by an SMS code before anything is stored; each bad input a typed error that stores
 * and sends nothing; codes hashed, expiring, limited in tries, good once; no card number in clear.
 */
import { type Kysely, sql } from 'kysely';
import type { Schema } from '../../host/db/schema';
import { describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS } from '../../host/payments/mobile/verificationCodes';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { createMobileFixture, freshMobile } from './support/mobileFixture';

const count = async (db: Kysely<Schema>, table: string) =>
  Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(db)).rows[0].n);

describe.each(DIALECTS)('C1, C2 payee registration on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('C1: a payee is stored only after the card is verified by name and the number by its SMS code; the card is kept sealed', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    const pending = await f.mobile.payees.startRegistration({ name: '王小明', mobile, pan: TEST_CARDS.payee.pan }, 'data');
    expect(pending).toMatchObject({ kind: 'register', mobile });
    expect(await f.mobile.payees.payee(mobile)).toBeUndefined();
    const code = f.lastCode(mobile);
    const payee = await f.mobile.payees.confirm(pending.registrationId, code);
    expect(payee).toMatchObject({ mobile, name: '王小明', maskedCard: '622202*********0058' });
    expect(await f.mobile.payees.receivingCard(mobile)).toBe(TEST_CARDS.payee.pan);
    // No clear PAN or code at rest.
    for (const table of ['mobile_payees', 'mobile_registrations', 'audit_log']) {
      const rows = JSON.stringify((await sql`select * from ${sql.table(table)}`.execute(database().db)).rows);
      expect(rows).not.toContain(TEST_CARDS.payee.pan);
      if (table === 'mobile_registrations') expect(rows).not.toContain(`"${code}"`);
    }
    // The code is good once: a replay is refused.
    await expect(f.mobile.payees.confirm(pending.registrationId, code)).rejects.toMatchObject({ code: 'REGISTRATION_UNKNOWN' });
  });

  it('C1: every bad input is a typed error, and nothing is stored or texted', async () => {
    const f = await createMobileFixture(database());
    const taken = freshMobile();
    await f.register('王小明', taken, TEST_CARDS.payee.pan);
    const before = { registrations: await count(database().db, 'mobile_registrations'), payees: await count(database().db, 'mobile_payees'), texts: f.sms.sent().length };
    const mobile = freshMobile();
    const cases: [string, unknown, string][] = [
      ['malformed: a number outside the MIIT ranges', { name: '王小明', mobile: '12345678901', pan: TEST_CARDS.payee.pan }, 'MOBILE_NUMBER_INVALID'],
      ['malformed: +86 in front', { name: '王小明', mobile: `+86${mobile}`, pan: TEST_CARDS.payee.pan }, 'MOBILE_NUMBER_INVALID'],
      ['malformed: a one-character name', { name: '王', mobile, pan: TEST_CARDS.payee.pan }, 'PAYEE_REGISTRATION_INVALID'],
      ['malformed: digits in the name', { name: '王小明1', mobile, pan: TEST_CARDS.payee.pan }, 'PAYEE_REGISTRATION_INVALID'],
      ['oversized: a 41-character name', { name: '王'.repeat(41), mobile, pan: TEST_CARDS.payee.pan }, 'PAYEE_REGISTRATION_INVALID'],
      ['oversized: a 10 000-character name', { name: 'x'.repeat(10_000), mobile, pan: TEST_CARDS.payee.pan }, 'PAYEE_REGISTRATION_INVALID'],
      ['tampered: a card number with a wrong check digit', { name: '王小明', mobile, pan: '6222021000000000059' }, 'PAYEE_REGISTRATION_INVALID'],
      ['malformed: a card number with spaces', { name: '王小明', mobile, pan: '6222 0210 0000 0000 058' }, 'PAYEE_REGISTRATION_INVALID'],
      ['malformed: no object', null, 'PAYEE_REGISTRATION_INVALID'],
      // Each card check on a number of its own: failed checks are charged to the number's bucket (below).
      ['another holder: the name is not the card\'s', { name: '李四', mobile: freshMobile(), pan: TEST_CARDS.payee.pan }, 'PAYEE_CARD_NOT_VERIFIED'],
      ['C7: a bank outside the provider\'s contracts', { name: '钱七', mobile: freshMobile(), pan: TEST_CARDS.nonContracted.pan }, 'PAYEE_CARD_NOT_VERIFIED'],
      ['a blocked card', { name: '王五', mobile: freshMobile(), pan: TEST_CARDS.blocked.pan }, 'PAYEE_CARD_NOT_VERIFIED'],
      ['replayed: the number is registered already', { name: '王小明', mobile: taken, pan: TEST_CARDS.payee.pan }, 'PAYEE_EXISTS'],
    ];
    for (const [what, request, code] of cases) {
      await expect(f.mobile.payees.startRegistration(request as never, 'data'), what).rejects.toMatchObject({ code });
    }
    expect({ registrations: await count(database().db, 'mobile_registrations'), payees: await count(database().db, 'mobile_payees'), texts: f.sms.sent().length }).toEqual(before);
  });

  it('C1: a wrong code counts a try and says how many are left; the fifth closes the registration, and then even the right code is refused', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    const { registrationId } = await f.mobile.payees.startRegistration({ name: '王小明', mobile, pan: TEST_CARDS.payee.pan }, 'data');
    const code = f.lastCode(mobile);
    const wrong = code === '000000' ? '000001' : '000000';
    await expect(f.mobile.payees.confirm(registrationId, wrong)).rejects.toMatchObject({ code: 'VERIFICATION_CODE_INVALID', message: expect.stringContaining(`${MAX_ATTEMPTS - 1} tries left`) });
    await expect(f.mobile.payees.confirm(registrationId, 'abc')).rejects.toMatchObject({ code: 'VERIFICATION_CODE_INVALID' });
    for (let i = 3; i < MAX_ATTEMPTS; i++) await expect(f.mobile.payees.confirm(registrationId, wrong)).rejects.toMatchObject({ code: 'VERIFICATION_CODE_INVALID' });
    await expect(f.mobile.payees.confirm(registrationId, wrong)).rejects.toMatchObject({ code: 'VERIFICATION_ATTEMPTS_EXCEEDED' });
    await expect(f.mobile.payees.confirm(registrationId, code)).rejects.toMatchObject({ code: 'REGISTRATION_UNKNOWN' });
    expect(await f.mobile.payees.payee(mobile)).toBeUndefined();
    await expect(f.mobile.payees.confirm('not-an-id', code)).rejects.toMatchObject({ code: 'REGISTRATION_UNKNOWN' });
  });

  it('C1: a code past its ten minutes is refused, the payee is not stored, and the registration goes at the next start', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    const { registrationId } = await f.mobile.payees.startRegistration({ name: '王小明', mobile, pan: TEST_CARDS.payee.pan }, 'data');
    f.advance(10 * 60_000);
    await expect(f.mobile.payees.confirm(registrationId, f.lastCode(mobile))).rejects.toMatchObject({ code: 'VERIFICATION_CODE_EXPIRED' });
    expect(await f.mobile.payees.payee(mobile)).toBeUndefined();
    // The next start, anyone's, deletes it and its sealed card.
    await f.mobile.payees.startRegistration({ name: '王小明', mobile: freshMobile(), pan: TEST_CARDS.payee.pan }, 'data');
    expect((await sql`select id from mobile_registrations where id = ${registrationId}`.execute(database().db)).rows).toEqual([]);
  });

  it('C1: an SMS provider that is down fails the start, and nothing is kept', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    f.sms.setAvailable(false);
    await expect(f.mobile.payees.startRegistration({ name: '王小明', mobile, pan: TEST_CARDS.payee.pan }, 'data')).rejects.toMatchObject({ code: 'SMS_GATEWAY_UNAVAILABLE' });
    expect(await f.mobile.payees.pendingFor(mobile)).toBeUndefined();
  });

  it('C1: the card check cannot be used to try names at will: failed checks empty the number\'s registration bucket (RATE_LIMITED)', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    const guess = () => f.mobile.payees.startRegistration({ name: '张伟', mobile, pan: TEST_CARDS.payee.pan }, 'data');
    // 10 tokens, a failed check costs 5: two guesses, then the bucket refuses before the provider is asked.
    await expect(guess()).rejects.toMatchObject({ code: 'PAYEE_CARD_NOT_VERIFIED' });
    await expect(guess()).rejects.toMatchObject({ code: 'PAYEE_CARD_NOT_VERIFIED' });
    await expect(guess()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterS: 60 });
  });

  it('C1: names tried against one card from many numbers stop at the card\'s bucket (20, a failed check costs 5)', async () => {
    const f = await createMobileFixture(database(), undefined, '2026-12-07T09:00:00.000Z');
    const guess = (name: string) => f.mobile.payees.startRegistration({ name, mobile: freshMobile(), pan: TEST_CARDS.blocked.pan }, 'data');
    for (const name of ['王一', '王二', '王三', '王四']) await expect(guess(name)).rejects.toMatchObject({ code: 'PAYEE_CARD_NOT_VERIFIED' });
    await expect(guess('王五')).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterS: 60 });
    // Another card is not affected.
    await expect(f.mobile.payees.startRegistration({ name: '王五', mobile: freshMobile(), pan: TEST_CARDS.expired.pan }, 'data')).rejects.toMatchObject({ code: 'PAYEE_CARD_NOT_VERIFIED' });
  });

  it('C2: an update of the card is verified with the registered name and confirmed by a code sent to the registered number', async () => {
    const f = await createMobileFixture(database());
    const mobile = freshMobile();
    await f.register('张三', mobile, TEST_CARDS.unionPay.pan);
    // Another holder's card is refused: name and card always belong together.
    await expect(f.mobile.payees.startUpdate({ mobile, pan: TEST_CARDS.payee.pan }, 'data')).rejects.toMatchObject({ code: 'PAYEE_CARD_NOT_VERIFIED' });
    // A new name must be the bound card's holder too.
    await expect(f.mobile.payees.startUpdate({ mobile, name: '王小明' }, 'data')).rejects.toMatchObject({ code: 'PAYEE_CARD_NOT_VERIFIED' });
    // Two failed checks emptied the number's bucket (RATE_LIMITED); ten minutes refill it.
    f.advance(10 * 60_000);
    const update = await f.mobile.payees.startUpdate({ mobile, name: '王小明', pan: TEST_CARDS.payee.pan }, 'data');
    expect(await f.mobile.payees.payee(mobile)).toMatchObject({ name: '张三', maskedCard: '622202*********0017' });
    const updated = await f.mobile.payees.confirm(update.registrationId, f.lastCode(mobile));
    expect(updated).toMatchObject({ name: '王小明', maskedCard: '622202*********0058' });
    await expect(f.mobile.payees.startUpdate({ mobile: freshMobile(), name: '王小明' }, 'data')).rejects.toMatchObject({ code: 'PAYEE_UNKNOWN' });
    await expect(f.mobile.payees.startUpdate({ mobile }, 'data')).rejects.toMatchObject({ code: 'PAYEE_REGISTRATION_INVALID' });
  });
});
