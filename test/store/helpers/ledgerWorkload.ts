/**
 * A busy day on the ledger, for the concurrency tests (test/store/ledgerConcurrency.test.ts and
 * the second host process, ledgerHost.ts): two wallets that pay each other in both directions
 * (opposite lock orders) and pay a merchant until their funds run out, and holds that one host
 * settles while the other reverses them. Every request is deterministic, so two processes can
 * send the same ones; outcomes are plain JSON, so a child process can report them.
 */
import { expect } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import type { Ledger, TransferRequest } from '../../../host/payments/ledger/ledger';

export const WALLET_FUNDS = 500n;

export interface Workload {
  readonly cash: string;
  readonly wallets: readonly [string, string];
  readonly merchant: string;
  /** Opening balances: cash to each wallet. */
  readonly funding: readonly TransferRequest[];
  /** Wallet to wallet and wallet to merchant, single-phase; some find no funds. */
  readonly payments: readonly TransferRequest[];
  /** Holds from cash to the merchant, made before the race. */
  readonly holds: readonly TransferRequest[];
  /** For each hold, a settlement and a reversal: exactly one of the two may win. */
  readonly settlements: readonly TransferRequest[];
  readonly reversals: readonly TransferRequest[];
}

export function workload(prefix: string, size: number): Workload {
  const cash = `${prefix}:cash`;
  const wallets = [`${prefix}:wallet-a`, `${prefix}:wallet-b`] as const;
  const merchant = `${prefix}:merchant`;
  const payments: TransferRequest[] = [];
  for (let i = 0; i < size; i++) {
    const [from, to] = i % 2 === 0 ? wallets : ([wallets[1], wallets[0]] as const);
    payments.push({ kind: 'posted', id: `${prefix}-swap-${i}`, debitAccount: from, creditAccount: to, amount: 7n });
    payments.push({ kind: 'posted', id: `${prefix}-pay-${i}`, debitAccount: wallets[i % 3 === 0 ? 1 : 0], creditAccount: merchant, amount: 13n });
  }
  const holds: TransferRequest[] = [];
  const settlements: TransferRequest[] = [];
  const reversals: TransferRequest[] = [];
  for (let i = 0; i < size / 3; i++) {
    holds.push({ kind: 'pending', id: `${prefix}-hold-${i}`, debitAccount: cash, creditAccount: merchant, amount: 11n });
    settlements.push({ kind: 'post_pending', id: `${prefix}-hold-${i}-post`, pendingId: `${prefix}-hold-${i}`, amount: 10n });
    reversals.push({ kind: 'void_pending', id: `${prefix}-hold-${i}-void`, pendingId: `${prefix}-hold-${i}` });
  }
  const funding: TransferRequest[] = wallets.map((w, i) => ({ kind: 'posted', id: `${prefix}-fund-${i}`, debitAccount: cash, creditAccount: w, amount: WALLET_FUNDS }));
  return { cash, wallets, merchant, funding, payments, holds, settlements, reversals };
}

/** Opens the accounts and makes the funding and the holds; idempotent, so both hosts may run it at once. */
export async function prepare(ledger: Ledger, w: Workload): Promise<void> {
  await ledger.openAccount({ code: w.cash, name: 'Cash', kind: 'asset', currency: 'CNY' });
  for (const wallet of w.wallets) await ledger.openAccount({ code: wallet, name: 'Wallet', kind: 'liability', currency: 'CNY', limit: 'debits_must_not_exceed_credits' });
  await ledger.openAccount({ code: w.merchant, name: 'Merchant', kind: 'liability', currency: 'CNY' });
  await ledger.createLinkedTransfers([...w.funding, ...w.holds]);
}

export type Outcome = { readonly id: string; readonly ok: true } | { readonly id: string; readonly ok: false; readonly code: string };

/**
 * How many requests a host keeps in flight: as many as its PostgreSQL pool has connections
 * (host/db/database.ts). Each request holds a connection for its whole transaction, and a request
 * that waits for a free connection longer than the pool's connection timeout (5 s) fails with
 * "timeout exceeded when trying to connect"; with every request sent at once, the last ones queued
 * behind a hot account met that on a loaded machine. With this many in flight none waits for the
 * pool, and the race stays between the hosts' connections, on the accounts' row locks.
 */
export const IN_FLIGHT = 10;

/** Sends the requests, IN_FLIGHT at a time (each its own transaction), and reports how each ended, in order. */
export async function submit(ledger: Ledger, requests: readonly TransferRequest[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const sender = async () => {
    for (let i = next++; i < requests.length; i = next++) {
      const r = requests[i]!;
      outcomes[i] = await ledger.createTransfer(r).then(
        (): Outcome => ({ id: r.id, ok: true }),
        (e: unknown): Outcome => ({ id: r.id, ok: false, code: isPaypadError(e) ? e.code : `UNEXPECTED ${String(e)}` }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, requests.length) }, sender));
  return outcomes;
}

/**
 * What every host reported against what the books hold: each request that succeeded anywhere is
 * stored once, nothing else is; refusals are only the expected kinds; each hold was resolved by
 * exactly one of its settlement and reversal; each balance is what the stored transfers add up
 * to (recomputed here, apart from the ledger's own verification), and verifyLedger agrees.
 */
export async function expectConsistentBooks(ledger: Ledger, w: Workload, reports: readonly Outcome[][]): Promise<{ stored: number; refused: number }> {
  const outcomes = reports.flat();
  expect(outcomes.filter((o) => !o.ok && o.code !== 'LEDGER_INSUFFICIENT_FUNDS' && o.code !== 'LEDGER_PENDING_RESOLVED')).toEqual([]);
  const succeeded = new Set(outcomes.filter((o) => o.ok).map((o) => o.id));

  const expected = new Map<string, { debitsPosted: bigint; creditsPosted: bigint }>();
  const add = (code: string, side: 'debitsPosted' | 'creditsPosted', amount: bigint) => {
    const b = expected.get(code) ?? { debitsPosted: 0n, creditsPosted: 0n };
    b[side] += amount;
    expected.set(code, b);
  };
  let stored = 0;
  for (const request of [...w.funding, ...w.holds, ...w.payments, ...w.settlements, ...w.reversals]) {
    const transfer = await ledger.transfer(request.id);
    const raced = w.payments.includes(request) || w.settlements.includes(request) || w.reversals.includes(request);
    if (raced) expect({ id: request.id, stored: transfer !== undefined }).toEqual({ id: request.id, stored: succeeded.has(request.id) });
    if (transfer === undefined) continue;
    stored++;
    if (transfer.kind === 'posted' || transfer.kind === 'post_pending') {
      add(transfer.debitAccount, 'debitsPosted', transfer.amount);
      add(transfer.creditAccount, 'creditsPosted', transfer.amount);
    }
  }
  for (const [i, hold] of w.holds.entries()) {
    const posted = (await ledger.transfer(w.settlements[i]!.id)) !== undefined;
    const voided = (await ledger.transfer(w.reversals[i]!.id)) !== undefined;
    expect({ hold: hold.id, resolutions: Number(posted) + Number(voided) }).toEqual({ hold: hold.id, resolutions: 1 });
    expect(await ledger.pendingStatus(hold.id)).toMatchObject({ state: posted ? 'posted' : 'voided' });
  }
  for (const code of [w.cash, ...w.wallets, w.merchant]) {
    expect(await ledger.account(code)).toMatchObject({ code, debitsPending: 0n, creditsPending: 0n, ...(expected.get(code) ?? { debitsPosted: 0n, creditsPosted: 0n }) });
  }
  for (const wallet of w.wallets) {
    const { debitsPosted, creditsPosted } = (await ledger.account(wallet))!;
    expect(debitsPosted <= creditsPosted).toBe(true);
  }
  const report = await ledger.verify();
  expect(report.problems).toEqual([]);
  return { stored, refused: outcomes.filter((o) => !o.ok).length };
}
