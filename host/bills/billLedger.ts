/**
 * How the bill platform books a bill payment in the ledger (docs/ledger.md two-phase flow): a hold
 * when the 0200 goes out, posted when the bank approves, voided when it declines or the debit is
 * reversed. The books show money only for debits the bank approved.
 *
 *   debit   bills:<currency>:card-receivable      asset: what the card network owes the platform
 *                                                 for approved debits until it settles
 *   credit  merchant:<merchant id>:<currency>     liability: what the platform owes the merchant,
 *                                                 paid out to its receiving account
 *
 * Transfer ids are the attempt's id with -auth, -post, -void: a retried step is idempotent.
 */
import type { Ledger } from '../payments/ledger/ledger';

/** A hold nobody resolves (a host that stopped mid-payment) is released after a day. */
const HOLD_TIMEOUT_SECONDS = 24 * 60 * 60;

export interface BillLedger {
  hold(attemptId: string, merchantId: string, amount: bigint, currency: string): Promise<void>;
  post(attemptId: string): Promise<void>;
  void(attemptId: string): Promise<void>;
}

export function billAccountCodes(merchantId: string, currency: string): { receivable: string; payable: string } {
  return { receivable: `bills:${currency}:card-receivable`, payable: `merchant:${merchantId}:${currency}` };
}

export function createBillLedger(ledger: Ledger): BillLedger {
  const opened = new Set<string>();
  const accountsFor = async (merchantId: string, currency: string) => {
    const codes = billAccountCodes(merchantId, currency);
    if (!opened.has(codes.payable)) {
      await ledger.openAccount({ code: codes.receivable, name: `Card network receivable for bills (${currency})`, kind: 'asset', currency });
      await ledger.openAccount({ code: codes.payable, name: `Merchant ${merchantId} payable (${currency})`, kind: 'liability', currency });
      opened.add(codes.payable);
    }
    return codes;
  };
  return {
    async hold(attemptId, merchantId, amount, currency) {
      const { receivable, payable } = await accountsFor(merchantId, currency);
      await ledger.createTransfer({ kind: 'pending', id: `bill-${attemptId}-auth`, debitAccount: receivable, creditAccount: payable, amount, timeoutSeconds: HOLD_TIMEOUT_SECONDS });
    },
    async post(attemptId) {
      await ledger.createTransfer({ kind: 'post_pending', id: `bill-${attemptId}-post`, pendingId: `bill-${attemptId}-auth` });
    },
    async void(attemptId) {
      await ledger.createTransfer({ kind: 'void_pending', id: `bill-${attemptId}-void`, pendingId: `bill-${attemptId}-auth` });
    },
  };
}
