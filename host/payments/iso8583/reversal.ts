/**
 * 0400 reversal request and 0410 response (ISO 8583:1987): undoes a 0200 whose outcome the
 * acquirer side cannot rely on, above all one whose 0210 never came (the channel's
 * ACQUIRER_LINK_TIMEOUT). Field 90 names the original; field 11 is the reversal's own STAN.
 * Like the 0210, neither message carries track 2 or a PIN block.
 */
import { PaypadError } from '../../../shared/errors';
import type { FinancialRequest } from './financial';
import type { Iso8583Message } from './packager';
import { digits, expectMti, forbid, optionalText, requireAmount, requireInteger, requireText } from './fieldValues';
import { MTI } from './mti';

/** Field 39 in a 0400: ISO 8583:1987 response code 68, response received too late. */
export const REVERSAL_REASON_TIMEOUT = '68';

/** Field 90 as paypad fills it: the original's MTI, STAN and transmission date and time. */
export interface OriginalData {
  readonly mti: string;
  readonly stan: number;
  readonly transmissionDateTime: string;
}

export interface ReversalRequest {
  /** Field 2, conditional: an acquirer that no longer holds the PAN reverses by field 90 alone. */
  readonly pan?: string;
  readonly processingCode: string;
  readonly amountMinor: bigint;
  /** Field 7 of the reversal itself. */
  readonly transmissionDateTime: string;
  /** Field 11 of the reversal itself. */
  readonly stan: number;
  readonly localTime: string;
  readonly localDate: string;
  /** Field 39: why the acquirer reverses (REVERSAL_REASON_TIMEOUT). */
  readonly reasonCode: string;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly currency: string;
  readonly original: OriginalData;
}

export interface ReversalResponse {
  readonly processingCode: string;
  readonly amountMinor: bigint;
  readonly transmissionDateTime: string;
  readonly stan: number;
  readonly responseCode: string;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly currency: string;
  readonly original: OriginalData;
}

/**
 * ISO 8583:1987 field 90, n 42: original MTI (4), STAN (6), transmission date and time (10),
 * acquiring institution id (11) and forwarding institution id (11). The link sends neither
 * institution id (fields 32 and 33), so both are zeros.
 */
function encodeOriginalData(original: OriginalData): string {
  if (!/^0[0-9]{3}$/.test(original.mti) || !/^[0-9]{10}$/.test(original.transmissionDateTime)) {
    throw new PaypadError('ISO8583_FIELD_INVALID', 'original data elements: expected an MTI and a 10-digit transmission date and time');
  }
  return `${original.mti}${digits(original.stan, 6, 'original STAN')}${original.transmissionDateTime}${'0'.repeat(22)}`;
}

function readOriginalData(message: Iso8583Message): OriginalData {
  const field = requireText(message, 90);
  return { mti: field.slice(0, 4), stan: Number(field.slice(4, 10)), transmissionDateTime: field.slice(10, 20) };
}

/**
 * What a 0400 repeats of its 0200: everything but the card data. The PAN (field 2) only when the
 * acquirer still has it: field 90 names the original, and an acquirer that keeps no PAN (POSP
 * after a restart, docs/payments.md) reverses by it alone.
 */
export type ReversedOriginal = Pick<FinancialRequest, 'processingCode' | 'amountMinor' | 'stan' | 'transmissionDateTime' | 'localTime' | 'localDate' | 'terminalId' | 'merchantId' | 'currency'> & {
  readonly pan?: string;
};

/** The 0400 reversing `original` (a 0200 as built or read, or as journalled), under a STAN of its own. */
export function buildReversalRequest(original: ReversedOriginal, reversal: { stan: number; transmissionDateTime: string; reasonCode: string }): Iso8583Message {
  return {
    mti: MTI.reversalRequest,
    fields: {
      ...(original.pan === undefined ? {} : { 2: original.pan }),
      3: original.processingCode,
      4: digits(original.amountMinor, 12, 'amount'),
      7: reversal.transmissionDateTime,
      11: digits(reversal.stan, 6, 'STAN'),
      12: original.localTime,
      13: original.localDate,
      39: reversal.reasonCode,
      41: original.terminalId,
      42: original.merchantId,
      49: original.currency,
      90: encodeOriginalData({ mti: MTI.financialRequest, stan: original.stan, transmissionDateTime: original.transmissionDateTime }),
    },
  };
}

export function readReversalRequest(message: Iso8583Message): ReversalRequest {
  expectMti(message, MTI.reversalRequest);
  forbid(message, 35, 52);
  const pan = optionalText(message, 2);
  return {
    ...(pan === undefined ? {} : { pan }),
    processingCode: requireText(message, 3),
    amountMinor: requireAmount(message, 4),
    transmissionDateTime: requireText(message, 7),
    stan: requireInteger(message, 11),
    localTime: requireText(message, 12),
    localDate: requireText(message, 13),
    reasonCode: requireText(message, 39),
    terminalId: requireText(message, 41),
    merchantId: requireText(message, 42),
    currency: requireText(message, 49),
    original: readOriginalData(message),
  };
}

export function buildReversalResponse(request: ReversalRequest, responseCode: string): Iso8583Message {
  return {
    mti: MTI.reversalResponse,
    fields: {
      3: request.processingCode,
      4: digits(request.amountMinor, 12, 'amount'),
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      39: responseCode,
      41: request.terminalId,
      42: request.merchantId,
      49: request.currency,
      90: encodeOriginalData(request.original),
    },
  };
}

export function readReversalResponse(message: Iso8583Message): ReversalResponse {
  expectMti(message, MTI.reversalResponse);
  forbid(message, 2, 35, 52);
  return {
    processingCode: requireText(message, 3),
    amountMinor: requireAmount(message, 4),
    transmissionDateTime: requireText(message, 7),
    stan: requireInteger(message, 11),
    responseCode: requireText(message, 39),
    terminalId: requireText(message, 41),
    merchantId: requireText(message, 42),
    currency: requireText(message, 49),
    original: readOriginalData(message),
  };
}
