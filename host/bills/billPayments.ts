/**
 * Paying and refusing a bill (D4-D8). pay():
 *
 * 1. checks the payment against the bill: it exists, the payer's number is the designated one,
 *    and the same idempotency key with the same card answers what it answered before (D6);
 * 2. checks the bill can be paid (not refused, paid or expired) and takes it: one conditional
 *    update moves it from open to paying, so of two payments at once exactly one goes on and the
 *    other gets BillAlreadyPaid with nothing moved;
 * 3. debits the card through the acquirer link as POSP does (host/posp/cardAuthoriser: a 0200
 *    with the PIN block under the zone PIN key, a 0400 when the outcome is unknown), the amount
 *    and the merchant from the bill, with a ledger hold while it is out (host/payments/cardDebitLedger.ts);
 * 4. records the outcome in one transaction: the bill paid (posted), or open again (insufficient
 *    funds, 51, or another decline: pick another card), or refused (a decline that rules the
 *    payment out, FATAL_DECLINES); the attempt under its key and card; the merchant's
 *    notification; the buyer's text when someone else paid (D8) or the bill was refused (D7).
 *
 * A debit whose outcome stayed unknown was reversed: nothing moved, nothing is kept for the
 * key, and the bill is open again ('declined' with 91, try again).
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { isPanShaped, isLuhnValid, maskPan } from '../../shared/pan';
import type { Database } from '../db/database';
import { isoTimestamp, type Schema } from '../db/schema';
import { runWriteTransaction } from '../payments/ledger/writeTransaction';
import type { CardAuthoriser } from '../posp/cardAuthoriser';
import { CURRENCY_NUMERIC } from '../posp/mobilePayment';
import type { CardDebitLedger } from '../payments/cardDebitLedger';
import { type Bill, BillAlreadyPaid, BillExpired, BillNotForThisNumber, BillNotFound, type BillPayment, type BillPaymentOutcome, BillRefused } from './billPlatform';
import { assertBillMobile, BILL_ID, billOf, type BillRow, stateAt } from './billRecords';
import { paidForYouText, queueBuyerText, refusedText } from './buyerTexts';
import type { CardFingerprint } from './cardFingerprint';
import { recordNotification } from './merchantNotifications';
import type { BillTables } from './tables';

/** ISO 8583 field 39 answers after which the bill itself is refused, not just the card: pick up, fraud, lost, stolen, restricted. */
export const FATAL_DECLINES: ReadonlySet<string> = new Set(['04', '07', '41', '43', '59', '62']);
export const INSUFFICIENT_FUNDS = '51';
/** What a debit reversed for an unknown outcome answers the client: issuer unavailable, try again. */
const UNKNOWN_OUTCOME = '91';
/** How long one payment holds a bill it took (beyond the acquirer link's own timeout and reversal). */
const PAYING_HOLD_MS = 2 * 60_000;
/** Field 41 of the platform's debits: the bill platform as one card acceptor terminal. */
const TERMINAL_ID = 'BILLPLAT';
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{8,64}$/;

/** A payment that died holding the bill (its host stopped) lets go when its hold runs out. */
function holdRanOut(row: BillRow, now: Date): boolean {
  return row.paying_until !== null && new Date(row.paying_until) < now;
}

export interface BillPaymentsDeps {
  readonly database: Database;
  readonly authoriser: CardAuthoriser;
  readonly ledger: CardDebitLedger;
  readonly fingerprint: CardFingerprint;
  readonly clock: () => Date;
  /** Called after a change committed that queued outbox rows (wakes the workers). */
  readonly onQueued: () => void;
}

export interface BillPayments {
  pay(payment: BillPayment): Promise<BillPaymentOutcome>;
  refuse(billId: string, payerMobile: string): Promise<Bill>;
}

export function createBillPayments(deps: BillPaymentsDeps): BillPayments {
  const { database, clock } = deps;
  const db = database.db.withTables<BillTables>();
  const rowOf = async (id: string, on: Kysely<Schema> = database.db): Promise<BillRow> => {
    const row = typeof id === 'string' && BILL_ID.test(id) ? await on.withTables<BillTables>().selectFrom('bills').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
    if (row === undefined) throw new BillNotFound(String(id).slice(0, 21));
    return row;
  };
  const assertPayable = (row: BillRow, now: Date): void => {
    if (row.state === 'refused') throw new BillRefused(row.id);
    if (row.state === 'paid' || (row.state === 'paying' && !holdRanOut(row, now))) throw new BillAlreadyPaid(row.id);
    if (stateAt(row, now) === 'expired') throw new BillExpired(row.id, new Date(row.expires_at));
  };

  /** Moves the bill from open to paying, or throws why it cannot be paid. */
  const take = async (row: BillRow, now: Date): Promise<void> => {
    const at = isoTimestamp(now);
    const taken = await db
      .updateTable('bills')
      .set({ state: 'paying', paying_until: isoTimestamp(new Date(now.getTime() + PAYING_HOLD_MS)) })
      .where('id', '=', row.id)
      .where('expires_at', '>', at)
      .where((eb) => eb.or([eb('state', '=', 'open'), eb.and([eb('state', '=', 'paying'), eb('paying_until', '<', at)])]))
      .executeTakeFirst();
    if (taken.numUpdatedRows === 1n) return;
    assertPayable(await rowOf(row.id), now);
    throw new BillAlreadyPaid(row.id);
  };

  const release = (id: string) => db.updateTable('bills').set({ state: 'open', paying_until: null }).where('id', '=', id).where('state', '=', 'paying').execute();

  const storedOutcome = async (attempt: { outcome: string; response_code: string; reference: string | null; bill_id: string }): Promise<BillPaymentOutcome> => {
    const bill = billOf(await rowOf(attempt.bill_id), clock());
    if (attempt.outcome === 'paid') return { outcome: 'paid', bill, reference: attempt.reference ?? '' };
    if (attempt.outcome === 'insufficient_funds') return { outcome: 'insufficient_funds', bill };
    return { outcome: 'declined', bill, responseCode: attempt.response_code };
  };

  return {
    async pay(payment) {
      const { billId, payerMobile, pan, expiry, pinBlock, idempotencyKey } = payment;
      assertBillMobile(payerMobile, 'payerMobile');
      if (!isPanShaped(pan) || !isLuhnValid(pan)) throw new PaypadError('CARD_DATA_INVALID', 'pan: 12-19 digits with a valid check digit');
      if (typeof expiry !== 'string' || !/^\d{2}(0[1-9]|1[0-2])$/.test(expiry)) throw new PaypadError('CARD_DATA_INVALID', 'expiry: YYMM');
      if (!(pinBlock instanceof Uint8Array) || pinBlock.length !== 16) throw new PaypadError('PIN_BLOCK_INVALID', 'pinBlock: 16 bytes (ISO 9564-1 format 4)');
      if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(idempotencyKey)) throw new PaypadError('BAD_ARGUMENT', 'idempotencyKey: 8-64 of A-Z a-z 0-9 _ -');
      const row = await rowOf(billId);
      if (row.designated_mobile !== payerMobile) throw new BillNotForThisNumber(row.id);
      const fingerprint = deps.fingerprint(pan);
      const earlier = await db.selectFrom('bill_payment_attempts').selectAll().where('idempotency_key', '=', idempotencyKey).execute();
      if (earlier.some((a) => a.bill_id !== row.id)) throw new PaypadError('BILL_PAYMENT_EXISTS_DIFFERENT', 'this idempotency key was used for another bill');
      // D6: the same key and card answer what they answered; a key that paid answers paid.
      const same = earlier.find((a) => a.card_fingerprint === fingerprint) ?? earlier.find((a) => a.outcome === 'paid');
      if (same !== undefined) return storedOutcome(same);
      const now = clock();
      assertPayable(row, now);
      await take(row, now);

      const attemptId = randomBytes(9).toString('base64url');
      const maskedPan = maskPan(pan);
      let outcome;
      try {
        outcome = await deps.authoriser.debit(
          { pan, expiry, pinBlock, amountMinor: BigInt(row.amount_minor), currencyNumeric: CURRENCY_NUMERIC[row.currency], terminalId: TERMINAL_ID, merchantId: row.merchant_id },
          () => deps.ledger.hold(attemptId, row.merchant_id, BigInt(row.amount_minor), row.currency),
        );
      } catch (e) {
        // Nothing went out (the hold or the link refused before sending): the bill is free again.
        await release(row.id);
        throw e;
      }
      if (outcome.kind === 'reversed' || !outcome.approved) await deps.ledger.void(attemptId);
      else await deps.ledger.post(attemptId);

      const at = clock();
      if (outcome.kind === 'reversed') {
        await release(row.id);
        return { outcome: 'declined', bill: billOf(await rowOf(row.id), at), responseCode: UNKNOWN_OUTCOME };
      }
      const code = outcome.responseCode;
      const result = outcome.approved ? 'paid' : code === INSUFFICIENT_FUNDS ? 'insufficient_funds' : 'declined';
      const fatal = !outcome.approved && FATAL_DECLINES.has(code);
      const finalRow = await runWriteTransaction(database, async (trx) => {
        const t = trx.withTables<BillTables>();
        const change = outcome.approved
          ? { state: 'paid' as const, paying_until: null, paid_masked_pan: maskedPan, paid_reference: outcome.retrievalReference, paid_at: isoTimestamp(at) }
          : fatal
            ? { state: 'refused' as const, paying_until: null, refused_reason: `declined:${code}`, refused_at: isoTimestamp(at) }
            : { state: 'open' as const, paying_until: null };
        await t.updateTable('bills').set(change).where('id', '=', row.id).execute();
        await t
          .insertInto('bill_payment_attempts')
          .values({ idempotency_key: idempotencyKey, card_fingerprint: fingerprint, bill_id: row.id, outcome: result, response_code: code, reference: outcome.approved ? outcome.retrievalReference : null, masked_pan: maskedPan, created_at: isoTimestamp(at) })
          .execute();
        const changed = await rowOf(row.id, trx);
        const payer = { payerMobile, maskedPan };
        if (outcome.approved) {
          await recordNotification(trx, changed, 'bill.paid', { ...payer, reference: outcome.retrievalReference }, at);
          if (changed.designated_mobile !== changed.buyer_mobile) await queueBuyerText(trx, changed, 'paid-for-you', paidForYouText(changed, outcome.retrievalReference), at);
        } else if (fatal) {
          await recordNotification(trx, changed, 'bill.refused', { ...payer, responseCode: code, reason: 'declined' }, at);
          await queueBuyerText(trx, changed, 'refused', refusedText(changed, 'declined'), at);
        } else {
          await recordNotification(trx, changed, 'bill.payment_declined', { ...payer, responseCode: code }, at);
        }
        return rowOf(row.id, trx);
      });
      deps.onQueued();
      const bill = billOf(finalRow, at);
      if (result === 'paid') return { outcome: 'paid', bill, reference: outcome.retrievalReference };
      if (result === 'insufficient_funds') return { outcome: 'insufficient_funds', bill };
      return { outcome: 'declined', bill, responseCode: code };
    },

    async refuse(billId, payerMobile) {
      assertBillMobile(payerMobile, 'payerMobile');
      const row = await rowOf(billId);
      if (row.designated_mobile !== payerMobile) throw new BillNotForThisNumber(row.id);
      const now = clock();
      // Refusing twice is one refusal.
      if (row.state === 'refused') return billOf(row, now);
      assertPayable(row, now);
      const refused = await runWriteTransaction(database, async (trx) => {
        const t = trx.withTables<BillTables>();
        const done = await t
          .updateTable('bills')
          .set({ state: 'refused', refused_reason: 'payer', refused_at: isoTimestamp(now) })
          .where('id', '=', row.id)
          .where((eb) => eb.or([eb('state', '=', 'open'), eb.and([eb('state', '=', 'paying'), eb('paying_until', '<', isoTimestamp(now))])]))
          .where('expires_at', '>', isoTimestamp(now))
          .executeTakeFirst();
        if (done.numUpdatedRows !== 1n) return undefined;
        const changed = await rowOf(row.id, trx);
        await recordNotification(trx, changed, 'bill.refused', { payerMobile, reason: 'payer' }, now);
        await queueBuyerText(trx, changed, 'refused', refusedText(changed, 'payer'), now);
        return rowOf(row.id, trx);
      });
      if (refused === undefined) {
        // A payment took it, or it expired, between the read and the update.
        const current = await rowOf(row.id);
        if (current.state === 'refused') return billOf(current, now);
        assertPayable(current, now);
        throw new BillAlreadyPaid(row.id);
      }
      deps.onQueued();
      return billOf(refused, now);
    },
  };
}
