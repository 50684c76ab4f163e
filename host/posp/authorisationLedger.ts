/**
 * How POSP books a card authorisation in the ledger (docs/ledger.md two-phase flow; docs/payments.md;
 * SPEC C8): a hold when the 0200 goes out, settled when the bank approves, voided when it declines
 * or the debit is reversed, so the books show money only for debits the bank approved and POSP
 * answered.
 *
 *   debit   posp:<currency>:provider-receivable   asset: what the card network owes the acquirer
 *                                                 for approved debits until it settles (C9)
 *   credit  posp:<currency>:mobile-payable         liability: what the acquirer owes the mobile
 *                                                 payment platform for its payees
 *
 * Transfer ids are the authorisation's reference with a suffix (-auth, -post, -void), so a retried
 * step is idempotent in the ledger as the reference is on the link and at the platform.
 */
import type { Ledger } from '../payments/ledger/ledger';

/** A hold nobody resolves (a POSP that stopped mid-authorisation) is released after a day. */
const HOLD_TIMEOUT_SECONDS = 24 * 60 * 60;

export interface AuthorisationLedger {
  hold(reference: string, amount: bigint, currency: string): Promise<void>;
  settle(reference: string): Promise<void>;
  release(reference: string): Promise<void>;
}

export function accountCodes(currency: string): { receivable: string; payable: string } {
  return { receivable: `posp:${currency}:provider-receivable`, payable: `posp:${currency}:mobile-payable` };
}

export function createAuthorisationLedger(ledger: Ledger): AuthorisationLedger {
  const opened = new Set<string>();
  const accountsFor = async (currency: string) => {
    const codes = accountCodes(currency);
    if (!opened.has(currency)) {
      await ledger.openAccount({ code: codes.receivable, name: `Card network receivable (${currency})`, kind: 'asset', currency });
      await ledger.openAccount({ code: codes.payable, name: `Mobile-number payments payable (${currency})`, kind: 'liability', currency });
      opened.add(currency);
    }
    return codes;
  };
  return {
    async hold(reference, amount, currency) {
      const { receivable, payable } = await accountsFor(currency);
      await ledger.createTransfer({ kind: 'pending', id: `posp-${reference}-auth`, debitAccount: receivable, creditAccount: payable, amount, timeoutSeconds: HOLD_TIMEOUT_SECONDS });
    },
    async settle(reference) {
      await ledger.createTransfer({ kind: 'post_pending', id: `posp-${reference}-post`, pendingId: `posp-${reference}-auth` });
    },
    async release(reference) {
      await ledger.createTransfer({ kind: 'void_pending', id: `posp-${reference}-void`, pendingId: `posp-${reference}-auth` });
    },
  };
}
