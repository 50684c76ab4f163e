/**
 * The provider's daily settlement file (host/payments/settlementFile.ts) as the simulated provider
 * writes it after a day of debits, reversals and credits, and as the platform reads it for C9
 * reconciliation: totals that add up, and files that are refused whole when anything is off.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import {
  formatSettlementFile,
  MAX_SETTLEMENT_FILE_CHARS,
  parseSettlementFile,
  type SettlementRecord,
} from '../../../host/payments/settlementFile';
import { createTestPaymentNetwork, TEST_BANKS, TEST_CARDS, type TestPaymentNetwork } from '../../../host/simulators/testCards';

let clock: Date;
let network: TestPaymentNetwork;

beforeEach(async () => {
  clock = new Date('2026-12-06T09:30:00.750Z');
  network = await createTestPaymentNetwork({ now: () => clock });
});

async function pay(reference: string, pan: string, amount: number): Promise<string> {
  return (await network.provider.authorise({ reference, pan, amount, currency: 'CNY', pinBlock: network.pinBlock(pan) })).responseCode;
}

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isPaypadError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an error, nothing was thrown');
}

/** A day: three approved debits (one reversed), one declined, one credit, one debit the next day. */
async function aBusyDay(): Promise<string> {
  const { provider } = network;
  expect(await pay('DAY1DEBIT001', TEST_CARDS.unionPay.pan, 10_000)).toBe('00');
  expect(await pay('DAY1DEBIT002', TEST_CARDS.visa.pan, 2_550)).toBe('00');
  expect(await pay('DAY1DEBIT003', TEST_CARDS.masterCard.pan, 999)).toBe('00');
  expect(await pay('DAY1DECLINE1', TEST_CARDS.insufficientFunds.pan, 10_000)).toBe('51');
  clock = new Date('2026-12-06T12:00:00Z');
  expect((await provider.reverse({ reference: 'DAY1DEBIT003' })).responseCode).toBe('00');
  expect((await provider.credit({ reference: 'DAY1CREDIT01', pan: TEST_CARDS.payee.pan, amount: 12_000, currency: 'CNY' })).responseCode).toBe('00');
  clock = new Date('2026-12-07T00:00:00Z');
  expect(await pay('DAY2DEBIT001', TEST_CARDS.unionPay.pan, 1)).toBe('00');
  return provider.settlementFile('2026-12-06', 'CNY');
}

describe('C9: the settlement file the simulated provider writes', () => {
  it('C9: one line per approved debit, reversal and credit of the day, and a trailer whose totals add up', async () => {
    const text = await aBusyDay();
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('H,PAYPAD-SETTLEMENT,1,20261206,SIM-PSP,CNY');
    expect(lines.slice(1, -1)).toEqual([
      'D,000001,DEBIT,DAY1DEBIT001,622202*********0017,UnionPay,SIM-EAST,10000,000001,2026-12-06T09:30:00Z',
      'D,000002,DEBIT,DAY1DEBIT002,411111******0003,VISA,SIM-WEST,2550,000002,2026-12-06T09:30:00Z',
      'D,000003,DEBIT,DAY1DEBIT003,545454******0003,MasterCard,SIM-NORTH,999,000003,2026-12-06T09:30:00Z',
      'D,000004,REVERSAL,DAY1DEBIT003,545454******0003,MasterCard,SIM-NORTH,999,000003,2026-12-06T12:00:00Z',
      'D,000005,CREDIT,DAY1CREDIT01,622202*********0058,UnionPay,SIM-EAST,12000,000004,2026-12-06T12:00:00Z',
    ]);
    // net = debits 13549 - reversals 999 - credits 12000
    expect(lines.at(-1)).toBe('T,5,3,13549,1,12000,1,999,550');
  });

  it('C9: the file reads back to the same records and totals', async () => {
    const file = parseSettlementFile(await aBusyDay());
    expect(file.businessDay).toBe('2026-12-06');
    expect(file.providerId).toBe('SIM-PSP');
    expect(file.records.map((r) => `${r.type}:${r.reference}:${r.amount}`)).toEqual([
      'DEBIT:DAY1DEBIT001:10000',
      'DEBIT:DAY1DEBIT002:2550',
      'DEBIT:DAY1DEBIT003:999',
      'REVERSAL:DAY1DEBIT003:999',
      'CREDIT:DAY1CREDIT01:12000',
    ]);
    expect(file.totals).toEqual({
      recordCount: 5,
      debitCount: 3,
      debitTotal: 13_549,
      creditCount: 1,
      creditTotal: 12_000,
      reversalCount: 1,
      reversalTotal: 999,
      net: 550,
    });
  });

  it('C9: the next day, another currency and a quiet day each get their own file', async () => {
    await aBusyDay();
    const nextDay = parseSettlementFile(await network.provider.settlementFile('2026-12-07', 'CNY'));
    expect(nextDay.records.map((r) => r.reference)).toEqual(['DAY2DEBIT001']);
    const usd = await network.provider.settlementFile('2026-12-06', 'USD');
    expect(usd).toBe('H,PAYPAD-SETTLEMENT,1,20261206,SIM-PSP,USD\nT,0,0,0,0,0,0,0,0\n');
  });

  it('C9: the platform owes the provider on a day of more credits than debits: net is negative', () => {
    const text = formatSettlementFile({
      businessDay: '2026-12-06',
      providerId: 'SIM-PSP',
      currency: 'CNY',
      records: [record({ type: 'CREDIT', amount: 700 }), record({ type: 'DEBIT', reference: 'REF000000002', amount: 200 })],
    });
    expect(text.trimEnd().split('\n').at(-1)).toBe('T,2,1,200,1,700,0,0,-500');
    expect(parseSettlementFile(text).totals.net).toBe(-500);
  });

  it('X1: no full PAN anywhere in the file', async () => {
    const text = await aBusyDay();
    for (const card of Object.values(TEST_CARDS)) expect(text).not.toContain(card.pan);
    expect(text).not.toMatch(/\d{11,}/);
  });

  it('C9: a credit the issuer made while the provider timed out (91) is in the file all the same', async () => {
    network.provider.setIssuerAvailability(TEST_BANKS.east.bankId, 'slow');
    await network.provider.credit({ reference: 'LATECREDIT01', pan: TEST_CARDS.payee.pan, amount: 50, currency: 'CNY' });
    expect(parseSettlementFile(await network.provider.settlementFile('2026-12-06', 'CNY')).totals.creditTotal).toBe(50);
  });
});

function record(change: Partial<SettlementRecord> = {}): SettlementRecord {
  return {
    type: 'DEBIT',
    reference: 'REF000000001',
    maskedPan: '622202*********0017',
    scheme: 'UnionPay',
    bankId: 'SIM-EAST',
    amount: 100,
    approvalCode: '000001',
    time: '2026-12-06T10:00:00Z',
    ...change,
  };
}

describe('C9: files the platform refuses whole', () => {
  let good: string;
  beforeEach(async () => {
    good = await aBusyDay();
  });
  const replaceLine = (text: string, index: number, line: string) => {
    const lines = text.trimEnd().split('\n');
    lines[index < 0 ? lines.length + index : index] = line;
    return lines.join('\n') + '\n';
  };

  it('C9 tampered: an amount changed on a detail line no longer adds up to the trailer (SETTLEMENT_FILE_TOTALS_MISMATCH)', () => {
    const tampered = good.replace(',10000,000001,', ',10001,000001,');
    expect(failure(() => parseSettlementFile(tampered))).toEqual({
      code: 'SETTLEMENT_FILE_TOTALS_MISMATCH',
      message: "settlement file: the trailer's debit total is 13549, the records add up to 13550",
    });
  });

  it('C9 tampered: a line taken out breaks the sequence or the totals; a trailer figure changed breaks the totals', () => {
    const lines = good.split('\n');
    expect(failure(() => parseSettlementFile([...lines.slice(0, 2), ...lines.slice(3)].join('\n'))).code).toBe('SETTLEMENT_FILE_MALFORMED'); // sequence gap
    expect(failure(() => parseSettlementFile([...lines.slice(0, 5), ...lines.slice(6)].join('\n'))).code).toBe('SETTLEMENT_FILE_TOTALS_MISMATCH'); // the last one
    expect(failure(() => parseSettlementFile(replaceLine(good, -1, 'T,5,3,13549,1,12000,1,999,551'))).code).toBe('SETTLEMENT_FILE_TOTALS_MISMATCH');
    expect(failure(() => parseSettlementFile(replaceLine(good, -1, 'T,6,3,13549,1,12000,1,999,550'))).code).toBe('SETTLEMENT_FILE_TOTALS_MISMATCH');
  });

  it('C9 out of order: detail lines swapped break the sequence, with the line number', () => {
    const lines = good.split('\n');
    [lines[1], lines[2]] = [lines[2], lines[1]];
    expect(failure(() => parseSettlementFile(lines.join('\n')))).toEqual({
      code: 'SETTLEMENT_FILE_MALFORMED',
      message: 'settlement file line 2: sequence: expected 000001',
    });
  });

  it.each([
    ['no trailer', (t: string) => t.split('\n').slice(0, -2).join('\n')],
    ['no header', (t: string) => t.split('\n').slice(1).join('\n')],
    ['an empty file', () => ''],
    ['another file type', (t: string) => t.replace('PAYPAD-SETTLEMENT', 'OTHER-FILE')],
    ['another version', (t: string) => t.replace('PAYPAD-SETTLEMENT,1,', 'PAYPAD-SETTLEMENT,2,')],
    ['a business day that does not exist', (t: string) => t.replace('20261206', '20261306')],
    ['a full PAN where a masked one belongs', (t: string) => t.replace('622202*********0017', '6222021000000000017')],
    ['an unknown record type', (t: string) => t.replace(',DEBIT,DAY1DEBIT002', ',REFUND,DAY1DEBIT002')],
    ['an unknown scheme', (t: string) => t.replace(',VISA,', ',AMEX,')],
    ['a comma inside a field', (t: string) => t.replace('SIM-WEST', 'SIM,WEST')],
    ['an amount with a decimal point', (t: string) => t.replace(',2550,', ',25.50,')],
    ['an impossible time', (t: string) => t.replace('2026-12-06T12:00:00Z', '2026-12-06T25:00:00Z')],
    ['a trailer with a negative count', (t: string) => replaceLine(t, -1, 'T,-5,3,13549,1,12000,1,999,550')],
    ['a line over 256 characters', (t: string) => replaceLine(t, 1, 'D,' + 'X'.repeat(300))],
    ['lines after the trailer', (t: string) => t + 'D,000006,DEBIT\n'],
  ])('C9 malformed: %s is SETTLEMENT_FILE_MALFORMED', (_what, spoil) => {
    expect(failure(() => parseSettlementFile(spoil(good))).code).toBe('SETTLEMENT_FILE_MALFORMED');
  });

  it('C9 oversized: a file past the limit is refused before it is split into lines', () => {
    expect(failure(() => parseSettlementFile('H'.repeat(MAX_SETTLEMENT_FILE_CHARS + 1)))).toEqual({
      code: 'SETTLEMENT_FILE_MALFORMED',
      message: `settlement file: larger than ${MAX_SETTLEMENT_FILE_CHARS} characters`,
    });
  });

  it('C9: CRLF line ends read the same as LF', () => {
    expect(parseSettlementFile(good.replaceAll('\n', '\r\n'))).toEqual(parseSettlementFile(good));
  });

  it('C9: the writer refuses a record it could not read back (a comma in a reference, an unmasked PAN)', () => {
    const write = (r: SettlementRecord) => formatSettlementFile({ businessDay: '2026-12-06', providerId: 'SIM-PSP', currency: 'CNY', records: [r] });
    expect(failure(() => write(record({ reference: 'REF,00000001' }))).code).toBe('SETTLEMENT_FILE_MALFORMED');
    expect(failure(() => write(record({ maskedPan: '6222021000000000017' }))).code).toBe('SETTLEMENT_FILE_MALFORMED');
    expect(failure(() => formatSettlementFile({ businessDay: '2026-12-06', providerId: 'sim psp', currency: 'CNY', records: [] })).code).toBe(
      'SETTLEMENT_FILE_MALFORMED',
    );
  });
});
