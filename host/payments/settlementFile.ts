/**
 * The provider's daily settlement file (C9): what it settled for the platform on one business day
 * in one currency, which the platform reconciles against its own records before it credits payees.
 * The simulated provider writes it (host/simulators/bankSimulator.ts); the platform reads it with
 * parseSettlementFile, which trusts nothing: every field, the sequence and the trailer totals are
 * checked, and a file that fails any check is refused whole.
 *
 * Comma-separated text, one record per line (LF; CRLF is read too), no quoting because no field can
 * hold a comma, a quote or a line break:
 *
 *   H,PAYPAD-SETTLEMENT,1,<business day YYYYMMDD>,<provider id>,<currency ISO 4217>
 *   D,<sequence 000001...>,<DEBIT|CREDIT|REVERSAL>,<reference>,<masked PAN>,<scheme>,<bank id>,
 *     <amount in minor units>,<approval code>,<time YYYY-MM-DDThh:mm:ssZ>        (one line per record)
 *   T,<record count>,<debit count>,<debit total>,<credit count>,<credit total>,<reversal count>,
 *     <reversal total>,<net>
 *
 * A REVERSAL line carries the reversed debit's reference and approval code. net = debit total -
 * reversal total - credit total: what the provider owes the platform for the day (negative when the
 * platform owes the provider). PANs are masked first six / last four (PCI DSS v4.0 Req. 3.4.1).
 */
import { PaypadError } from '../../shared/errors';
import { assertBusinessDay, assertCurrency, CARD_SCHEMES, type CardScheme } from './paymentProvider';

export type SettlementRecordType = 'DEBIT' | 'CREDIT' | 'REVERSAL';

export interface SettlementRecord {
  readonly type: SettlementRecordType;
  readonly reference: string;
  readonly maskedPan: string;
  readonly scheme: CardScheme;
  readonly bankId: string;
  /** Minor units of the file's currency, always positive: the type says which way it went. */
  readonly amount: number;
  readonly approvalCode: string;
  /** When the provider settled it, UTC, whole seconds. */
  readonly time: string;
}

export interface SettlementTotals {
  readonly recordCount: number;
  readonly debitCount: number;
  readonly debitTotal: number;
  readonly creditCount: number;
  readonly creditTotal: number;
  readonly reversalCount: number;
  readonly reversalTotal: number;
  readonly net: number;
}

export interface SettlementFile {
  /** YYYY-MM-DD (UTC). */
  readonly businessDay: string;
  readonly providerId: string;
  readonly currency: string;
  readonly records: readonly SettlementRecord[];
  readonly totals: SettlementTotals;
}

const FILE_TYPE = 'PAYPAD-SETTLEMENT';
const VERSION = '1';
/** A day of a busy platform is well under this; a file beyond it is refused before it is split. */
export const MAX_SETTLEMENT_FILE_CHARS = 16 * 1024 * 1024;
const MAX_LINE_CHARS = 256;
const RECORD_TYPES: readonly SettlementRecordType[] = ['DEBIT', 'CREDIT', 'REVERSAL'];
const ID = /^[A-Z0-9-]{1,20}$/;
const REFERENCE = /^[0-9A-Za-z]{12}$/;
const MASKED_PAN = /^(\d{6}\*{3,9}|\*{4,8})\d{4}$/;
const AMOUNT = /^[1-9]\d{0,11}$/;
const APPROVAL_CODE = /^[0-9A-Z]{6}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const COUNT = /^(0|[1-9]\d{0,8})$/;
const TOTAL = /^(0|[1-9]\d{0,17})$/;
const NET = /^(0|-?[1-9]\d{0,17})$/;

/** The file's text for these records, numbered in the order given, with the trailer's totals. */
export function formatSettlementFile(file: Omit<SettlementFile, 'totals'>): string {
  assertBusinessDay(file.businessDay);
  assertCurrency(file.currency);
  if (!ID.test(file.providerId)) throw new PaypadError('SETTLEMENT_FILE_MALFORMED', 'settlement file: provider id must be 1 to 20 of A-Z, 0-9, -');
  const lines = [['H', FILE_TYPE, VERSION, file.businessDay.replaceAll('-', ''), file.providerId, file.currency].join(',')];
  file.records.forEach((record, i) => {
    const line = detailLine(record, i + 1);
    checkDetail(line.split(','), i + 2); // what we write must read back: one definition of a valid line
    lines.push(line);
  });
  const t = totalsOf(file.records);
  lines.push(['T', t.recordCount, t.debitCount, t.debitTotal, t.creditCount, t.creditTotal, t.reversalCount, t.reversalTotal, t.net].join(','));
  return lines.join('\n') + '\n';
}

/**
 * Reads a settlement file. SETTLEMENT_FILE_MALFORMED (with the line number) for anything out of
 * place, SETTLEMENT_FILE_TOTALS_MISMATCH when the trailer disagrees with the records.
 */
export function parseSettlementFile(text: string): SettlementFile {
  if (typeof text !== 'string') throw malformed(0, 'expected text');
  if (text.length > MAX_SETTLEMENT_FILE_CHARS) throw malformed(0, `larger than ${MAX_SETTLEMENT_FILE_CHARS} characters`);
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length < 2) throw malformed(lines.length, 'expected a header and a trailer');
  lines.forEach((line, i) => {
    if (line.length > MAX_LINE_CHARS) throw malformed(i + 1, `longer than ${MAX_LINE_CHARS} characters`);
  });

  const header = lines[0].split(',');
  if (header.length !== 6 || header[0] !== 'H') throw malformed(1, 'expected the header record H with 6 fields');
  if (header[1] !== FILE_TYPE || header[2] !== VERSION) throw malformed(1, `not a ${FILE_TYPE} file version ${VERSION}`);
  if (!/^\d{8}$/.test(header[3])) throw malformed(1, 'business day: expected YYYYMMDD');
  const businessDay = `${header[3].slice(0, 4)}-${header[3].slice(4, 6)}-${header[3].slice(6)}`;
  asField(1, () => assertBusinessDay(businessDay));
  if (!ID.test(header[4])) throw malformed(1, 'provider id: expected 1 to 20 of A-Z, 0-9, -');
  asField(1, () => assertCurrency(header[5]));

  const records = lines.slice(1, -1).map((line, i) => checkDetail(line.split(','), i + 2));
  const trailerLine = lines.length;
  const trailer = lines[trailerLine - 1].split(',');
  if (trailer.length !== 9 || trailer[0] !== 'T') throw malformed(trailerLine, 'expected the trailer record T with 9 fields, last');
  for (let f = 1; f < 9; f++) {
    const pattern = f === 8 ? NET : f === 1 || f % 2 === 0 ? COUNT : TOTAL;
    if (!pattern.test(trailer[f])) throw malformed(trailerLine, `trailer field ${f + 1}: expected a whole number`);
  }
  const totals = totalsOf(records);
  const stated = [totals.recordCount, totals.debitCount, totals.debitTotal, totals.creditCount, totals.creditTotal, totals.reversalCount, totals.reversalTotal, totals.net];
  const names = ['record count', 'debit count', 'debit total', 'credit count', 'credit total', 'reversal count', 'reversal total', 'net'];
  stated.forEach((value, f) => {
    if (Number(trailer[f + 1]) !== value) {
      throw new PaypadError('SETTLEMENT_FILE_TOTALS_MISMATCH', `settlement file: the trailer's ${names[f]} is ${trailer[f + 1]}, the records add up to ${value}`);
    }
  });
  return { businessDay, providerId: header[4], currency: header[5], records, totals };
}

function totalsOf(records: readonly SettlementRecord[]): SettlementTotals {
  const sum = (type: SettlementRecordType) => records.filter((r) => r.type === type).reduce((s, r) => s + r.amount, 0);
  const count = (type: SettlementRecordType) => records.filter((r) => r.type === type).length;
  const debitTotal = sum('DEBIT');
  const creditTotal = sum('CREDIT');
  const reversalTotal = sum('REVERSAL');
  return {
    recordCount: records.length,
    debitCount: count('DEBIT'),
    debitTotal,
    creditCount: count('CREDIT'),
    creditTotal,
    reversalCount: count('REVERSAL'),
    reversalTotal,
    net: debitTotal - reversalTotal - creditTotal,
  };
}

function detailLine(r: SettlementRecord, sequence: number): string {
  return ['D', String(sequence).padStart(6, '0'), r.type, r.reference, r.maskedPan, r.scheme, r.bankId, r.amount, r.approvalCode, r.time].join(',');
}

function checkDetail(f: string[], line: number): SettlementRecord {
  if (f.length !== 10 || f[0] !== 'D') throw malformed(line, 'expected a detail record D with 10 fields');
  if (f[1] !== String(line - 1).padStart(6, '0')) throw malformed(line, `sequence: expected ${String(line - 1).padStart(6, '0')}`);
  if (!RECORD_TYPES.includes(f[2] as SettlementRecordType)) throw malformed(line, `type: expected ${RECORD_TYPES.join(', ')}`);
  if (!REFERENCE.test(f[3])) throw malformed(line, 'reference: expected 12 letters or digits');
  if (!MASKED_PAN.test(f[4])) throw malformed(line, 'PAN: expected a masked PAN (first six, last four)');
  if (!CARD_SCHEMES.includes(f[5] as CardScheme)) throw malformed(line, `scheme: expected ${CARD_SCHEMES.join(', ')}`);
  if (!ID.test(f[6])) throw malformed(line, 'bank id: expected 1 to 20 of A-Z, 0-9, -');
  if (!AMOUNT.test(f[7])) throw malformed(line, 'amount: expected 1 to 999999999999 minor units');
  if (!APPROVAL_CODE.test(f[8])) throw malformed(line, 'approval code: expected 6 letters or digits');
  if (!TIME.test(f[9]) || Number.isNaN(Date.parse(f[9])) || new Date(f[9]).toISOString() !== f[9].replace('Z', '.000Z')) {
    throw malformed(line, 'time: expected YYYY-MM-DDThh:mm:ssZ');
  }
  return { type: f[2] as SettlementRecordType, reference: f[3], maskedPan: f[4], scheme: f[5] as CardScheme, bankId: f[6], amount: Number(f[7]), approvalCode: f[8], time: f[9] };
}

function asField(line: number, check: () => void): void {
  try {
    check();
  } catch (e) {
    throw malformed(line, (e as Error).message);
  }
}

function malformed(line: number, what: string): PaypadError {
  return new PaypadError('SETTLEMENT_FILE_MALFORMED', `settlement file${line > 0 ? ` line ${line}` : ''}: ${what}`);
}
