/**
 * POSP end to end (host/posp; SPEC C3-C8, X1, X2): a signed-on terminal's MAC'd requests, the
 * card data and PIN block translated in the KMS's software HSM, ISO 8583 over loopback TCP to the
 * simulated provider's server, the ledger and the platform. Runs on SQLite, and on PostgreSQL when
 * DATABASE_URL is set.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import { validateTransactionMessage } from '../../../shared/protocol/transactions';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';
import { accountCodes } from '../../../host/posp/authorisationLedger';
import { DIALECTS } from '../../store/helpers/testDatabase';
import { errorCodeOf } from '../kms/terminalSim';
import { type PayingTerminal, signedOnTerminal, snapshot, usePosp } from './pospTestKit';

const PAYEE_MOBILE = '13800138000';

describe.each(DIALECTS)('POSP on %s', (dialect) => {
  const posp = usePosp(dialect);

  async function lookup(terminal: PayingTerminal): Promise<string> {
    posp().platform.payees.set(PAYEE_MOBILE, '王小明');
    const request = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: PAYEE_MOBILE });
    const reply = await posp().posp.lookup(request.parsed);
    expect(reply.status).toBe(200);
    const answer = await terminal.answer(request, reply);
    expect(answer.maskedName).toBe('王*明');
    return answer.lookupId as string;
  }

  async function pay(terminal: PayingTerminal, pan: string, options: { pin?: string; amount?: number } = {}) {
    const lookupId = await lookup(terminal);
    const message = { v: 1, lookupId, amount: options.amount ?? 12_345, currency: 'CNY', card: terminal.card(pan), pinBlock: terminal.pinBlock(options.pin ?? TEST_PIN, pan), payerMobile: '13900139000' };
    const request = await terminal.transaction('mobile/pay', message);
    const reply = await posp().posp.pay(request.parsed);
    return { request, reply, answer: await terminal.answer(request, reply), lookupId };
  }

  async function books(currency = 'CNY') {
    const codes = accountCodes(currency);
    const [receivable, payable] = await Promise.all([posp().ledger.account(codes.receivable), posp().ledger.account(codes.payable)]);
    return { receivable, payable };
  }

  it('C8: an approved payment debits the card once, posts the hold, records the payment and answers 00 with the masked PAN', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const pan = TEST_CARDS.unionPay.pan;
    const before = posp().provider.balanceOf(pan)!.balance;
    const postedBefore = (await books()).payable?.creditsPosted ?? 0n;
    const { answer, lookupId } = await pay(terminal, pan);
    expect(answer).toMatchObject({ v: 1, responseCode: '00', reason: 'Approved', amount: 12_345, currency: 'CNY', maskedPan: '622202*********0017' });
    expect(answer.approvalCode).toMatch(/^[0-9A-Z ]{6}$/);
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before - 12_345);
    expect((await books()).payable!.creditsPosted - postedBefore).toBe(12_345n);
    expect(posp().platform.payments.filter((p) => p.reference === answer.reference)).toEqual([
      { lookupId, reference: answer.reference, amount: 12_345, currency: 'CNY', maskedPan: '622202*********0017', payerMobile: '13900139000', terminalId: terminal.serial },
    ]);
    // The 0200 carried the PIN block under the ZPK, not the terminal's block under its PIK.
    const sent = posp().bankReceived.filter((m) => m.mti === '0200').at(-1)!;
    expect(sent.fields[2]).toBe(pan);
    expect(sent.fields[35]).toBe(`${pan}=30121011234`);
  });

  it.each([
    ['C8: insufficient funds', TEST_CARDS.insufficientFunds.pan, TEST_PIN, '51', 'Insufficient funds'],
    ['C8: a wrong PIN', TEST_CARDS.visa.pan, '9999', '55', 'Incorrect PIN'],
    ['C8: a blocked card', TEST_CARDS.blocked.pan, TEST_PIN, '57', 'Transaction not permitted to the cardholder'],
  ])('%s is declined with its code and reason; the hold is voided, nothing is recorded', async (_name, pan, pin, code, reason) => {
    const terminal = await signedOnTerminal(posp().kms);
    const before = posp().provider.balanceOf(pan)!.balance;
    const booksBefore = await books();
    const recorded = posp().platform.payments.length;
    const { answer } = await pay(terminal, pan, { pin });
    expect(answer.responseCode).toBe(code);
    expect(answer.reason).toContain(reason);
    expect(answer.approvalCode).toBeUndefined();
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before);
    expect((await books()).payable!.creditsPosted).toBe(booksBefore.payable?.creditsPosted ?? 0n);
    expect((await books()).payable!.creditsPending).toBe(booksBefore.payable?.creditsPending ?? 0n);
    expect(posp().platform.payments.length).toBe(recorded);
    expect((await posp().ledger.pendingStatus(`posp-${answer.reference}-auth`))?.state).toBe('voided');
  });

  it('C7: a card of a bank the provider has no contract with is refused before any 0200, with the reason', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const sent = posp().bankReceived.length;
    const { answer } = await pay(terminal, TEST_CARDS.nonContracted.pan);
    expect(answer.responseCode).toBe('57');
    expect(answer.reason).toContain('not a contracted bank');
    expect(posp().bankReceived.length).toBe(sent);
    expect(await posp().ledger.transfer(`posp-${answer.reference}-auth`)).toBeUndefined();
  });

  it('C8: no 0210 in time: POSP sends a 0400 reversal, answers 91, and neither the card nor the books move', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const pan = TEST_CARDS.masterCard.pan;
    const before = posp().provider.balanceOf(pan)!.balance;
    const booksBefore = await books();
    posp().holdNextAnswer();
    const { answer } = await pay(terminal, pan);
    expect(answer.responseCode).toBe('91');
    expect(answer.reason).toContain('reversed');
    const reversal = posp().bankReceived.filter((m) => m.mti === '0400').at(-1);
    expect(reversal?.fields[39]).toBe('68');
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before);
    const after = await books();
    expect(after.payable!.creditsPosted).toBe(booksBefore.payable?.creditsPosted ?? 0n);
    expect(after.payable!.creditsPending).toBe(booksBefore.payable?.creditsPending ?? 0n);
    expect((await posp().ledger.pendingStatus(`posp-${answer.reference}-auth`))?.state).toBe('voided');
    expect(posp().platform.payments.some((p) => p.reference === answer.reference)).toBe(false);
  });

  it('X2: a retry (same sequence, same bytes) gets the first answer again and the card is debited once; other bytes under that sequence are PROTOCOL_REPLAY', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const pan = TEST_CARDS.unionPay.pan;
    const before = posp().provider.balanceOf(pan)!.balance;
    const first = await pay(terminal, pan, { amount: 500 });
    const sent = posp().bankReceived.length;
    const again = await posp().posp.pay(first.request.parsed);
    expect(again.status).toBe(200);
    expect(await terminal.answer(first.request, again)).toEqual(first.answer);
    expect(posp().bankReceived.length).toBe(sent);
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before - 500);

    const rows = await snapshot(posp().db);
    const other = await terminal.transaction('mobile/pay', { v: 1, lookupId: first.lookupId, amount: 501, currency: 'CNY', card: terminal.card(pan), pinBlock: terminal.pinBlock(TEST_PIN, pan) }, { seq: first.request.parsed.seq });
    const replay = await posp().posp.pay(other.parsed);
    expect(replay.status).toBe(409);
    await terminal.answer(other, replay);
    expect(errorCodeOf(replay)).toBe('PROTOCOL_REPLAY');
    // An older sequence number (the lookup's) with other bytes is refused the same way.
    const older = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: '13800138001' }, { seq: first.request.parsed.seq - 1 });
    expect(errorCodeOf(await posp().posp.lookup(older.parsed))).toBe('PROTOCOL_REPLAY');
    expect(await snapshot(posp().db)).toEqual(rows);
  });

  it('X2: the same request arriving twice at once (a proxy repeating it) debits the card once; the copy gets the answer or POSP_REQUEST_IN_PROGRESS', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const lookupId = await lookup(terminal);
    const pan = TEST_CARDS.visa.pan;
    const before = posp().provider.balanceOf(pan)!.balance;
    const sent = posp().bankReceived.length;
    const request = await terminal.transaction('mobile/pay', { v: 1, lookupId, amount: 250, currency: 'CNY', card: terminal.card(pan), pinBlock: terminal.pinBlock(TEST_PIN, pan) });
    const replies = await Promise.all([posp().posp.pay(request.parsed), posp().posp.pay(request.parsed)]);
    const answers = await Promise.all(replies.map((reply) => terminal.answer(request, reply)));
    const approved = answers.filter((a) => a.responseCode === '00');
    expect(approved.length).toBeGreaterThanOrEqual(1);
    for (const a of answers) if (a.responseCode !== '00') expect(a).toMatchObject({ error: { code: 'POSP_REQUEST_IN_PROGRESS' } });
    expect(posp().bankReceived.length).toBe(sent + 1);
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before - 250);
    // Once answered, the copy gets the first answer.
    expect(await terminal.answer(request, await posp().posp.pay(request.parsed))).toEqual(approved[0]);
  });

  it('X2: tampered, unknown-serial and TK-MAC\'d requests are refused unsigned (MAC_MISMATCH, PROTOCOL_MALFORMED); nothing changes', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const request = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: PAYEE_MOBILE });
    const rows = await snapshot(posp().db);
    const tamperedBody = new Uint8Array(request.parsed.body);
    tamperedBody[tamperedBody.length - 3] ^= 1;
    await expect(posp().posp.lookup({ ...request.parsed, body: tamperedBody })).rejects.toMatchObject({ code: 'MAC_MISMATCH' });
    await expect(posp().posp.lookup({ ...request.parsed, serial: 'PP-NOBODY-01' })).rejects.toMatchObject({ code: 'MAC_MISMATCH' });
    const underTk = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: PAYEE_MOBILE }, { keyId: 'TK' });
    await expect(posp().posp.lookup(underTk.parsed)).rejects.toMatchObject({ code: 'PROTOCOL_MALFORMED' });
    expect(await snapshot(posp().db)).toEqual(rows);
    // The untampered request still goes through afterwards: nothing was used up.
    expect((await posp().posp.lookup(request.parsed)).status).toBe(200);
  });

  it('X2: malformed and oversized bodies get a MAC\'d typed refusal and use up nothing', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const lookupId = await lookup(terminal);
    const pan = TEST_CARDS.unionPay.pan;
    const good = { v: 1, lookupId, amount: 100, currency: 'CNY', card: terminal.card(pan), pinBlock: terminal.pinBlock(TEST_PIN, pan) };
    const cases: [object | Uint8Array, string][] = [
      [new TextEncoder().encode('{"v":1,'), 'BAD_JSON'],
      [{ ...good, amount: 1.5 }, 'PROTOCOL_MALFORMED'],
      [{ ...good, amount: 0 }, 'PROTOCOL_MALFORMED'],
      [{ ...good, currency: 'cny' }, 'PROTOCOL_MALFORMED'],
      [{ ...good, pinBlock: good.pinBlock.slice(2) }, 'PROTOCOL_MALFORMED'],
      [{ ...good, card: 'AB' }, 'PROTOCOL_MALFORMED'],
      [{ ...good, pan }, 'PROTOCOL_MALFORMED'],
      [{ ...good, v: 2 }, 'PROTOCOL_UNSUPPORTED_VERSION'],
      [{ ...good, lookupId: 'x'.repeat(3000) }, 'PAYLOAD_TOO_LARGE'],
    ];
    const rows = await snapshot(posp().db);
    const sent = posp().bankReceived.length;
    for (const [body, code] of cases) {
      const request = await terminal.transaction('mobile/pay', body);
      const reply = await posp().posp.pay(request.parsed);
      await terminal.answer(request, reply);
      expect(errorCodeOf(reply), JSON.stringify(body).slice(0, 60)).toBe(code);
    }
    expect(await snapshot(posp().db)).toEqual(rows);
    expect(posp().bankReceived.length).toBe(sent);
    // The sequence numbers those used are free; the terminal's next request is accepted.
    const request = await terminal.transaction('mobile/pay', good);
    expect((await terminal.answer(request, await posp().posp.pay(request.parsed))).responseCode).toBe('00');
  });

  it('C6: card data under another key, and a PIN block under another key, are typed refusals with no 0200 and no hold', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const other = await signedOnTerminal(posp().kms);
    const lookupId = await lookup(terminal);
    const pan = TEST_CARDS.unionPay.pan;
    const sent = posp().bankReceived.length;
    const foreignCard = await terminal.transaction('mobile/pay', { v: 1, lookupId, amount: 100, currency: 'CNY', card: other.card(pan), pinBlock: terminal.pinBlock(TEST_PIN, pan) });
    const cardReply = await posp().posp.pay(foreignCard.parsed);
    await terminal.answer(foreignCard, cardReply);
    expect(errorCodeOf(cardReply)).toBe('CARD_DATA_INVALID');
    const foreignPin = await terminal.transaction('mobile/pay', { v: 1, lookupId, amount: 100, currency: 'CNY', card: terminal.card(pan), pinBlock: other.pinBlock(TEST_PIN, pan) });
    const pinReply = await posp().posp.pay(foreignPin.parsed);
    expect(errorCodeOf(pinReply)).toBe('PIN_BLOCK_INVALID');
    expect(posp().bankReceived.length).toBe(sent);
  });

  it('C4, C5: an unknown payee and an invalid number are MAC\'d refusals the POS shows', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    for (const [mobile, code] of [['13700137000', 'PAYEE_UNKNOWN'], ['12345', 'MOBILE_NUMBER_INVALID']] as const) {
      const request = await terminal.transaction('mobile/lookup', { v: 1, payeeMobile: mobile });
      const reply = await posp().posp.lookup(request.parsed);
      await terminal.answer(request, reply);
      expect(errorCodeOf(reply)).toBe(code);
    }
  });

  it('C8: a payment the platform cannot record (lookup expired) is reversed: 12 with the reason, card and books unchanged', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const lookupId = await lookup(terminal);
    posp().platform.lookups.get(lookupId)!.expired = true;
    const pan = TEST_CARDS.visa.pan;
    const before = posp().provider.balanceOf(pan)!.balance;
    const request = await terminal.transaction('mobile/pay', { v: 1, lookupId, amount: 700, currency: 'CNY', card: terminal.card(pan), pinBlock: terminal.pinBlock(TEST_PIN, pan) });
    const answer = await terminal.answer(request, await posp().posp.pay(request.parsed));
    expect(answer.responseCode).toBe('12');
    expect(answer.reason).toContain('expired');
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before);
    expect((await posp().ledger.pendingStatus(`posp-${answer.reference}-auth`))?.state).toBe('voided');
  });

  it('C8: a platform reason too long or with control characters is shown cut to 200 characters, as the terminal accepts it', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const lookupId = await lookup(terminal);
    posp().platform.recordFailure = new PaypadError('LOOKUP_EXPIRED', `the payee lookup expired\n${'x'.repeat(300)}`);
    try {
      const pan = TEST_CARDS.visa.pan;
      const request = await terminal.transaction('mobile/pay', { v: 1, lookupId, amount: 100, currency: 'CNY', card: terminal.card(pan), pinBlock: terminal.pinBlock(TEST_PIN, pan) });
      const answer = validateTransactionMessage('mobilePayResponse', await terminal.answer(request, await posp().posp.pay(request.parsed)));
      expect(answer.responseCode).toBe('12');
      expect([...answer.reason]).toHaveLength(200);
      expect(answer.reason).toContain('the payee lookup expired x');
    } finally {
      posp().platform.recordFailure = undefined;
    }
  });

  it('X1: the track and both PIN blocks (under the PIK, under the ZPK) are wiped when the authorisation ends, approved or declined', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    posp().sensitiveBuffers.length = 0;
    await pay(terminal, TEST_CARDS.unionPay.pan, { amount: 10 });
    await pay(terminal, TEST_CARDS.insufficientFunds.pan);
    expect(posp().sensitiveBuffers).toHaveLength(6);
    for (const buffer of posp().sensitiveBuffers) expect(buffer.every((b) => b === 0)).toBe(true);
  });

  it('X1: no PAN, track 2 or PIN block (terminal\'s or translated) appears in any row POSP or the ledger wrote', async () => {
    const terminal = await signedOnTerminal(posp().kms);
    const pan = TEST_CARDS.masterCard.pan;
    const { request } = await pay(terminal, pan, { amount: 42 });
    const sent = posp().bankReceived.filter((m) => m.mti === '0200').at(-1)!;
    const dump = JSON.stringify(await snapshot(posp().db));
    const body = JSON.parse(new TextDecoder().decode(request.parsed.body)) as { pinBlock: string; card: string };
    for (const secret of [pan, `${pan}=30121011234`, body.pinBlock, body.card, toHex(sent.fields[52] as Uint8Array)]) {
      expect(dump.toUpperCase()).not.toContain(secret.toUpperCase());
    }
    for (const key of ['PIK', 'TDK', 'MAK'] as const) expect(dump.toUpperCase()).not.toContain(toHex(terminal.key(key)));
    expect(dump).toContain(pan.slice(0, 6));
  });
});
