/**
 * How a platform that debits cards for merchants books each debit in the ledger (docs/ledger.md
 * two-phase flow): a hold when the 0200 goes out, posted when the payment is done, voided on a
 * decline or a reversal. The books show money only for debits the bank approved. The bill
 * platform (host/bills) and the gateway's checkout (host/gateway) each book through one of these,
 * under their own channel:
 *
 *   debit   <channel>:<currency>:card-receivable   asset: what the card network owes for approved
 *                                                  debits until it settles
 *   credit  merchant:<merchant no>:<currency>      liability: what the platform owes the merchant,
 *                                                  paid out to its receiving account
 *
 * Transfer ids are <prefix>-<attempt id>-auth, -post, -void: a retried step is idempotent.
 */
import type { Ledger } from './ledger/ledger';

/** A hold nobody resolves (a host that stopped mid-payment) is released after a day. */
const HOLD_TIMEOUT_SECONDS = 24 * 60 * 60;

export interface CardDebitLedger {
  hold(attemptId: string, merchantNo: string, amount: bigint, currency: string): Promise<void>;
  post(attemptId: string): Promise<void>;
  void(attemptId: string): Promise<void>;
}

/** Who books: the receivable account's channel, the transfer ids' prefix, and the receivable's name. */
export interface DebitChannel {
  /** e.g. 'bills', 'gateway'. */
  readonly name: string;
  /** e.g. 'bill', 'gw'. */
  readonly transferPrefix: string;
  /** e.g. 'bills', 'gateway payments': "Card network receivable for <what> (<currency>)". */
  readonly what: string;
}

export const BILLS_CHANNEL: DebitChannel = Object.freeze({ name: 'bills', transferPrefix: 'bill', what: 'bills' });
export const GATEWAY_CHANNEL: DebitChannel = Object.freeze({ name: 'gateway', transferPrefix: 'gw', what: 'gateway payments' });

export function cardDebitAccountCodes(channel: DebitChannel, merchantNo: string, currency: string): { receivable: string; payable: string } {
  return { receivable: `${channel.name}:${currency}:card-receivable`, payable: `merchant:${merchantNo}:${currency}` };
}

export function createCardDebitLedger(ledger: Ledger, channel: DebitChannel): CardDebitLedger {
  const opened = new Set<string>();
  const id = (attemptId: string, step: 'auth' | 'post' | 'void') => `${channel.transferPrefix}-${attemptId}-${step}`;
  const accountsFor = async (merchantNo: string, currency: string) => {
    const codes = cardDebitAccountCodes(channel, merchantNo, currency);
    if (!opened.has(codes.payable)) {
      await ledger.openAccount({ code: codes.receivable, name: `Card network receivable for ${channel.what} (${currency})`, kind: 'asset', currency });
      await ledger.openAccount({ code: codes.payable, name: `Merchant ${merchantNo} payable (${currency})`, kind: 'liability', currency });
      opened.add(codes.payable);
    }
    return codes;
  };
  return {
    async hold(attemptId, merchantNo, amount, currency) {
      const { receivable, payable } = await accountsFor(merchantNo, currency);
      await ledger.createTransfer({ kind: 'pending', id: id(attemptId, 'auth'), debitAccount: receivable, creditAccount: payable, amount, timeoutSeconds: HOLD_TIMEOUT_SECONDS });
    },
    async post(attemptId) {
      await ledger.createTransfer({ kind: 'post_pending', id: id(attemptId, 'post'), pendingId: id(attemptId, 'auth') });
    },
    async void(attemptId) {
      await ledger.createTransfer({ kind: 'void_pending', id: id(attemptId, 'void'), pendingId: id(attemptId, 'auth') });
    },
  };
}
