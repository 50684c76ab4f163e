/**
 * Ledger test fixtures: System C's accounts for one payment, and the check that a refused
 * request changed nothing (no balance, no transfer).
 */
import { expect } from 'vitest';
import type { ErrorCode } from '../../../shared/errors';
import type { Ledger } from '../../../host/payments/ledger/ledger';

export interface PaymentAccounts {
  /** What the card provider owes us once it debited the payer's card (C8): an asset. */
  readonly provider: string;
  /** What we owe the payee until paid out to their bound card (C9): never below zero. */
  readonly payee: string;
  /** Our settlement bank account, from which payees are paid out: an asset. */
  readonly bank: string;
}

/** Opens the three accounts under `prefix` (each test its own, so tests share a database safely). */
export async function openPaymentAccounts(ledger: Ledger, prefix: string, currency = 'CNY'): Promise<PaymentAccounts> {
  const provider = await ledger.openAccount({ code: `${prefix}:provider`, name: 'UnionPay receivable', kind: 'asset', currency });
  const payee = await ledger.openAccount({ code: `${prefix}:payee`, name: 'Zhang San, payee', kind: 'liability', currency, limit: 'debits_must_not_exceed_credits' });
  const bank = await ledger.openAccount({ code: `${prefix}:bank`, name: 'Settlement bank account', kind: 'asset', currency });
  return { provider: provider.code, payee: payee.code, bank: bank.code };
}

/** Runs `attempt`, expects it refused with `code`, and expects the accounts `codes` and the transfer count unchanged. */
export async function unchangedBooks(ledger: Ledger, codes: readonly string[], attempt: () => Promise<unknown>, code: ErrorCode): Promise<Error> {
  const snapshot = async () => ({ accounts: await Promise.all(codes.map((c) => ledger.account(c))), transfers: (await ledger.verify()).transfers });
  const before = await snapshot();
  const error = await attempt().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ code });
  expect(await snapshot()).toEqual(before);
  return error as Error;
}
