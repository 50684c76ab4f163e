/**
 * The acquirer link's typed messages: each builds, packs, unpacks and reads back to what was put
 * in, and a reader refuses a message its type does not allow (C6-C9).
 */
import { describe, expect, it } from 'vitest';
import {
  ACQUIRER_LINK_FIELDS,
  APPROVED,
  type Iso8583Message,
  MTI,
  REVERSAL_REASON_TIMEOUT,
  buildFinancialRequest,
  buildFinancialResponse,
  buildNetworkRequest,
  buildNetworkResponse,
  buildReconciliationRequest,
  buildReconciliationResponse,
  buildReversalRequest,
  buildReversalResponse,
  createPackager,
  localTransactionTime,
  readFinancialRequest,
  readFinancialResponse,
  readNetworkRequest,
  readNetworkResponse,
  readReconciliationRequest,
  readReconciliationResponse,
  readReversalRequest,
  readReversalResponse,
  responseMtiFor,
  totalsAgree,
  transmissionDateTime,
} from '../../../host/payments/iso8583/index';
import { purchase } from './fixtures';

const link = createPackager(ACQUIRER_LINK_FIELDS);
/** Over the wire and back, as the peer sees it. */
const wire = (message: Iso8583Message) => link.unpack(link.pack(message));
const code = (c: string) => expect.objectContaining({ name: 'PaypadError', code: c });

describe('0200/0210 purchase', () => {
  it('C6: the 0200 carries PAN, amount in minor units, STAN, times, expiry, entry mode, track 2, terminal, merchant, currency and the 16-byte PIN block', () => {
    const message = wire(buildFinancialRequest(purchase));
    expect(message.mti).toBe('0200');
    expect(message.fields[4]).toBe('000000012345');
    expect(message.fields[11]).toBe('000042');
    expect(readFinancialRequest(message)).toEqual(purchase);
  });

  it('C8: the 0210 echoes the request without PAN, track 2 or PIN block, and reads as approved or declined', () => {
    const approved = wire(buildFinancialResponse(purchase, { rrn: '634012345678', authId: 'A1B2C3', responseCode: APPROVED }));
    expect([2, 35, 52].map((f) => approved.fields[f])).toEqual([undefined, undefined, undefined]);
    expect(readFinancialResponse(approved)).toMatchObject({ stan: 42, amountMinor: 12_345n, rrn: '634012345678', authId: 'A1B2C3', approved: true, terminalId: 'TERM0001' });
    const declined = readFinancialResponse(wire(buildFinancialResponse(purchase, { rrn: '634012345679', responseCode: '51' })));
    expect(declined).toMatchObject({ approved: false, responseCode: '51', authId: undefined });
  });

  it('C8: a purchase without track 2 or PIN block packs without fields 35 and 52', () => {
    const { track2: _t, pinBlock: _p, ...bare } = purchase;
    const message = wire(buildFinancialRequest(bare));
    expect(message.fields[35]).toBeUndefined();
    expect(readFinancialRequest(message)).toEqual({ ...bare, track2: undefined, pinBlock: undefined });
  });

  it('C8: readers refuse the wrong MTI, a missing field, and card data in a response', () => {
    expect(() => readFinancialResponse(wire(buildFinancialRequest(purchase)))).toThrow(code('ISO8583_MALFORMED'));
    const { 41: _tid, ...noTerminal } = buildFinancialRequest(purchase).fields;
    expect(() => readFinancialRequest({ mti: '0200', fields: noTerminal })).toThrow(/field 41 is required/);
    const response = buildFinancialResponse(purchase, { rrn: '634012345678', responseCode: APPROVED });
    expect(() => readFinancialResponse({ mti: '0210', fields: { ...response.fields, 35: purchase.track2 } })).toThrow(/field 35 does not belong/);
  });

  it('C8: amounts and STANs out of range are refused when built', () => {
    expect(() => buildFinancialRequest({ ...purchase, amountMinor: 10n ** 12n })).toThrow(code('ISO8583_FIELD_INVALID'));
    expect(() => buildFinancialRequest({ ...purchase, amountMinor: -1n })).toThrow(code('ISO8583_FIELD_INVALID'));
    expect(() => buildFinancialRequest({ ...purchase, stan: 1_000_000 })).toThrow(code('ISO8583_FIELD_INVALID'));
    expect(() => buildFinancialRequest({ ...purchase, stan: 1.5 })).toThrow(code('ISO8583_FIELD_INVALID'));
  });
});

describe('0400/0410 reversal', () => {
  it('C8: the 0400 names the original 0200 in field 90 under its own STAN, with reason 68, and no track 2 or PIN block', () => {
    const message = wire(buildReversalRequest(purchase, { stan: 43, transmissionDateTime: '1206013115', reasonCode: REVERSAL_REASON_TIMEOUT }));
    expect(message.fields[90]).toBe('0200' + '000042' + '1206013045' + '0'.repeat(22));
    expect([35, 52].map((f) => message.fields[f])).toEqual([undefined, undefined]);
    const reversal = readReversalRequest(message);
    expect(reversal).toMatchObject({ stan: 43, reasonCode: '68', amountMinor: 12_345n, original: { mti: '0200', stan: 42, transmissionDateTime: '1206013045' } });
    const answer = readReversalResponse(wire(buildReversalResponse(reversal, APPROVED)));
    expect(answer).toMatchObject({ stan: 43, responseCode: '00', original: reversal.original });
  });
});

describe('0800/0810 network management', () => {
  const common = { stan: 1, transmissionDateTime: '1206000001' };

  it('C8: sign-on 001, echo 301, key exchange 101 with the key block in field 48 and its zone key type in 53, cutover 201 with the settlement date', () => {
    const keyBlock = 'D0112M6TC00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34';
    for (const request of [
      { ...common, action: 'signOn' as const },
      { ...common, action: 'echo' as const },
      { ...common, action: 'keyExchange' as const, keyType: 'mac' as const, keyBlock },
      { ...common, action: 'keyExchange' as const, keyType: 'pin' as const, keyBlock: keyBlock.replace('M6TC', 'P0AB') },
      { ...common, action: 'cutover' as const, settlementDate: '1207' },
    ]) {
      const message = wire(buildNetworkRequest(request));
      expect(message.fields[70]).toBe({ signOn: '001', echo: '301', keyExchange: '101', cutover: '201' }[request.action]);
      expect(message.fields[53]).toBe(request.action === 'keyExchange' ? { pin: '01', mac: '02' }[request.keyType] + '0'.repeat(14) : undefined);
      expect(readNetworkRequest(message)).toEqual(request);
      const keyType = request.action === 'keyExchange' ? request.keyType : undefined;
      const kcv = keyType ? '08793E25AB' : undefined;
      const response = readNetworkResponse(wire(buildNetworkResponse(request, { responseCode: APPROVED, keyCheckValue: kcv })));
      expect(response).toEqual({ ...common, action: request.action, responseCode: '00', keyType, keyCheckValue: kcv });
    }
  });

  it('C8: a key exchange without its key block or key type, a key block in a sign-on, an unknown key type or code is refused', () => {
    const keyExchange = buildNetworkRequest({ ...common, action: 'keyExchange', keyType: 'pin', keyBlock: 'D0112' });
    expect(() => readNetworkRequest({ mti: '0800', fields: { ...keyExchange.fields, 48: undefined } })).toThrow(/field 48 is required/);
    expect(() => readNetworkRequest({ mti: '0800', fields: { ...keyExchange.fields, 53: undefined } })).toThrow(/field 53 is required/);
    expect(() => readNetworkRequest({ mti: '0800', fields: { ...keyExchange.fields, 53: '0300000000000000' } })).toThrow(/names no zone key/);
    expect(() => readNetworkRequest({ mti: '0800', fields: { ...keyExchange.fields, 70: '001' } })).toThrow(/field 48 does not belong/);
    expect(() => readNetworkRequest({ mti: '0800', fields: { ...keyExchange.fields, 70: '999' } })).toThrow(/code 999/);
    expect(() => buildNetworkResponse({ ...common, action: 'echo' }, { responseCode: '00', keyCheckValue: '08793E25AB' })).toThrow(code('ISO8583_FIELD_INVALID'));
  });
});

describe('0500/0510 reconciliation', () => {
  const totals = {
    credits: { count: 0, amountMinor: 0n },
    creditReversals: { count: 0, amountMinor: 0n },
    debits: { count: 1_234, amountMinor: 9_876_543_210_123n },
    debitReversals: { count: 2, amountMinor: 24_690n },
  };
  const request = { stan: 77, transmissionDateTime: '1206230000', settlementDate: '1206', currency: '156', totals };

  it('C9: the 0500 carries counts (n 10) and amounts (n 16, beyond 2^53 too) of credits, debits and their reversals', () => {
    const big = { ...totals, debits: { count: 9_999_999_999, amountMinor: 9_999_999_999_999_999n } };
    const message = wire(buildReconciliationRequest({ ...request, totals: big }));
    expect([message.fields[76], message.fields[88], message.fields[77], message.fields[89]]).toEqual(['9999999999', '9999999999999999', '0000000002', '0000000000024690']);
    expect(readReconciliationRequest(message)).toEqual({ ...request, totals: big });
  });

  it('C9: the 0510 carries the responder\'s totals and its verdict in field 66', () => {
    const theirs = { ...totals, debitReversals: { count: 1, amountMinor: 12_345n } };
    const response = wire(buildReconciliationResponse(request, { responseCode: APPROVED, settlement: 'outOfBalance', totals: theirs }));
    expect(response.fields[66]).toBe('2');
    expect(readReconciliationResponse(response)).toEqual({ ...request, totals: theirs, responseCode: '00', settlement: 'outOfBalance' });
    expect(totalsAgree(totals, theirs)).toBe(false);
    expect(totalsAgree(totals, structuredClone(totals))).toBe(true);
    const bad = { mti: '0510', fields: { ...response.fields, 66: '7' } };
    expect(() => readReconciliationResponse(bad)).toThrow(/settlement code 7/);
  });
});

describe('MTIs and clock fields', () => {
  it('C8: a request or advice pairs with its response; a response has none', () => {
    expect([MTI.financialRequest, MTI.reversalRequest, '0420', MTI.networkManagementRequest].map(responseMtiFor)).toEqual(['0210', '0410', '0430', '0810']);
    expect(() => responseMtiFor('0210')).toThrow(code('ISO8583_FIELD_INVALID'));
  });

  it('C8: field 7 is UTC; fields 12 and 13 are the card acceptor\'s local time', () => {
    const at = new Date(Date.UTC(2026, 11, 5, 17, 30, 45));
    expect(transmissionDateTime(at)).toBe('1205173045');
    expect(localTransactionTime(at, 480)).toEqual({ localTime: '013045', localDate: '1206' });
  });
});
