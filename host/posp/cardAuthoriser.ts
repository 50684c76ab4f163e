/**
 * POSP's side of the acquirer link for one card debit (docs/acquirer-link.md, docs/payments.md;
 * SPEC C6, C8): the 0200 MAC'd under the zone MAC key, and the 0400 reversal when its outcome is
 * unknown. ISO 8583:1987 over host/payments/iso8583's TCP client; the keys stay in the HSM.
 *
 * Outcomes:
 *   answered   the 0210 came and its MAC verified: approved (39 = 00) or declined (any other code)
 *   reversed   no 0210 within the timeout, the link closed, or the 0210's MAC failed: the outcome
 *              is unknown, so a 0400 (39 = 68, response received too late) undoes whatever the
 *              bank did; `reversalAcknowledged` says whether its 0410 came back
 * The PIN block and track data go into the 0200 only; neither is kept here or logged (X1).
 */
import { isPaypadError } from '../../shared/errors';
import {
  type AcquirerLinkClient,
  APPROVED,
  buildFinancialRequest,
  buildReversalRequest,
  type FinancialRequest,
  type MessageAuthenticator,
  type Packager,
  PURCHASE_PROCESSING_CODE,
  readFinancialResponse,
  readReversalResponse,
  REVERSAL_REASON_TIMEOUT,
  type ReversedOriginal,
  signMessage,
  transmissionDateTime,
  localTransactionTime,
  verifyMessage,
} from '../payments/iso8583/index';

/** Field 22: PAN by magnetic stripe (02), terminal can accept PINs (1). */
const SWIPED_WITH_PIN = '021';
/** Field 22: PAN keyed (01), PIN captured (1): a card-not-present debit from a card bound to a phone. */
const KEYED_WITH_PIN = '011';
/** ISO 8583 field 11 runs 000001 to 999999. */
const MAX_STAN = 999_999;

export interface CardDebit {
  readonly pan: string;
  readonly expiry: string;
  /** Track 2 as read (field 35); the caller wipes its own copy. Absent for a keyed (card-not-present) debit. */
  readonly track2?: string;
  /** ISO 9564-1 format 4 under the zone PIN key (field 52). */
  readonly pinBlock: Uint8Array;
  readonly amountMinor: bigint;
  /** ISO 4217 numeric (field 49). */
  readonly currencyNumeric: string;
  /** Field 41, 8 characters, and field 42, 15 characters. */
  readonly terminalId: string;
  readonly merchantId: string;
}

/** What identifies the 0200 on the link, known before it is sent: POSP journals it first. */
export interface SentDebit {
  readonly stan: number;
  readonly transmissionDateTime: string;
}

export type AuthorisationOutcome =
  /** `retrievalReference`: field 37 of the 0210, the provider's name for the transaction (its settlement file's reference). */
  | { readonly kind: 'answered'; readonly approved: boolean; readonly responseCode: string; readonly approvalCode?: string; readonly retrievalReference: string }
  | { readonly kind: 'reversed'; readonly reversalAcknowledged: boolean };

/**
 * What a 0400 needs of its debit: no card data. The PAN when POSP still has it (during the
 * payment); a journalled authorisation found after a restart has none, and is named by field 90.
 */
export type ReversibleDebit = Pick<CardDebit, 'amountMinor' | 'currencyNumeric' | 'terminalId' | 'merchantId'> & { readonly pan?: string };

export interface CardAuthoriser {
  /** Sends the 0200; `beforeSend` runs with its STAN and time first (and may refuse by throwing). */
  debit(debit: CardDebit, beforeSend: (sent: SentDebit) => Promise<void>): Promise<AuthorisationOutcome>;
  /** A 0400 for a 0200 that cannot stand (unknown outcome, or a payment that could not be recorded); true when the 0410 came. */
  reverse(debit: ReversibleDebit, sent: SentDebit): Promise<boolean>;
}

export interface CardAuthoriserOptions {
  readonly link: AcquirerLinkClient;
  readonly packager: Packager;
  /** CMAC under the zone MAC key, in the HSM (hsmMessageAuthenticator). */
  readonly authenticator: MessageAuthenticator;
  readonly clock: () => Date;
  /** Minutes east of UTC of the card acceptors, for fields 12 and 13 (480 for China). */
  readonly utcOffsetMinutes: number;
  /** How long a 0200 waits for its 0210 before POSP reverses it (the link client's default otherwise). */
  readonly requestTimeoutMs?: number;
  /** The first STAN; a random one by default, so two POSP processes rarely share a run. */
  readonly firstStan: number;
}

export function createCardAuthoriser(options: CardAuthoriserOptions): CardAuthoriser {
  const { link, packager, authenticator, clock } = options;
  let stan = options.firstStan;
  const nextStan = (): number => {
    stan = stan >= MAX_STAN ? 1 : stan + 1;
    return stan;
  };

  const financialRequest = (debit: CardDebit, sent: SentDebit): FinancialRequest => {
    const { localTime, localDate } = localTransactionTime(clock(), options.utcOffsetMinutes);
    return {
      pan: debit.pan,
      processingCode: PURCHASE_PROCESSING_CODE,
      amountMinor: debit.amountMinor,
      transmissionDateTime: sent.transmissionDateTime,
      stan: sent.stan,
      localTime,
      localDate,
      expiry: debit.expiry,
      posEntryMode: debit.track2 === undefined ? KEYED_WITH_PIN : SWIPED_WITH_PIN,
      ...(debit.track2 === undefined ? {} : { track2: debit.track2 }),
      terminalId: debit.terminalId,
      merchantId: debit.merchantId,
      currency: debit.currencyNumeric,
      pinBlock: debit.pinBlock,
    };
  };

  const reverse = async (debit: ReversibleDebit, sent: SentDebit): Promise<boolean> => {
    const { localTime, localDate } = localTransactionTime(clock(), options.utcOffsetMinutes);
    const original: ReversedOriginal = {
      ...(debit.pan === undefined ? {} : { pan: debit.pan }),
      processingCode: PURCHASE_PROCESSING_CODE,
      amountMinor: debit.amountMinor,
      stan: sent.stan,
      transmissionDateTime: sent.transmissionDateTime,
      localTime,
      localDate,
      terminalId: debit.terminalId,
      merchantId: debit.merchantId,
      currency: debit.currencyNumeric,
    };
    const reversal = buildReversalRequest(original, { stan: nextStan(), transmissionDateTime: transmissionDateTime(clock()), reasonCode: REVERSAL_REASON_TIMEOUT });
    try {
      const answer = await link.request(await signMessage(packager, reversal, authenticator), options.requestTimeoutMs);
      await verifyMessage(packager, answer, authenticator);
      readReversalResponse(answer);
      return true;
    } catch (e) {
      // Unacknowledged: the journal row says so (reversal_failed) for the operator to send again.
      if (isPaypadError(e)) return false;
      throw e;
    }
  };

  return {
    async debit(debit, beforeSend) {
      const sent: SentDebit = { stan: nextStan(), transmissionDateTime: transmissionDateTime(clock()) };
      await beforeSend(sent);
      const request = await signMessage(packager, buildFinancialRequest(financialRequest(debit, sent)), authenticator);
      try {
        const answer = await link.request(request, options.requestTimeoutMs);
        await verifyMessage(packager, answer, authenticator);
        const response = readFinancialResponse(answer);
        return {
          kind: 'answered',
          approved: response.responseCode === APPROVED,
          responseCode: response.responseCode,
          retrievalReference: response.rrn,
          ...(response.authId === undefined ? {} : { approvalCode: response.authId }),
        };
      } catch (e) {
        // Timeout, closed link, a 0210 that fails its MAC or does not read: the bank may have acted.
        if (!isPaypadError(e)) throw e;
        return { kind: 'reversed', reversalAcknowledged: await reverse(debit, sent) };
      }
    },
    reverse,
  };
}
