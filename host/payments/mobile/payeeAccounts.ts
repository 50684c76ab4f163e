/**
 * Where a mobile payment sits in the ledger (docs/ledger.md): the provider owes the platform what
 * it debited from payers (an asset, one per currency), and the platform owes each payee what was
 * paid to their number (a liability, limited so a payee is never paid out more than came in).
 *
 *   recordPayment (C8)      pending   mp:<ref>:owed     receivable -> payee   the hold: owed, not yet settled
 *   reconciled (C9)         post      mp:<ref>:settled  the hold posted: the provider's file confirms the debit
 *   credited (C9)           posted    mp:<ref>:paid     payee -> receivable   the provider paid the payee's card for us
 *
 * Transfer ids are the idempotency keys: a retried step moves nothing twice.
 */
import type { Ledger } from '../ledger/ledger';

export const receivableAccount = (currency: string) => `mobile:receivable:${currency}`;
export const payeeAccount = (mobile: string, currency: string) => `payee:${mobile}:${currency}`;
export const owedTransfer = (reference: string) => `mp:${reference}:owed`;
export const settledTransfer = (reference: string) => `mp:${reference}:settled`;
export const paidTransfer = (reference: string) => `mp:${reference}:paid`;

export async function openPaymentAccounts(ledger: Ledger, mobile: string, currency: string): Promise<void> {
  await ledger.openAccount({ code: receivableAccount(currency), name: `Mobile payments receivable from the provider (${currency})`, kind: 'asset', currency });
  await ledger.openAccount({ code: payeeAccount(mobile, currency), name: `Mobile payee ${mobile} (${currency})`, kind: 'liability', currency, limit: 'debits_must_not_exceed_credits' });
}
