/**
 * One mobile-number payment at POSP (docs/payments.md "POSP's steps"; SPEC C6-C8, X1), after the
 * request authenticated and its sequence was claimed:
 *
 *   1. decipher the card data under the terminal's TDK, in the HSM; read track 2
 *   2. C7: the platform checks the paying card's bank is contracted
 *   3. translate the PIN block from the terminal's PIK to the zone PIN key, in the HSM
 *   4. journal the authorisation (PAN masked) and hold the amount in the ledger
 *   5. 0200 over the acquirer link; no answer in time: 0400 reversal, 91, hold voided
 *   6. approved: C8 the platform records the payment (reversed if it cannot), the hold is posted;
 *      declined: the hold is voided. The answer carries the response code and its reason.
 *
 * Track data and the PIN block live in this function's buffers only and are wiped when the
 * authorisation ends, whatever the outcome; nothing but the masked PAN is kept or logged (X1).
 */
import { bytesToAscii, fromHex, randomBytes, type Rng, wipe } from '../../shared/bytes';
import { isPaypadError } from '../../shared/errors';
import { maskPan } from '../../shared/pan';
import { type MobilePayRequest, type MobilePayResponse, REASON_MAX_CHARS, TRANSACTION_VERSION, validateTransactionMessage } from '../../shared/protocol/transactions';
import { isControlOrSurrogate } from '../../shared/protocol/validate';
import { readTrack2 } from '../../shared/track2';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import type { WorkingKeys } from '../kms/kmsStore';
import type { MobilePaymentPlatform } from '../payments/mobile/platform';
import { RESPONSE_CODES, respond } from '../payments/responseCodes';
import type { AuthorisationLedger } from './authorisationLedger';
import type { CardAuthoriser, CardDebit } from './cardAuthoriser';
import type { AuthorisationState, PospStore } from './pospStore';

/** ISO 4217 alphabetic to numeric (ISO 8583 field 49) for the currencies the acquirer link settles. */
export const CURRENCY_NUMERIC: Readonly<Record<string, string>> = Object.freeze({ CNY: '156', HKD: '344', USD: '840', EUR: '978' });

const REFERENCE_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const REFERENCE_LENGTH = 12;

export interface MobilePaymentContext {
  readonly customerCode: string;
  readonly hsm: Hsm;
  readonly store: PospStore;
  readonly platform: MobilePaymentPlatform;
  readonly authoriser: CardAuthoriser;
  readonly ledger: AuthorisationLedger;
  /** The zone PIN key shared with the card network (P0, may encrypt), in this HSM. */
  readonly zonePinKey: KeyHandle;
  /** ISO 8583 field 42, 15 characters. */
  readonly merchantId: string;
  readonly rng: Rng;
  readonly clock: () => Date;
}

export interface PayingTerminal {
  readonly serial: string;
  readonly seq: number;
  /** ISO 8583 field 41 for this terminal. */
  readonly linkTerminalId: string;
  readonly keys: WorkingKeys;
}

export async function payByMobile(ctx: MobilePaymentContext, terminal: PayingTerminal, message: MobilePayRequest): Promise<MobilePayResponse> {
  const track = await ctx.hsm.decipherCardData(terminal.keys.TDK, fromHex(message.card, 'card'));
  const terminalPinBlock = fromHex(message.pinBlock, 'pinBlock');
  let zonePinBlock: Uint8Array | undefined;
  try {
    const { pan, expiry } = readTrack2(track);
    const maskedPan = maskPan(pan);
    const reference = newReference(ctx.rng);
    // Validated here too: an answer the terminal would refuse must fail at the host, not at the POS.
    // An approved payment is answered under the provider's reference (field 37), the one the payer's
    // text and the settlement file name; any other answer under POSP's own journal reference.
    const answer = (outcome: Outcome, shownReference = reference): MobilePayResponse =>
      validateTransactionMessage('mobilePayResponse', {
        v: TRANSACTION_VERSION,
        responseCode: outcome.responseCode,
        reason: showable(outcome.reason),
        reference: shownReference,
        amount: message.amount,
        currency: message.currency,
        maskedPan,
        ...(outcome.approvalCode === undefined ? {} : { approvalCode: outcome.approvalCode }),
      });

    const currencyNumeric = CURRENCY_NUMERIC[message.currency];
    if (currencyNumeric === undefined) return answer(respond('12', `${message.currency} is not a currency this acquirer settles`));
    try {
      await ctx.platform.checkPayingCard(pan);
    } catch (e) {
      if (isPaypadError(e, 'CARD_BANK_NOT_CONTRACTED')) return answer(respond('57', e.message));
      throw e;
    }
    zonePinBlock = await ctx.hsm.translatePinBlock(terminal.keys.PIK, ctx.zonePinKey, terminalPinBlock, pan);

    const debit: CardDebit = {
      pan,
      expiry,
      track2: bytesToAscii(track),
      pinBlock: zonePinBlock,
      amountMinor: BigInt(message.amount),
      currencyNumeric,
      terminalId: terminal.linkTerminalId,
      merchantId: ctx.merchantId,
    };
    let journalled = { stan: 0, transmissionDateTime: '' };
    const end = (state: AuthorisationState, codes: { responseCode?: string; approvalCode?: string } = {}) => ctx.store.endAuthorisation(reference, { state, ...codes }, ctx.clock());
    const outcome = await ctx.authoriser.debit(debit, async (sent) => {
      journalled = sent;
      await ctx.store.recordAuthorisation(
        {
          reference,
          customerCode: ctx.customerCode,
          serial: terminal.serial,
          seq: terminal.seq,
          linkTerminalId: terminal.linkTerminalId,
          stan: sent.stan,
          transmittedAt: sent.transmissionDateTime,
          amount: message.amount,
          currency: message.currency,
          maskedPan,
          lookupId: message.lookupId,
          state: 'authorising',
        },
        ctx.clock(),
      );
      await ctx.ledger.hold(reference, BigInt(message.amount), message.currency);
    });

    if (outcome.kind === 'reversed') {
      await ctx.ledger.release(reference);
      await end(outcome.reversalAcknowledged ? 'reversed' : 'reversal_failed');
      return answer(
        respond('91', outcome.reversalAcknowledged ? 'no answer from the card network in time; the debit was reversed and nothing was charged' : 'no answer from the card network in time; a reversal was sent and nothing will be charged once it is acknowledged'),
      );
    }
    if (!outcome.approved) {
      await ctx.ledger.release(reference);
      await end('declined', { responseCode: outcome.responseCode });
      return answer(declined(outcome.responseCode));
    }
    try {
      await ctx.platform.recordPayment({
        lookupId: message.lookupId,
        // The platform reconciles against the provider's settlement file, which names each debit by field 37.
        reference: outcome.retrievalReference,
        amount: message.amount,
        currency: message.currency,
        maskedPan,
        ...(message.payerMobile === undefined ? {} : { payerMobile: message.payerMobile }),
        terminalId: terminal.serial,
      });
    } catch (e) {
      // The payee cannot be owed it (lookup expired, say): the approved debit must not stand.
      const acknowledged = await ctx.authoriser.reverse(debit, journalled);
      await ctx.ledger.release(reference);
      await end(acknowledged ? 'reversed' : 'reversal_failed', { responseCode: outcome.responseCode });
      if (!isPaypadError(e)) throw e;
      return answer(respond('12', `${e.message}; ${acknowledged ? 'the debit was reversed and nothing was charged' : 'a reversal was sent and nothing will be charged once it is acknowledged'}`));
    }
    await ctx.ledger.settle(reference);
    await end('approved', { responseCode: outcome.responseCode, ...(outcome.approvalCode === undefined ? {} : { approvalCode: outcome.approvalCode }) });
    return answer({ ...respond('00'), ...(outcome.approvalCode === undefined ? {} : { approvalCode: outcome.approvalCode }) }, outcome.retrievalReference);
  } finally {
    wipe(track, terminalPinBlock);
    if (zonePinBlock !== undefined) wipe(zonePinBlock);
  }
}

/** What the terminal's answer says about the card: field 39 and its reason, the approval code when approved. */
interface Outcome {
  readonly responseCode: string;
  readonly reason: string;
  readonly approvalCode?: string;
}

/** A decline's reason: the standard wording for the codes paypad knows, the bare code otherwise. */
function declined(code: string): Outcome {
  return Object.hasOwn(RESPONSE_CODES, code) ? respond(code as keyof typeof RESPONSE_CODES) : { responseCode: code, reason: `Declined by the card network (response code ${code})` };
}

/** A reason as the POS can show it: control characters as spaces, cut to REASON_MAX_CHARS (a platform's message may be longer). */
function showable(reason: string): string {
  let out = '';
  let length = 0;
  for (const ch of reason) {
    if (length++ === REASON_MAX_CHARS) break;
    out += isControlOrSurrogate(ch.codePointAt(0) as number) ? ' ' : ch;
  }
  return out;
}

/** ISO 8583 field 37 as POSP gives it: 12 random letters and digits (the platform's and the ledger's idempotency key). */
function newReference(rng: Rng): string {
  const bytes = randomBytes(rng, REFERENCE_LENGTH, 'reference');
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += REFERENCE_ALPHABET[bytes[i] % REFERENCE_ALPHABET.length];
  return out;
}
