/**
 * 0200 financial transaction request and 0210 response (ISO 8583:1987): a purchase debited from
 * the paying card (C6, C8). The request carries the card data and the PIN block inside the link
 * only; the response echoes neither, so nothing that answers a payment holds track data or a PIN.
 */
import type { Iso8583Message } from './packager';
import { digits, expectMti, forbid, optionalBytes, optionalText, requireAmount, requireInteger, requireText } from './fieldValues';
import { MTI } from './mti';

/** Field 3: transaction type 00 (goods and services), from and to the default account (00, 00). */
export const PURCHASE_PROCESSING_CODE = '000000';
/** Field 39: approved or completed successfully. */
export const APPROVED = '00';

export interface FinancialRequest {
  /** Field 2, 8-19 digits. Masked (first 6, last 4) wherever it is shown or logged (X1). */
  readonly pan: string;
  /** Field 3. */
  readonly processingCode: string;
  /** Field 4, in minor units of `currency`. */
  readonly amountMinor: bigint;
  /** Field 7, MMDDhhmmss UTC (clock.ts). */
  readonly transmissionDateTime: string;
  /** Field 11, the system trace audit number: 0-999999, unique per terminal while a request is open. */
  readonly stan: number;
  /** Fields 12 and 13 (clock.ts). */
  readonly localTime: string;
  readonly localDate: string;
  /** Field 14, YYMM. */
  readonly expiry: string;
  /** Field 22: PAN entry mode (2 digits) and PIN entry capability (1 digit), e.g. '021' swiped, PIN capable. */
  readonly posEntryMode: string;
  /** Field 35, track 2 as read from the card; never logged or stored (X1). */
  readonly track2?: string;
  /** Field 41 (8 characters) and field 42 (15 characters). */
  readonly terminalId: string;
  readonly merchantId: string;
  /** Field 49, ISO 4217 numeric ('156' for CNY). */
  readonly currency: string;
  /** Field 52, an ISO 9564-1 format 4 PIN block (16 bytes, linkFields.ts) under the zone PIN key. */
  readonly pinBlock?: Uint8Array;
}

export interface FinancialResponse {
  readonly processingCode: string;
  readonly amountMinor: bigint;
  readonly transmissionDateTime: string;
  readonly stan: number;
  readonly localTime: string;
  readonly localDate: string;
  /** Field 37, the retrieval reference number the issuer side gave the transaction. */
  readonly rrn: string;
  /** Field 38, the authorisation code; present when approved. */
  readonly authId?: string;
  /** Field 39. */
  readonly responseCode: string;
  readonly approved: boolean;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly currency: string;
}

export function buildFinancialRequest(request: FinancialRequest): Iso8583Message {
  return {
    mti: MTI.financialRequest,
    fields: {
      2: request.pan,
      3: request.processingCode,
      4: digits(request.amountMinor, 12, 'amount'),
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      12: request.localTime,
      13: request.localDate,
      14: request.expiry,
      22: request.posEntryMode,
      35: request.track2,
      41: request.terminalId,
      42: request.merchantId,
      49: request.currency,
      52: request.pinBlock,
    },
  };
}

export function readFinancialRequest(message: Iso8583Message): FinancialRequest {
  expectMti(message, MTI.financialRequest);
  forbid(message, 37, 38, 39);
  return {
    pan: requireText(message, 2),
    processingCode: requireText(message, 3),
    amountMinor: requireAmount(message, 4),
    transmissionDateTime: requireText(message, 7),
    stan: requireInteger(message, 11),
    localTime: requireText(message, 12),
    localDate: requireText(message, 13),
    expiry: requireText(message, 14),
    posEntryMode: requireText(message, 22),
    track2: optionalText(message, 35),
    terminalId: requireText(message, 41),
    merchantId: requireText(message, 42),
    currency: requireText(message, 49),
    pinBlock: optionalBytes(message, 52),
  };
}

/** The 0210 answering `request`: its identifying fields echoed, plus the outcome. */
export function buildFinancialResponse(request: FinancialRequest, outcome: { rrn: string; authId?: string; responseCode: string }): Iso8583Message {
  return {
    mti: MTI.financialResponse,
    fields: {
      3: request.processingCode,
      4: digits(request.amountMinor, 12, 'amount'),
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      12: request.localTime,
      13: request.localDate,
      37: outcome.rrn,
      38: outcome.authId,
      39: outcome.responseCode,
      41: request.terminalId,
      42: request.merchantId,
      49: request.currency,
    },
  };
}

export function readFinancialResponse(message: Iso8583Message): FinancialResponse {
  expectMti(message, MTI.financialResponse);
  forbid(message, 2, 14, 35, 52);
  const responseCode = requireText(message, 39);
  return {
    processingCode: requireText(message, 3),
    amountMinor: requireAmount(message, 4),
    transmissionDateTime: requireText(message, 7),
    stan: requireInteger(message, 11),
    localTime: requireText(message, 12),
    localDate: requireText(message, 13),
    rrn: requireText(message, 37),
    authId: optionalText(message, 38),
    responseCode,
    approved: responseCode === APPROVED,
    terminalId: requireText(message, 41),
    merchantId: requireText(message, 42),
    currency: requireText(message, 49),
  };
}
