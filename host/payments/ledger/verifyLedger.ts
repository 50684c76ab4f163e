/**
 * The operator's and the tests' proof that the books are right: recomputes every balance from
 * the transfers and checks every invariant ledger.ts keeps, over one consistent snapshot
 * (REPEATABLE READ on PostgreSQL; on SQLite a read transaction sees one WAL snapshot), so it can
 * run while hosts keep posting. Read-only; it reports, it never repairs: a correction is a new
 * transfer (ARCHITECTURE §5).
 */
import { type RawBuilder, sql } from 'kysely';
import { limitBreach, type BalanceLimit, type Balances } from './balances';
import type { LedgerStore } from './ledgerStore';

export interface CurrencyTotals extends Balances {
  readonly currency: string;
}

export interface LedgerReport {
  /** True when `problems` is empty. */
  readonly ok: boolean;
  readonly accounts: number;
  readonly transfers: number;
  /** Per currency, the sums of every account's balances: debits equal credits, pending and posted. */
  readonly totals: readonly CurrencyTotals[];
  /** One sentence per broken invariant, naming the account or transfer; at most PROBLEMS_PER_CHECK per check. */
  readonly problems: readonly string[];
}

const PROBLEMS_PER_CHECK = 100;

type Sums = { [K in 'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted']: string };

export async function verifyLedger(store: LedgerStore): Promise<LedgerReport> {
  return store.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const problems: string[] = [];
      const report = (found: readonly string[]) => problems.push(...found.slice(0, PROBLEMS_PER_CHECK));

      // Balances equal the sum of their transfers: posted from posted and post_pending
      // transfers, pending from holds still open. Sums travel as text: exact in both dialects.
      const recomputed = (side: 'debit' | 'credit', which: 'pending' | 'posted') =>
        which === 'posted'
          ? sql`(select cast(coalesce(sum(t.amount), 0) as text) from ledger_transfers t
                 where t.${sql.raw(side)}_account_id = a.id and t.kind in ('posted', 'post_pending'))`
          : sql`(select cast(coalesce(sum(t.amount), 0) as text) from ledger_transfers t join ledger_pending_status s on s.transfer_id = t.id
                 where t.${sql.raw(side)}_account_id = a.id and t.kind = 'pending' and s.state = 'pending')`;
      const { rows: accounts } = await sql<{ code: string; currency: string; balance_limit: BalanceLimit | null } & Sums & { [K in `sum_${keyof Sums}`]: string }>`
        select a.code, a.currency, a.balance_limit,
          cast(a.debits_pending as text) as debits_pending, cast(a.debits_posted as text) as debits_posted,
          cast(a.credits_pending as text) as credits_pending, cast(a.credits_posted as text) as credits_posted,
          ${recomputed('debit', 'pending')} as sum_debits_pending, ${recomputed('debit', 'posted')} as sum_debits_posted,
          ${recomputed('credit', 'pending')} as sum_credits_pending, ${recomputed('credit', 'posted')} as sum_credits_posted
        from ledger_accounts a order by a.id`.execute(trx);

      const totals = new Map<string, { -readonly [K in keyof Balances]: bigint }>();
      const mismatched: string[] = [];
      const breached: string[] = [];
      for (const a of accounts) {
        const balances: Balances = { debitsPending: BigInt(a.debits_pending), debitsPosted: BigInt(a.debits_posted), creditsPending: BigInt(a.credits_pending), creditsPosted: BigInt(a.credits_posted) };
        const fromTransfers: Balances = { debitsPending: BigInt(a.sum_debits_pending), debitsPosted: BigInt(a.sum_debits_posted), creditsPending: BigInt(a.sum_credits_pending), creditsPosted: BigInt(a.sum_credits_posted) };
        for (const key of Object.keys(balances) as (keyof Balances)[]) {
          if (balances[key] !== fromTransfers[key]) mismatched.push(`account ${a.code}: ${key} is ${balances[key]} but its transfers add up to ${fromTransfers[key]}`);
        }
        const breach = limitBreach(balances, a.balance_limit ?? undefined);
        if (breach !== undefined) breached.push(`account ${a.code} breaks its limit: ${breach.replace(/would /g, '')}`);
        const sum = totals.get(a.currency) ?? { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };
        for (const key of Object.keys(balances) as (keyof Balances)[]) sum[key] += balances[key];
        totals.set(a.currency, sum);
      }
      report(mismatched);
      report(breached);
      for (const [currency, t] of totals) {
        if (t.debitsPosted !== t.creditsPosted) problems.push(`${currency}: posted debits ${t.debitsPosted} differ from posted credits ${t.creditsPosted}`);
        if (t.debitsPending !== t.creditsPending) problems.push(`${currency}: pending debits ${t.debitsPending} differ from pending credits ${t.creditsPending}`);
      }

      const ids = async (query: RawBuilder<{ id: string }>, says: string) => {
        const { rows } = await query.execute(trx);
        report(rows.map((r) => `transfer ${r.id}: ${says}`));
      };
      await ids(
        sql<{ id: string }>`select t.id from ledger_transfers t
          join ledger_accounts d on d.id = t.debit_account_id join ledger_accounts c on c.id = t.credit_account_id
          where d.currency <> t.currency or c.currency <> t.currency order by t.id limit ${PROBLEMS_PER_CHECK}`,
        'its accounts are not in its currency',
      );
      await ids(
        sql<{ id: string }>`select r.id from ledger_transfers r join ledger_transfers p on p.id = r.pending_id
          where p.kind <> 'pending' or r.debit_account_id <> p.debit_account_id or r.credit_account_id <> p.credit_account_id
            or r.currency <> p.currency or r.amount > p.amount or (r.kind = 'void_pending' and r.amount <> p.amount)
          order by r.id limit ${PROBLEMS_PER_CHECK}`,
        'does not match the hold it resolves (accounts, currency or amount)',
      );
      // A hold is posted iff a post_pending names it, voided iff a void_pending does, open or expired iff none does.
      await ids(
        sql<{ id: string }>`select p.id from ledger_transfers p
          left join ledger_pending_status s on s.transfer_id = p.id left join ledger_transfers r on r.pending_id = p.id
          where p.kind = 'pending' and case
            when (s.state = 'posted' and r.kind = 'post_pending') or (s.state = 'voided' and r.kind = 'void_pending')
              or (s.state in ('pending', 'expired') and r.id is null) then 0 else 1 end = 1
          order by p.id limit ${PROBLEMS_PER_CHECK}`,
        "hold's status disagrees with the transfers that resolve it",
      );
      await ids(
        sql<{ id: string }>`select t.id from ledger_transfers t join ledger_pending_status s on s.transfer_id = t.id
          where t.kind <> 'pending' order by t.id limit ${PROBLEMS_PER_CHECK}`,
        'has a hold status but is no hold',
      );

      const { rows: counted } = await sql<{ n: string }>`select cast(count(*) as text) as n from ledger_transfers`.execute(trx);
      return {
        ok: problems.length === 0,
        accounts: accounts.length,
        transfers: Number(counted[0]?.n ?? 0),
        totals: [...totals].map(([currency, t]) => ({ currency, ...t })).sort((x, y) => x.currency.localeCompare(y.currency)),
        problems,
      };
    });
}
