/**
 * C9: the platform's payments of one business day against the provider's settlement file for that
 * day, then the payees of the payments that match are credited (PaymentProvider.credit to the
 * bound card, and the ledger) and told by SMS.
 *
 * Every difference is reported, typed and listed, and none is fixed here: a payment that does not
 * match stays owed (its ledger hold open) for a person to look into, because each way of "fixing"
 * one (crediting anyway, voiding, re-sending a credit) is wrong for some cause of the difference.
 *
 *   MISSING_FROM_FILE        recorded by the platform, not settled by the provider
 *   AMOUNT_MISMATCH          settled for another amount (a debit, or the payee's credit)
 *   CARD_MISMATCH            settled against another (masked) card
 *   REVERSED                 settled, and reversed by the provider the same day
 *   NOT_RECORDED             a debit the provider settled with no payment here (a recordPayment
 *                            that never arrived, or a card payment of another service)
 *   CREDIT_DECLINED          the provider declined the payee's credit (the answer is kept)
 *   CREDIT_UNANSWERED        no answer (91): the credit may have been made; it is not sent again
 *   CREDIT_OUTCOME_UNKNOWN   a credit was sent by an earlier run that stopped before keeping the answer
 *   CREDIT_NOT_RECORDED      a credit in the file that no payment here sent
 *
 * Running a day again is safe: credited payments are skipped, a credit's reference is derived from
 * its payment's (so the provider would answer a repeat 94, not pay twice), and ledger transfers and
 * texts are keyed by the payment.
 */
import { createHash } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { maskPan } from '../../../shared/pan';
import type { AuditStore } from '../../audit/auditStore';
import { isoTimestamp, type Schema } from '../../db/schema';
import type { Ledger } from '../ledger/ledger';
import { assertBusinessDay, assertCurrency, type PaymentProvider } from '../paymentProvider';
import { parseSettlementFile, type SettlementRecord } from '../settlementFile';
import { payeeCreditText, queueSms } from './notifications';
import { owedTransfer, paidTransfer, payeeAccount, receivableAccount, settledTransfer } from './payeeAccounts';
import type { PayeeRegistry } from './payeeRegistry';
import type { MobileTables } from './tables';

export type MismatchKind =
  | 'MISSING_FROM_FILE'
  | 'AMOUNT_MISMATCH'
  | 'CARD_MISMATCH'
  | 'REVERSED'
  | 'NOT_RECORDED'
  | 'CREDIT_DECLINED'
  | 'CREDIT_UNANSWERED'
  | 'CREDIT_OUTCOME_UNKNOWN'
  | 'CREDIT_NOT_RECORDED';

export interface Mismatch {
  readonly kind: MismatchKind;
  /** The payment's reference (ISO 8583 DE 37), or the file record's. */
  readonly reference: string;
  /** What differs, for a person: amounts in minor units, cards masked. */
  readonly detail: string;
}

export interface ReconciliationReport {
  readonly businessDay: string;
  readonly currency: string;
  /** Payments of the day on the platform, and debits in the file. */
  readonly payments: number;
  readonly fileDebits: number;
  /** References credited by this run. */
  readonly credited: readonly string[];
  readonly mismatches: readonly Mismatch[];
}

export interface ReconciliationDeps {
  readonly db: Kysely<Schema>;
  readonly provider: PaymentProvider;
  readonly ledger: Ledger;
  readonly payees: PayeeRegistry;
  readonly audit: AuditStore;
  readonly clock: () => Date;
  readonly onQueued?: () => void;
}

/** The credit's reference (DE 37, 12 characters): 'C' and 11 hex digits of SHA-256 over the payment's, the same on every run. */
export function creditReferenceOf(reference: string): string {
  return `C${createHash('sha256').update(reference, 'utf8').digest('hex').slice(0, 11).toUpperCase()}`;
}

/**
 * Reconciles `businessDay` (YYYY-MM-DD, UTC) in `currency`. PAYMENT_REQUEST_INVALID for a bad day
 * or currency, SETTLEMENT_FILE_MALFORMED or SETTLEMENT_FILE_TOTALS_MISMATCH for a file that cannot
 * be trusted (then nothing is credited at all).
 */
export async function reconcileBusinessDay(deps: ReconciliationDeps, businessDay: string, currency: string): Promise<ReconciliationReport> {
  assertBusinessDay(businessDay);
  assertCurrency(currency);
  const db = deps.db.withTables<MobileTables>();
  const file = parseSettlementFile(await deps.provider.settlementFile(businessDay, currency));
  const byType = (type: SettlementRecord['type']) => new Map(file.records.filter((r) => r.type === type).map((r) => [r.reference, r]));
  const debits = byType('DEBIT');
  const reversals = byType('REVERSAL');
  const credits = byType('CREDIT');

  const payments = await db.selectFrom('mobile_payments').selectAll().where('business_day', '=', businessDay).where('currency', '=', currency).orderBy('recorded_at').execute();
  const mismatches: Mismatch[] = [];
  const credited: string[] = [];
  const report = (kind: MismatchKind, reference: string, detail: string) => mismatches.push({ kind, reference, detail });

  for (const p of payments) {
    const debit = debits.get(p.reference);
    debits.delete(p.reference);
    if (!debit) report('MISSING_FROM_FILE', p.reference, `recorded ${p.amount} from ${p.masked_pan}; the provider settled no debit under this reference`);
    else if (debit.amount !== p.amount) report('AMOUNT_MISMATCH', p.reference, `recorded ${p.amount}, settled ${debit.amount}`);
    else if (debit.maskedPan !== p.masked_pan) report('CARD_MISMATCH', p.reference, `recorded ${p.masked_pan}, settled ${debit.maskedPan}`);
    else if (reversals.has(p.reference)) report('REVERSED', p.reference, `settled ${debit.amount} and reversed by the provider`);
    else if (p.state === 'crediting') report('CREDIT_OUTCOME_UNKNOWN', p.reference, `credit ${p.credit_reference} was sent by an earlier run and its answer not kept; ask the provider`);
    else if (p.state === 'credit_failed') report(p.credit_answer?.startsWith('91') ? 'CREDIT_UNANSWERED' : 'CREDIT_DECLINED', p.reference, `credit ${p.credit_reference}: ${p.credit_answer}; still owed`);
    else if (p.state === 'owed') {
      const outcome = await creditPayee(deps, p);
      if (outcome.ok === true) credited.push(p.reference);
      else if (outcome.ok === false) report(outcome.kind, p.reference, outcome.detail);
    }
  }
  for (const d of debits.values()) report('NOT_RECORDED', d.reference, `the provider settled ${d.amount} from ${d.maskedPan} with no payment recorded here`);
  for (const c of credits.values()) {
    const sent = await db.selectFrom('mobile_payments').select(['reference', 'state', 'amount']).where('credit_reference', '=', c.reference).executeTakeFirst();
    if (!sent) report('CREDIT_NOT_RECORDED', c.reference, `the provider settled a credit of ${c.amount} to ${c.maskedPan} that no payment here sent`);
    else if (sent.state !== 'credited') report('CREDIT_UNANSWERED', sent.reference, `credit ${c.reference} of ${c.amount} was settled by the provider though its answer here is '${sent.state}'`);
    else if (sent.amount !== c.amount) report('AMOUNT_MISMATCH', sent.reference, `credited ${sent.amount}, the provider settled credit ${c.reference} for ${c.amount}`);
  }

  await deps.audit.append({
    actor: 'system:reconciliation',
    action: 'mobile.reconciliation',
    subject: `settlement:${businessDay}:${currency}`,
    detail: { payments: payments.length, fileDebits: file.totals.debitCount, credited: credited.length, mismatches: mismatches.map((m) => `${m.kind} ${m.reference}`).slice(0, 100) },
  });
  return { businessDay, currency, payments: payments.length, fileDebits: file.totals.debitCount, credited, mismatches };
}

/** ok 'elsewhere': another run (another host on the database) claimed the payment first and reports it. */
type CreditOutcome = { ok: true } | { ok: 'elsewhere' } | { ok: false; kind: 'CREDIT_DECLINED' | 'CREDIT_UNANSWERED'; detail: string };

/** One matched payment: settle the hold, claim the payment, credit the bound card, then the ledger and the text. */
async function creditPayee(deps: ReconciliationDeps, p: Selectable<MobileTables['mobile_payments']>): Promise<CreditOutcome> {
  const db = deps.db.withTables<MobileTables>();
  await deps.ledger.createTransfer({ kind: 'post_pending', id: settledTransfer(p.reference), pendingId: owedTransfer(p.reference) });
  const creditReference = creditReferenceOf(p.reference);
  // The claim: one run sends a payment's credit; a run that stops after it leaves 'crediting' for a person.
  const claimed = await db.updateTable('mobile_payments').set({ state: 'crediting', credit_reference: creditReference }).where('reference', '=', p.reference).where('state', '=', 'owed').executeTakeFirst();
  if (claimed.numUpdatedRows !== 1n) return { ok: 'elsewhere' };
  const pan = await deps.payees.receivingCard(p.payee_mobile);
  const answer = await deps.provider.credit({ reference: creditReference, pan, amount: p.amount, currency: p.currency });
  const now = deps.clock();
  const answerText = `${answer.responseCode} ${answer.reason}`.slice(0, 120);
  if (answer.responseCode !== '00') {
    await db.updateTable('mobile_payments').set({ state: 'credit_failed', credit_answer: answerText }).where('reference', '=', p.reference).execute();
    return { ok: false, kind: answer.responseCode === '91' ? 'CREDIT_UNANSWERED' : 'CREDIT_DECLINED', detail: `credit ${creditReference} to ${maskPan(pan)}: ${answerText}` };
  }
  await deps.ledger.createTransfer({ kind: 'posted', id: paidTransfer(p.reference), debitAccount: payeeAccount(p.payee_mobile, p.currency), creditAccount: receivableAccount(p.currency), amount: BigInt(p.amount) });
  await db.updateTable('mobile_payments').set({ state: 'credited', credit_answer: answerText, credited_at: isoTimestamp(now) }).where('reference', '=', p.reference).execute();
  const text = payeeCreditText({ amount: p.amount, currency: p.currency, payerMobile: p.payer_mobile, terminalId: p.terminal_id, maskedCard: maskPan(pan), reference: p.reference });
  await queueSms(deps.db, p.payee_mobile, text, `mp-${p.reference}-payee`, now);
  deps.onQueued?.();
  await deps.audit.append({ actor: 'system:reconciliation', action: 'mobile.payee.credited', subject: `payee:${p.payee_mobile}`, detail: { reference: p.reference, creditReference, amount: p.amount, currency: p.currency } });
  return { ok: true };
}
