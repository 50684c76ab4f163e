/**
 * 0500 acquirer reconciliation request and 0510 response (ISO 8583:1987): after cutover each side
 * states its totals for the settlement date, and the responder says whether they agree (C9: the
 * payee is credited only after reconciliation). Counts are n 10 (fields 74-77), amounts n 16 in
 * minor units (fields 86-89); the 0510 carries the responder's own totals so a difference can be
 * found, and field 66 the verdict.
 */
import { PaypadError } from '../../../shared/errors';
import type { Iso8583Message } from './packager';
import { digits, expectMti, requireAmount, requireInteger, requireText } from './fieldValues';
import { MTI } from './mti';

export interface Tally {
  readonly count: number;
  readonly amountMinor: bigint;
}

export interface ReconciliationTotals {
  readonly credits: Tally;
  readonly creditReversals: Tally;
  readonly debits: Tally;
  readonly debitReversals: Tally;
}

export interface ReconciliationRequest {
  readonly stan: number;
  readonly transmissionDateTime: string;
  /** Field 15, MMDD. */
  readonly settlementDate: string;
  /** Field 50, ISO 4217 numeric. */
  readonly currency: string;
  readonly totals: ReconciliationTotals;
}

/** Field 66 (ISO 8583:1987): 1 in balance, 2 out of balance, 3 error. */
const SETTLEMENT_CODES = Object.freeze({ inBalance: '1', outOfBalance: '2', error: '3' });
export type Settlement = keyof typeof SETTLEMENT_CODES;

export interface ReconciliationResponse extends ReconciliationRequest {
  readonly responseCode: string;
  readonly settlement: Settlement;
}

/** Count field, amount field, per tally (ISO 8583:1987 fields 74-77 and 86-89). */
const TALLY_FIELDS: Readonly<Record<keyof ReconciliationTotals, readonly [number, number]>> = Object.freeze({
  credits: [74, 86],
  creditReversals: [75, 87],
  debits: [76, 88],
  debitReversals: [77, 89],
});
const TALLIES = Object.keys(TALLY_FIELDS) as (keyof ReconciliationTotals)[];

function totalsFields(totals: ReconciliationTotals): Record<number, string> {
  const fields: Record<number, string> = {};
  for (const tally of TALLIES) {
    const [countField, amountField] = TALLY_FIELDS[tally];
    fields[countField] = digits(totals[tally].count, 10, `${tally} count`);
    fields[amountField] = digits(totals[tally].amountMinor, 16, `${tally} amount`);
  }
  return fields;
}

function readTotals(message: Iso8583Message): ReconciliationTotals {
  const entry = (tally: keyof ReconciliationTotals): Tally => {
    const [countField, amountField] = TALLY_FIELDS[tally];
    return { count: requireInteger(message, countField), amountMinor: requireAmount(message, amountField) };
  };
  return { credits: entry('credits'), creditReversals: entry('creditReversals'), debits: entry('debits'), debitReversals: entry('debitReversals') };
}

/** True when every count and amount is the same on both sides. */
export function totalsAgree(a: ReconciliationTotals, b: ReconciliationTotals): boolean {
  return TALLIES.every((t) => a[t].count === b[t].count && a[t].amountMinor === b[t].amountMinor);
}

export function buildReconciliationRequest(request: ReconciliationRequest): Iso8583Message {
  return {
    mti: MTI.reconciliationRequest,
    fields: {
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      15: request.settlementDate,
      50: request.currency,
      ...totalsFields(request.totals),
    },
  };
}

function readReconciliationFields(message: Iso8583Message): ReconciliationRequest {
  return {
    stan: requireInteger(message, 11),
    transmissionDateTime: requireText(message, 7),
    settlementDate: requireText(message, 15),
    currency: requireText(message, 50),
    totals: readTotals(message),
  };
}

export function readReconciliationRequest(message: Iso8583Message): ReconciliationRequest {
  expectMti(message, MTI.reconciliationRequest);
  return readReconciliationFields(message);
}

/** The 0510 answering `request` with the responder's own `totals` and its verdict. */
export function buildReconciliationResponse(
  request: ReconciliationRequest,
  outcome: { responseCode: string; settlement: Settlement; totals: ReconciliationTotals },
): Iso8583Message {
  return {
    mti: MTI.reconciliationResponse,
    fields: {
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      15: request.settlementDate,
      39: outcome.responseCode,
      50: request.currency,
      66: SETTLEMENT_CODES[outcome.settlement],
      ...totalsFields(outcome.totals),
    },
  };
}

export function readReconciliationResponse(message: Iso8583Message): ReconciliationResponse {
  expectMti(message, MTI.reconciliationResponse);
  const code = requireText(message, 66);
  const settlement = (Object.keys(SETTLEMENT_CODES) as Settlement[]).find((s) => SETTLEMENT_CODES[s] === code);
  if (!settlement) throw new PaypadError('ISO8583_MALFORMED', `ISO 8583 0510: settlement code ${code} is not 1, 2 or 3`);
  return { ...readReconciliationFields(message), responseCode: requireText(message, 39), settlement };
}
