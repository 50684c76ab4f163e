/**
 * The phone client gateway (D1, D3, D4, D6, D7) driven by the client core over loopback, on every
 * dialect: enrolment proved by the texted code, cards verified with their bank and bound, MAC'd
 * and sequenced messages (tampered, replayed and reordered ones refused with nothing changed),
 * paying with a bound card only, another card after insufficient funds under the same key, refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_CARDS } from '../../host/simulators/testCards';
import type { PhoneClient, PhoneHttpRequest, PhoneTransport } from '../../shared/client/phoneClient';
import { mobileNumberToE164 } from '../../shared/mobileNumber';
import { createBillClientFixture, type BillClientFixture, freshPhoneNumber } from './support/billClientFixture';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

/** Records every request the phone sends, so a test can send one again (replay) or altered. */
function recorder(sent: PhoneHttpRequest[]): (t: PhoneTransport) => PhoneTransport {
  return (t) => async (request) => {
    sent.push(request);
    return t(request);
  };
}

describe.each(DIALECTS)('phone client gateway on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let f: BillClientFixture;
  beforeAll(async () => {
    f = await createBillClientFixture(database());
  });
  afterAll(async () => {
    await f?.close();
  });

  const db = () => database().db as unknown as import('kysely').Kysely<import('../../host/bills/client/tables').BillClientTables>;
  const phoneRow = (mobile: string) => db().selectFrom('bill_client_phones').selectAll().where('mobile', '=', mobileNumberToE164(mobile)).executeTakeFirst();
  const cardRows = (phoneId: string) => db().selectFrom('bill_client_cards').selectAll().where('phone_id', '=', phoneId).execute();

  async function enrolled(wrap?: (t: PhoneTransport) => PhoneTransport): Promise<{ client: PhoneClient; mobile: string; home: string }> {
    const mobile = freshPhoneNumber();
    const { client, home } = await f.phone(wrap);
    await client.startEnrolment(mobile);
    await client.finishEnrolment(f.lastCode(mobileNumberToE164(mobile)));
    return { client, mobile, home };
  }

  it('D1: enrolment with a wrong texted code is refused and stores no phone; the right code enrols it', async () => {
    const mobile = freshPhoneNumber();
    const { client } = await f.phone();
    await client.startEnrolment(mobile);
    const code = f.lastCode(mobileNumberToE164(mobile));
    const wrong = code === '000000' ? '111111' : '000000';
    await expect(client.finishEnrolment(wrong)).rejects.toMatchObject({ code: 'VERIFICATION_CODE_INVALID' });
    expect(await phoneRow(mobile)).toBeUndefined();
    expect(await client.finishEnrolment(code)).toEqual({ phoneId: expect.stringMatching(/^[0-9A-F]{32}$/), mobile: mobileNumberToE164(mobile) });
    // Enrolling again over an enrolled phone would strand its keys and cards: refused.
    await expect(client.startEnrolment(mobile)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    const row = await phoneRow(mobile);
    // X1: the session keys are key blocks under the HSM's master key, never clear bytes.
    expect(row?.mac_block).toMatch(/^D\d{4}M6AC/);
    expect(row?.enc_block).toMatch(/^D\d{4}D0AD/);
    expect(row?.pin_block).toMatch(/^D\d{4}P0AD/);
  });

  it('D1: enrolment starts for one number are limited (five, then one a minute): the next is RATE_LIMITED and texts nothing', async () => {
    const mobile = freshPhoneNumber();
    const { client } = await f.phone();
    for (let i = 0; i < 5; i++) await client.startEnrolment(mobile);
    await expect(client.startEnrolment(mobile)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(f.sms.sent(mobileNumberToE164(mobile))).toHaveLength(5);
  });

  it('D1: a card is bound only after its bank verified it with the holder\'s name; the platform keeps its mask and reference, never the PAN', async () => {
    const { client, mobile } = await enrolled();
    const phone = (await phoneRow(mobile))!;
    await expect(client.bindCard({ pan: TEST_CARDS.unionPay.pan, expiry: '3012', holder: 'Someone Else' })).rejects.toMatchObject({ code: 'PHONE_CARD_NOT_VERIFIED' });
    await expect(client.bindCard({ pan: TEST_CARDS.blocked.pan, expiry: '3012', holder: TEST_CARDS.blocked.holderName })).rejects.toMatchObject({ code: 'PHONE_CARD_NOT_VERIFIED' });
    expect(await cardRows(phone.phone_id)).toEqual([]);
    const card = await client.bindCard({ pan: TEST_CARDS.unionPay.pan, expiry: '3012', holder: TEST_CARDS.unionPay.holderName });
    expect(card.maskedPan).toBe('622202*********0017');
    const rows = await cardRows(phone.phone_id);
    expect(rows).toEqual([{ phone_id: phone.phone_id, card_ref: card.cardRef, masked_pan: card.maskedPan, bound_at: card.boundAt }]);
    expect(JSON.stringify(rows)).not.toContain(TEST_CARDS.unionPay.pan);
  });

  it('D4: a tampered message is refused (MAC_MISMATCH), a replayed or reordered one too (PROTOCOL_REPLAY); nothing changes', async () => {
    const sent: PhoneHttpRequest[] = [];
    const { client, mobile } = await enrolled(recorder(sent));
    const phoneId = (await phoneRow(mobile))!.phone_id;
    await client.bindCard({ pan: TEST_CARDS.visa.pan, expiry: '3012', holder: TEST_CARDS.visa.holderName });
    const bind = sent.at(-1)!;
    await client.bills();
    const list = sent.at(-1)!;
    const before = { phone: await phoneRow(mobile), cards: await cardRows(phoneId) };
    const send = (r: PhoneHttpRequest) => fetch(f.url + r.path, { method: r.method, headers: r.headers, body: r.method === 'GET' ? undefined : r.body }).then(async (res) => ({ status: res.status, body: (await res.json()) as { error: { code: string } } }));

    const tampered = Uint8Array.from(bind.body);
    tampered[tampered.length - 3] ^= 0x01;
    const bumped = { ...bind.headers, 'Paypad-Seq': String(Number(bind.headers['Paypad-Seq']) + 100) };
    expect(await send({ ...bind, body: tampered })).toMatchObject({ status: 401, body: { error: { code: 'MAC_MISMATCH' } } });
    expect(await send({ ...bind, headers: bumped })).toMatchObject({ status: 401, body: { error: { code: 'MAC_MISMATCH' } } });
    // The last message again, then an earlier one after it: both already seen.
    expect(await send(list)).toMatchObject({ status: 409, body: { error: { code: 'PROTOCOL_REPLAY' } } });
    expect(await send(bind)).toMatchObject({ status: 409, body: { error: { code: 'PROTOCOL_REPLAY' } } });
    expect({ phone: await phoneRow(mobile), cards: await cardRows(phoneId) }).toEqual(before);
    // The phone itself carries on with its next sequence.
    expect(await client.bills()).toEqual([]);
  });

  it('D4: a card bound to another phone is refused (PHONE_CARD_NOT_BOUND) and the bill stays open, nothing tried', async () => {
    const a = await enrolled();
    const b = await enrolled();
    await a.client.bindCard({ pan: TEST_CARDS.masterCard.pan, expiry: '3012', holder: TEST_CARDS.masterCard.holderName });
    const bCard = await b.client.bindCard({ pan: TEST_CARDS.visa.pan, expiry: '3012', holder: TEST_CARDS.visa.holderName });
    const bill = f.platform.addBill({ designatedMobile: mobileNumberToE164(a.mobile), amountMinor: 1_000 });
    const [shown] = await a.client.bills();
    // Phone A holds only its own sealed card; to offer B's card it must send that card's number.
    const aState = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(`${a.home}/phone.json`, 'utf8')));
    const bState = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(`${b.home}/phone.json`, 'utf8')));
    expect(bState.cards[0].cardRef).toBe(bCard.cardRef);
    const attempts = f.platform.attempts.length;
    // Rebind phone A's stored card to B's card number (sealed by A's element: A's own copy of the number).
    const { openFileElement, fileStateStore } = await import('../../bin/commands/phoneElement');
    const aElement = await openFileElement(a.home, false);
    const sealedB = Buffer.from(await aElement.seal('card', new TextEncoder().encode(`pan=${TEST_CARDS.visa.pan};expiry=3012`))).toString('hex').toUpperCase();
    await fileStateStore(a.home).save({ ...aState, cards: [{ ...aState.cards[0], sealed: sealedB }] });
    await expect(a.client.pay(shown, aState.cards[0].cardRef, '1234')).rejects.toMatchObject({ code: 'PHONE_CARD_NOT_BOUND' });
    expect(f.platform.attempts.length).toBe(attempts);
    expect((await f.platform.bill(bill.id)).state).toBe('open');
  });

  it('D6: insufficient funds leaves the bill open; another card pays it under the same idempotency key', async () => {
    const sent: PhoneHttpRequest[] = [];
    const { client, mobile } = await enrolled(recorder(sent));
    const poor = await client.bindCard({ pan: TEST_CARDS.insufficientFunds.pan, expiry: '3012', holder: TEST_CARDS.insufficientFunds.holderName });
    const rich = await client.bindCard({ pan: TEST_CARDS.unionPay.pan, expiry: '3012', holder: TEST_CARDS.unionPay.holderName });
    const bill = f.platform.addBill({ designatedMobile: mobileNumberToE164(mobile), amountMinor: 12_800 });
    const [shown] = await client.bills();
    expect(shown).toMatchObject({ id: bill.id, amountMinor: 12_800, merchantName: 'Tea House (test)', forAnotherPerson: false });
    const first = await client.pay(shown, poor.cardRef, '1234');
    expect(first).toMatchObject({ outcome: 'insufficient_funds', bill: { state: 'open' } });
    const firstKey = JSON.parse(new TextDecoder().decode(sent.at(-1)!.body)).idempotencyKey;
    const second = await client.pay(shown, rich.cardRef, '1234');
    expect(second).toMatchObject({ outcome: 'paid', bill: { state: 'paid', paidWithMaskedPan: rich.maskedPan }, reference: expect.any(String) });
    expect(JSON.parse(new TextDecoder().decode(sent.at(-1)!.body)).idempotencyKey).toBe(firstKey);
    // X1: the pay request carries no PAN, PIN or number in clear.
    const body = new TextDecoder().decode(sent.at(-1)!.body);
    expect(body).not.toContain(TEST_CARDS.unionPay.pan);
    expect(body).not.toContain(mobile);
  });

  it('D4: a wrong PIN is declined by the bank after translation, the bill stays open', async () => {
    const { client, mobile } = await enrolled();
    const card = await client.bindCard({ pan: TEST_CARDS.visa.pan, expiry: '3012', holder: TEST_CARDS.visa.holderName });
    f.platform.addBill({ designatedMobile: mobileNumberToE164(mobile), amountMinor: 500 });
    const [shown] = await client.bills();
    expect(await client.pay(shown, card.cardRef, '9999')).toMatchObject({ outcome: 'declined', responseCode: '55', bill: { state: 'open' } });
  });

  it('D7: the phone refuses a bill; D8: a bill for another person says so', async () => {
    const { client, mobile } = await enrolled();
    f.platform.addBill({ designatedMobile: mobileNumberToE164(mobile), buyerMobile: '+8613900139000', amountMinor: 900 });
    const [shown] = await client.bills();
    expect(shown.forAnotherPerson).toBe(true);
    expect(await client.refuse(shown.id)).toMatchObject({ id: shown.id, state: 'refused' });
    expect(await client.bills()).toEqual([]);
  });
});
