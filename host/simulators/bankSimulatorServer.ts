/**
 * The simulated provider on the acquirer link (X5): the bank end of ISO 8583:1987 over TCP
 * (host/payments/iso8583), answering the POSP the way the provider's front end would, with every
 * decision taken by the BankSimulator behind it.
 *
 *   0200  processing code 00xxxx: a debit with the PIN block of field 52 (authorise);
 *         20xxxx: a credit to the card (credit); anything else 12
 *   0400  reversal of the 0200 named in field 90 (reverse)
 *   0500  the POSP's totals for a settlement date against the provider's settlement file: in or
 *         out of balance (field 66), with the provider's own totals
 *   0800  sign-on, echo and cutover answer 00; a zone key exchange answers 12: the simulated
 *         network's zone keys are set when it is made (docs/simulators.md)
 *
 * Every request's MAC (field 64/128, zone MAC key) is checked before anything else and every answer
 * is MAC'd. A request with a bad MAC, or one that does not read as its message type, gets no answer:
 * it cannot be trusted to match a request, so the POSP times out and reverses, as with any bank.
 *
 * The retrieval reference number (field 37) is derived from what identifies a request on the link:
 * terminal (41), STAN (11) and transmission time (7), hashed to 12 hex digits. The same 0200 sent
 * twice therefore reaches the provider under the same reference and is answered 94, and a 0400
 * finds its original from field 90 alone, with no table to keep on this side.
 */
import { createHash } from 'node:crypto';
import { isPaypadError, PaypadError } from '../../shared/errors';
import {
  type AcquirerLinkServer,
  buildFinancialResponse,
  buildNetworkResponse,
  buildReconciliationResponse,
  buildReversalResponse,
  type FinancialRequest,
  type Iso8583Message,
  listenAcquirerLink,
  MTI,
  type MessageAuthenticator,
  type Packager,
  readFinancialRequest,
  readNetworkRequest,
  readReconciliationRequest,
  readReversalRequest,
  type ReconciliationTotals,
  signMessage,
  totalsAgree,
  verifyMessage,
} from '../payments/iso8583/index';
import type { ApprovalResponse } from '../payments/paymentProvider';
import { respond } from '../payments/responseCodes';
import { parseSettlementFile } from '../payments/settlementFile';
import type { BankSimulator } from './bankSimulator';

export interface BankSimulatorServerOptions {
  readonly provider: BankSimulator;
  readonly packager: Packager;
  /** CMAC under the zone MAC key the POSP shares (host/payments/iso8583/mac.ts). */
  readonly authenticator: MessageAuthenticator;
  /** The provider's clock: which year an MMDD settlement date belongs to. */
  readonly now: () => Date;
  readonly host?: string;
  readonly port?: number;
  /** Requests left unanswered (bad MAC, unreadable), for the test or operator watching. */
  readonly onError?: (error: unknown) => void;
}

/** ISO 4217 numeric (field 49 and 50) to alphabetic, for the currencies the simulated provider settles. */
const CURRENCIES: Readonly<Record<string, string>> = Object.freeze({ '156': 'CNY', '344': 'HKD', '840': 'USD', '978': 'EUR' });
const PURCHASE = /^00\d{4}$/;
const CREDIT = /^20\d{4}$/;

export function listenBankSimulator(options: BankSimulatorServerOptions): Promise<AcquirerLinkServer> {
  return listenAcquirerLink({
    packager: options.packager,
    handler: bankSimulatorHandler(options),
    host: options.host,
    port: options.port,
    onError: options.onError,
  });
}

/** The message handler on its own, for a caller that runs the link server itself. */
export function bankSimulatorHandler(options: BankSimulatorServerOptions): (request: Iso8583Message) => Promise<Iso8583Message> {
  const { provider, packager, authenticator, now } = options;
  return async (message) => {
    await verifyMessage(packager, message, authenticator);
    return signMessage(packager, await answer(provider, message, now), authenticator);
  };
}

async function answer(provider: BankSimulator, message: Iso8583Message, now: () => Date): Promise<Iso8583Message> {
  switch (message.mti) {
    case MTI.financialRequest: {
      const request = readFinancialRequest(message);
      const rrn = retrievalReference(request.terminalId, request.stan, request.transmissionDateTime);
      const outcome = await financial(provider, request, rrn);
      return buildFinancialResponse(request, { rrn, authId: outcome.approvalCode, responseCode: outcome.responseCode });
    }
    case MTI.reversalRequest: {
      const request = readReversalRequest(message);
      const original = retrievalReference(request.terminalId, request.original.stan, request.original.transmissionDateTime);
      return buildReversalResponse(request, (await provider.reverse({ reference: original })).responseCode);
    }
    case MTI.networkManagementRequest: {
      const request = readNetworkRequest(message);
      const housekeeping = request.action === 'signOn' || request.action === 'echo' || request.action === 'cutover';
      return buildNetworkResponse(request, { responseCode: housekeeping ? '00' : '12' });
    }
    case MTI.reconciliationRequest: {
      const request = readReconciliationRequest(message);
      const currency = CURRENCIES[request.currency];
      const businessDay = businessDayOf(request.settlementDate, now());
      if (!businessDay || !currency) return buildReconciliationResponse(request, { responseCode: '30', settlement: 'error', totals: request.totals });
      const file = parseSettlementFile(await provider.settlementFile(businessDay, currency));
      const totals: ReconciliationTotals = {
        credits: { count: file.totals.creditCount, amountMinor: BigInt(file.totals.creditTotal) },
        creditReversals: { count: 0, amountMinor: 0n },
        debits: { count: file.totals.debitCount, amountMinor: BigInt(file.totals.debitTotal) },
        debitReversals: { count: file.totals.reversalCount, amountMinor: BigInt(file.totals.reversalTotal) },
      };
      return buildReconciliationResponse(request, { responseCode: '00', settlement: totalsAgree(request.totals, totals) ? 'inBalance' : 'outOfBalance', totals });
    }
    default:
      throw new PaypadError('ISO8583_MALFORMED', `bank simulator: MTI ${message.mti} is not a request it answers`);
  }
}

async function financial(provider: BankSimulator, request: FinancialRequest, reference: string): Promise<ApprovalResponse> {
  const currency = CURRENCIES[request.currency];
  if (!currency) return respond('30', `currency ${request.currency} is not settled by the provider`);
  const transfer = { reference, pan: request.pan, amount: Number(request.amountMinor), currency };
  try {
    if (PURCHASE.test(request.processingCode)) {
      if (!request.pinBlock) return respond('55', 'no PIN block');
      return await provider.authorise({ ...transfer, pinBlock: request.pinBlock });
    }
    if (CREDIT.test(request.processingCode)) return await provider.credit(transfer);
    return respond('12', `processing code ${request.processingCode} is not a purchase or a credit`);
  } catch (e) {
    // A message that reads as a 0200 but carries what the provider cannot take (an amount of zero).
    if (isPaypadError(e, 'PAYMENT_REQUEST_INVALID')) return respond('30', e.message);
    throw e;
  }
}

/** Field 37: 12 hex digits of SHA-256 over what identifies the request on the link. */
function retrievalReference(terminalId: string, stan: number, transmissionDateTime: string): string {
  return createHash('sha256').update(`${terminalId}/${stan}/${transmissionDateTime}`).digest('hex').slice(0, 12).toUpperCase();
}

/** The YYYY-MM-DD of an MMDD settlement date: the latest such day up to today; undefined if none in the last two years. */
function businessDayOf(mmdd: string, today: Date): string | undefined {
  if (!/^\d{4}$/.test(mmdd)) return undefined;
  const month = Number(mmdd.slice(0, 2)) - 1;
  const day = Number(mmdd.slice(2));
  for (const year of [today.getUTCFullYear(), today.getUTCFullYear() - 1]) {
    const date = new Date(Date.UTC(year, month, day));
    if (date.getUTCMonth() === month && date.getUTCDate() === day && date <= today) return date.toISOString().slice(0, 10);
  }
  return undefined;
}
