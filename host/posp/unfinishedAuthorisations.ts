/**
 * Authorisations a POSP left unfinished (docs/payments.md, "After a stop"; C8). A POSP
 * stopped (killed, power lost) between sending a 0200 and recording its outcome leaves the journal
 * row `authorising`, a pending ledger hold, and the terminal's exchange with no answer; one whose
 * 0400 got no 0410 leaves `reversal_failed`. The bank may have debited the card either way, so the
 * sweep reverses: a 0400 named by field 90 (POSP keeps no PAN), the hold voided, the row `reversed`
 * (or `reversal_failed` again without a 0410, for the next sweep), and the waiting exchange answered
 * 91, so the terminal's retry gets a definite answer instead of "in progress".
 *
 * Only rows unchanged for UNFINISHED_AFTER_MS are taken: a live POSP, this one or another host's on
 * the same database, ends an authorisation well within that (a 0200's timeout, then a 0400's).
 */
import { isPaypadError } from '../../shared/errors';
import { TRANSACTION_VERSION, validateTransactionMessage } from '../../shared/protocol/transactions';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../payments/iso8583/index';
import { respond } from '../payments/responseCodes';
import type { AuthorisationLedger } from './authorisationLedger';
import type { CardAuthoriser } from './cardAuthoriser';
import { CURRENCY_NUMERIC } from './mobilePayment';
import type { AuthorisationRecord, PospStore } from './pospStore';

/** Two link timeouts (the 0200's and the 0400's) and half a minute for the database. */
export const UNFINISHED_AFTER_MS = 2 * DEFAULT_REQUEST_TIMEOUT_MS + 30_000;

export interface UnfinishedAuthorisationsContext {
  readonly customerCode: string;
  readonly store: PospStore;
  readonly authoriser: CardAuthoriser;
  readonly ledger: AuthorisationLedger;
  /** Field 42 of this customer's merchant, as the 0200 carried it. */
  readonly merchantId: string;
  readonly clock: () => Date;
}

/** Reverses `ctx.customerCode`'s unfinished authorisations; the number whose 0400 was acknowledged. */
export async function reverseUnfinishedAuthorisations(ctx: UnfinishedAuthorisationsContext, unfinishedAfterMs = UNFINISHED_AFTER_MS): Promise<number> {
  const rows = await ctx.store.unfinishedAuthorisations(ctx.customerCode, new Date(ctx.clock().getTime() - unfinishedAfterMs));
  let reversed = 0;
  for (const row of rows) if (await reverseOne(ctx, row)) reversed++;
  return reversed;
}

async function reverseOne(ctx: UnfinishedAuthorisationsContext, row: AuthorisationRecord): Promise<boolean> {
  const currencyNumeric = CURRENCY_NUMERIC[row.currency];
  // Journalled only after its currency was accepted: a row without one was not written by POSP.
  if (currencyNumeric === undefined) return false;
  // Posted: the stop came after the approval was booked; the debit stands, the row says so.
  if ((await voidHold(ctx.ledger, row.reference)) === 'posted') {
    await ctx.store.endAuthorisation(row.reference, { state: 'approved' }, ctx.clock());
    return false;
  }
  const acknowledged = await ctx.authoriser.reverse(
    { amountMinor: BigInt(row.amount), currencyNumeric, terminalId: row.linkTerminalId, merchantId: ctx.merchantId },
    { stan: row.stan, transmissionDateTime: row.transmittedAt },
  );
  await ctx.store.endAuthorisation(row.reference, { state: acknowledged ? 'reversed' : 'reversal_failed' }, ctx.clock());
  const exchange = await ctx.store.unansweredExchange(ctx.customerCode, row.serial, row.seq);
  if (exchange !== undefined) {
    const answer = validateTransactionMessage('mobilePayResponse', {
      v: TRANSACTION_VERSION,
      ...respond('91', acknowledged ? 'the payment was interrupted; the debit was reversed and nothing was charged' : 'the payment was interrupted; a reversal was sent and nothing will be charged once it is acknowledged'),
      reference: row.reference,
      amount: row.amount,
      currency: row.currency,
      maskedPan: row.maskedPan,
    });
    await ctx.store.answerExchange(exchange, { status: 200, body: JSON.stringify(answer) }, ctx.clock());
  }
  return acknowledged;
}

/**
 * Voids the authorisation's hold: 'voided' (now or before), 'none' when the stop came before the hold
 * was made or it expired, 'posted' when the approval was already booked.
 */
async function voidHold(ledger: AuthorisationLedger, reference: string): Promise<'voided' | 'none' | 'posted'> {
  try {
    await ledger.release(reference);
    return 'voided';
  } catch (e) {
    if (isPaypadError(e, 'LEDGER_PENDING_RESOLVED')) return 'posted';
    if (isPaypadError(e, 'LEDGER_TRANSFER_UNKNOWN') || isPaypadError(e, 'LEDGER_PENDING_EXPIRED')) return 'none';
    throw e;
  }
}
