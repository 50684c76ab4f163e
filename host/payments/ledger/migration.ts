/**
 * The ledger's tables (docs/ledger.md; SPEC C8, C9): double-entry accounts with TigerBeetle-style
 * balances, immutable transfers, and the one fact about a transfer that changes, whether a
 * pending (two-phase) transfer is still open. Money is integer minor units in bigint columns
 * beside an ISO 4217 alphabetic currency code (ARCHITECTURE §5); no floats anywhere.
 *
 * The CHECK constraints repeat the invariants ledger.ts keeps, so a bug or a hand-written
 * statement that would break one fails in the database instead of corrupting the books.
 */
import { sql } from 'kysely';
import type { HostMigration } from '../../db/migrate';
import { addIdColumn } from '../../db/migrations/columns';

export const ledger: HostMigration = {
  name: '0011_ledger',
  async up(db, dialect) {
    await addIdColumn(db.schema.createTable('ledger_accounts'), dialect)
      .addColumn('code', 'varchar(64)', (col) => col.notNull().unique())
      .addColumn('name', 'varchar(200)', (col) => col.notNull())
      .addColumn('kind', 'varchar(16)', (col) => col.notNull())
      .addColumn('currency', 'varchar(3)', (col) => col.notNull())
      // Null: no limit. Otherwise one side of the account may never exceed the other's posted total.
      .addColumn('balance_limit', 'varchar(40)')
      .addColumn('debits_pending', 'bigint', (col) => col.notNull())
      .addColumn('debits_posted', 'bigint', (col) => col.notNull())
      .addColumn('credits_pending', 'bigint', (col) => col.notNull())
      .addColumn('credits_posted', 'bigint', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addCheckConstraint('ledger_accounts_kind', sql`kind in ('asset', 'liability', 'equity', 'income', 'expense')`)
      .addCheckConstraint('ledger_accounts_limit', sql`balance_limit is null or balance_limit in ('debits_must_not_exceed_credits', 'credits_must_not_exceed_debits')`)
      .addCheckConstraint('ledger_accounts_balances', sql`debits_pending >= 0 and debits_posted >= 0 and credits_pending >= 0 and credits_posted >= 0`)
      // TigerBeetle's flags: pending debits count against the limit, pending credits do not.
      .addCheckConstraint(
        'ledger_accounts_within_limit',
        sql`(balance_limit is null or balance_limit <> 'debits_must_not_exceed_credits' or debits_pending + debits_posted <= credits_posted)
        and (balance_limit is null or balance_limit <> 'credits_must_not_exceed_debits' or credits_pending + credits_posted <= debits_posted)`,
      )
      .execute();

    await db.schema
      .createTable('ledger_transfers')
      // The client's idempotency key: a transfer id exists once (primary key).
      .addColumn('id', 'varchar(64)', (col) => col.primaryKey())
      .addColumn('kind', 'varchar(16)', (col) => col.notNull())
      .addColumn('debit_account_id', 'bigint', (col) => col.notNull().references('ledger_accounts.id'))
      .addColumn('credit_account_id', 'bigint', (col) => col.notNull().references('ledger_accounts.id'))
      // One amount, debited once and credited once: debits equal credits for every transfer by construction.
      .addColumn('amount', 'bigint', (col) => col.notNull())
      .addColumn('currency', 'varchar(3)', (col) => col.notNull())
      // The pending transfer a post or void resolves; unique: a pending transfer is resolved once.
      .addColumn('pending_id', 'varchar(64)', (col) => col.unique().references('ledger_transfers.id'))
      .addColumn('timeout_seconds', 'integer')
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addCheckConstraint('ledger_transfers_kind', sql`kind in ('posted', 'pending', 'post_pending', 'void_pending')`)
      .addCheckConstraint('ledger_transfers_amount', sql`amount > 0`)
      .addCheckConstraint('ledger_transfers_accounts', sql`debit_account_id <> credit_account_id`)
      .addCheckConstraint('ledger_transfers_resolves', sql`(kind in ('post_pending', 'void_pending')) = (pending_id is not null)`)
      .addCheckConstraint('ledger_transfers_timeout', sql`timeout_seconds is null or (kind = 'pending' and timeout_seconds > 0)`)
      .execute();
    // Statements and verifyLedger read an account's transfers from either side.
    await db.schema.createIndex('ledger_transfers_debit').on('ledger_transfers').column('debit_account_id').execute();
    await db.schema.createIndex('ledger_transfers_credit').on('ledger_transfers').column('credit_account_id').execute();

    // Transfers never change; whether a pending one is still open does. Expiry releases a hold
    // without a transfer (as in TigerBeetle), so the state lives here, not in a resolving row.
    await db.schema
      .createTable('ledger_pending_status')
      .addColumn('transfer_id', 'varchar(64)', (col) => col.primaryKey().references('ledger_transfers.id'))
      .addColumn('state', 'varchar(16)', (col) => col.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('resolved_at', 'text')
      .addCheckConstraint('ledger_pending_status_state', sql`state in ('pending', 'posted', 'voided', 'expired')`)
      .addCheckConstraint('ledger_pending_status_resolved', sql`(state = 'pending') = (resolved_at is null)`)
      .execute();
    // The expiry sweep: open holds in expiry order.
    await db.schema.createIndex('ledger_pending_status_due').on('ledger_pending_status').columns(['state', 'expires_at']).execute();
  },
};
