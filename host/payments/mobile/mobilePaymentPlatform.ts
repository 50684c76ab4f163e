/**
 * The mobile payment platform behind the POSP (platform.ts; C4, C5, C7, C8):
 *
 * - lookupPayee: the number checked (C4, shared/mobileNumber.ts, the same rule the POS runs), the
 *   three lookup buckets asked (lookupBuckets.ts), the registration looked up, the buckets charged
 *   by what was found, the lookup audited whatever its outcome, and the name returned masked
 *   (payeeName.ts). A lookup id ties the payment that follows to this payee, as PIX ties a payment
 *   to its directory lookup by an end-to-end id; it is good for LOOKUP_TTL_MS and one payment.
 * - checkPayingCard: the provider's contracted-bank check by BIN (C7, PaymentProvider.checkCardBank).
 * - recordPayment: after the provider approved the debit, the payment owed to the payee is kept
 *   (mobile_payments, one row per reference) and held in the ledger (payeeAccounts.ts), the payer
 *   is texted through the outbox, and the lookup's buckets get a token back. Idempotent on the
 *   reference: the same payment again changes nothing; another payment under the same reference
 *   or lookup is PAYMENT_EXISTS_DIFFERENT.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PaypadError } from '../../../shared/errors';
import { assertMainlandMobileNumber } from '../../../shared/mobileNumber';
import { isPanShaped } from '../../../shared/pan';
import type { AuditStore } from '../../audit/auditStore';
import { isoTimestamp, type Schema } from '../../db/schema';
import type { Ledger } from '../ledger/ledger';
import { assertCurrency, type PaymentProvider } from '../paymentProvider';
import type { BucketKey, LookupBuckets } from './lookupBuckets';
import { payerSuccessText, queueSms } from './notifications';
import { openPaymentAccounts, owedTransfer, payeeAccount, receivableAccount } from './payeeAccounts';
import { maskPayeeName } from './payeeName';
import type { MobilePaymentPlatform } from './platform';
import type { MobileTables } from './tables';

/** Long enough for the payer to confirm the name, swipe, key the PIN and the debit to be answered. */
export const LOOKUP_TTL_MS = 10 * 60_000;

/** Terminal (ISO 8583 DE 41) and merchant (DE 42) ids as the POSP passes them. */
const PARTY_ID = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$/;
const REFERENCE = /^[0-9A-Za-z]{12}$/;
/** A 6/4 mask as shared/pan.ts maskPan writes it (or the last four only, for a short PAN). */
const MASKED_PAN = /^(?:\d{6}\*{3,9}|\*{4,15})\d{4}$/;
const MAX_AMOUNT = 999_999_999_999;

export interface MobilePaymentPlatformDeps {
  readonly db: Kysely<Schema>;
  readonly provider: PaymentProvider;
  readonly ledger: Ledger;
  readonly buckets: LookupBuckets;
  readonly audit: AuditStore;
  readonly clock: () => Date;
  /** Called after a text was queued, so the outbox worker sends it now rather than at its next poll. */
  readonly onQueued?: () => void;
}

export function createMobilePaymentPlatform(deps: MobilePaymentPlatformDeps): MobilePaymentPlatform {
  const db = deps.db.withTables<MobileTables>();

  const bucketsOf = (l: { terminal_id: string; merchant_id: string; payer_mobile: string | null }): BucketKey[] => [
    { family: 'terminal', id: l.terminal_id },
    { family: 'merchant', id: l.merchant_id },
    ...(l.payer_mobile ? [{ family: 'payer' as const, id: l.payer_mobile }] : []),
  ];

  return {
    async lookupPayee(query) {
      if (typeof query !== 'object' || query === null) throw new PaypadError('BAD_ARGUMENT', 'expected a lookup query');
      assertMainlandMobileNumber(query.mobile, "payee's mobile number");
      if (query.payerMobile !== undefined) assertMainlandMobileNumber(query.payerMobile, "payer's mobile number");
      assertPartyId(query.terminalId, 'terminalId');
      assertPartyId(query.merchantId, 'merchantId');
      const lookup = { terminal_id: query.terminalId, merchant_id: query.merchantId, payer_mobile: query.payerMobile ?? null };
      const keys = bucketsOf(lookup);
      const audit = (outcome: string, detail: Record<string, string> = {}) =>
        deps.audit.append({ actor: `terminal:${query.terminalId}`, action: 'mobile.payee.lookup', subject: `payee:${query.mobile}`, detail: { outcome, merchant: query.merchantId, payer: query.payerMobile ?? null, ...detail } });
      try {
        await deps.buckets.assertAllowed(keys, 'payee lookups');
      } catch (e) {
        await audit('rate_limited');
        throw e;
      }
      const payee = await db.selectFrom('mobile_payees').select(['mobile', 'name']).where('mobile', '=', query.mobile).executeTakeFirst();
      await deps.buckets.charge(keys, payee !== undefined);
      if (!payee) {
        await audit('unknown');
        throw new PaypadError('PAYEE_UNKNOWN', 'no payee is registered with this mobile number; check it with the payee');
      }
      const now = deps.clock();
      const lookupId = randomUUID();
      const expiresAt = isoTimestamp(new Date(now.getTime() + LOOKUP_TTL_MS));
      await db.insertInto('mobile_lookups').values({ id: lookupId, payee_mobile: payee.mobile, created_at: isoTimestamp(now), expires_at: expiresAt, ...lookup }).execute();
      await audit('found', { lookupId });
      return { lookupId, maskedName: maskPayeeName(payee.name), expiresAt };
    },

    async checkPayingCard(pan) {
      if (!isPanShaped(pan)) throw new PaypadError('PAN_INVALID', 'paying card: expected 8 to 19 digits');
      const answer = await deps.provider.checkCardBank(pan);
      if (answer.responseCode === '00') return;
      if (answer.responseCode === '57') throw new PaypadError('CARD_BANK_NOT_CONTRACTED', "the paying card's bank is not a contracted bank of the payment service provider (UnionPay, VISA, MasterCard); pay with another card");
      throw new PaypadError('PAN_INVALID', `the paying card cannot be used: ${answer.responseCode} ${answer.reason}`);
    },

    async recordPayment(payment) {
      checkPayment(payment);
      const lookup = await db.selectFrom('mobile_lookups').selectAll().where('id', '=', payment.lookupId).executeTakeFirst();
      if (!lookup || lookup.terminal_id !== payment.terminalId) throw new PaypadError('LOOKUP_UNKNOWN', 'no payee lookup with this id was made from this terminal');
      if (payment.payerMobile !== undefined && lookup.payer_mobile !== null && payment.payerMobile !== lookup.payer_mobile) {
        throw new PaypadError('PAYMENT_EXISTS_DIFFERENT', "the payer's mobile number differs from the one given at the lookup");
      }
      const now = deps.clock();
      const row = {
        reference: payment.reference,
        lookup_id: lookup.id,
        payee_mobile: lookup.payee_mobile,
        payer_mobile: payment.payerMobile ?? lookup.payer_mobile,
        terminal_id: payment.terminalId,
        amount: payment.amount,
        currency: payment.currency,
        masked_pan: payment.maskedPan,
      };
      const stored = await db.selectFrom('mobile_payments').selectAll().where((eb) => eb.or([eb('reference', '=', row.reference), eb('lookup_id', '=', row.lookup_id)])).execute();
      let created = false;
      if (stored.length === 0) {
        if (now.toISOString() >= lookup.expires_at) throw new PaypadError('LOOKUP_EXPIRED', 'the payee lookup has expired; look the payee up again');
        const inserted = await db
          .insertInto('mobile_payments')
          .values({ ...row, business_day: isoTimestamp(now).slice(0, 10), recorded_at: isoTimestamp(now), state: 'owed', credit_reference: null, credit_answer: null, credited_at: null })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        created = inserted.numInsertedOrUpdatedRows === 1n;
      }
      const kept = await db.selectFrom('mobile_payments').selectAll().where('reference', '=', row.reference).executeTakeFirst();
      const same = kept !== undefined && (Object.keys(row) as (keyof typeof row)[]).every((k) => kept[k] === row[k]);
      if (!same) throw new PaypadError('PAYMENT_EXISTS_DIFFERENT', 'another payment was recorded under this reference or this lookup');
      // Each step below is idempotent, so a retry after a crash finishes what the first call began.
      await openPaymentAccounts(deps.ledger, row.payee_mobile, row.currency);
      await deps.ledger.createTransfer({ kind: 'pending', id: owedTransfer(row.reference), debitAccount: receivableAccount(row.currency), creditAccount: payeeAccount(row.payee_mobile, row.currency), amount: BigInt(row.amount) });
      if (row.payer_mobile) {
        const payee = await db.selectFrom('mobile_payees').select('name').where('mobile', '=', row.payee_mobile).executeTakeFirst();
        const text = payerSuccessText({ amount: row.amount, currency: row.currency, maskedName: maskPayeeName(payee?.name ?? '*'), payeeMobile: row.payee_mobile, maskedPan: row.masked_pan, reference: row.reference });
        await queueSms(deps.db, row.payer_mobile, text, `mp-${row.reference}-payer`, now);
        deps.onQueued?.();
      }
      if (created) {
        await deps.buckets.refund(bucketsOf(lookup));
        await deps.audit.append({ actor: `terminal:${row.terminal_id}`, action: 'mobile.payment.recorded', subject: `payee:${row.payee_mobile}`, detail: { reference: row.reference, amount: row.amount, currency: row.currency, card: row.masked_pan } });
      }
    },
  };
}

function assertPartyId(value: unknown, field: string): void {
  if (typeof value !== 'string' || !PARTY_ID.test(value)) throw new PaypadError('BAD_ARGUMENT', `${field}: expected 1 to 32 letters, digits, spaces, '.', '_' or '-'`);
}

/** Every field's shape before anything is read or written; a full card number where the mask belongs is refused (X1). */
function checkPayment(p: Parameters<MobilePaymentPlatform['recordPayment']>[0]): void {
  if (typeof p !== 'object' || p === null) throw new PaypadError('BAD_ARGUMENT', 'expected a payment');
  if (typeof p.lookupId !== 'string' || p.lookupId.length === 0 || p.lookupId.length > 36) throw new PaypadError('LOOKUP_UNKNOWN', 'lookupId: expected the id lookupPayee answered');
  if (typeof p.reference !== 'string' || !REFERENCE.test(p.reference)) throw new PaypadError('BAD_ARGUMENT', 'reference: expected 12 letters or digits (ISO 8583 DE 37)');
  if (!Number.isSafeInteger(p.amount) || p.amount < 1 || p.amount > MAX_AMOUNT) throw new PaypadError('BAD_ARGUMENT', `amount: expected whole minor units from 1 to ${MAX_AMOUNT}`);
  try {
    assertCurrency(p.currency);
  } catch {
    throw new PaypadError('BAD_ARGUMENT', 'currency: expected an ISO 4217 code such as CNY');
  }
  if (typeof p.maskedPan !== 'string' || !MASKED_PAN.test(p.maskedPan)) throw new PaypadError('BAD_ARGUMENT', 'maskedPan: expected the paying card masked to its first six and last four digits');
  if (p.payerMobile !== undefined) assertMainlandMobileNumber(p.payerMobile, "payer's mobile number");
  assertPartyId(p.terminalId, 'terminalId');
}
