/**
 * How the gateway books a checkout payment in the ledger (docs/ledger.md two-phase flow): a hold
 * when the 0200 goes out, posted once the order is marked paid, voided on a decline or a reversal.
 *
 *   debit   gateway:<currency>:card-receivable    asset: what the card network owes for approved debits
 *   credit  merchant:<merchant no>:<currency>     liability: what the platform owes the merchant
 *
 * Transfer ids are the attempt's id with -auth, -post, -void: a retried step is idempotent.
 */
import type { Ledger } from '../payments/ledger/ledger';

/** A hold nobody resolves (a host that stopped mid-payment) is released after a day. */
const HOLD_TIMEOUT_SECONDS = 24 * 60 * 60;

export interface PaymentLedger {
  hold(attemptId: string, merchantNo: string, amount: bigint, currency: string): Promise<void>;
  post(attemptId: string): Promise<void>;
  void(attemptId: string): Promise<void>;
}

export function gatewayAccountCodes(merchantNo: string, currency: string): { receivable: string; payable: string } {
  return { receivable: `gateway:${currency}:card-receivable`, payable: `merchant:${merchantNo}:${currency}` };
}

export function createPaymentLedger(ledger: Ledger): PaymentLedger {
  const opened = new Set<string>();
  const accountsFor = async (merchantNo: string, currency: string) => {
    const codes = gatewayAccountCodes(merchantNo, currency);
    if (!opened.has(codes.payable)) {
      await ledger.openAccount({ code: codes.receivable, name: `Card network receivable for gateway payments (${currency})`, kind: 'asset', currency });
      await ledger.openAccount({ code: codes.payable, name: `Merchant ${merchantNo} payable (${currency})`, kind: 'liability', currency });
      opened.add(codes.payable);
    }
    return codes;
  };
  return {
    async hold(attemptId, merchantNo, amount, currency) {
      const { receivable, payable } = await accountsFor(merchantNo, currency);
      await ledger.createTransfer({ kind: 'pending', id: `gw-${attemptId}-auth`, debitAccount: receivable, creditAccount: payable, amount, timeoutSeconds: HOLD_TIMEOUT_SECONDS });
    },
    async post(attemptId) {
      await ledger.createTransfer({ kind: 'post_pending', id: `gw-${attemptId}-post`, pendingId: `gw-${attemptId}-auth` });
    },
    async void(attemptId) {
      await ledger.createTransfer({ kind: 'void_pending', id: `gw-${attemptId}-void`, pendingId: `gw-${attemptId}-auth` });
    },
  };
}
