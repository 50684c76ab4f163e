/**
 * The ledger's tables (migration.ts) and every statement that reads or changes them; the rules
 * that decide what may change are in ledger.ts. Every change runs in a LedgerTx that locks every
 * account it will touch (lockAccounts) before it reads a balance or a hold's state, inside a
 * write transaction in which those locks serialise the hosts (writeTransaction.ts).
 */
import type { ColumnType, Kysely, Selectable } from 'kysely';
import { PaypadError } from '../../../shared/errors';
import type { Database, Dialect } from '../../db/database';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../../db/schema';
import type { BalanceLimit, Balances } from './balances';
import { runWriteTransaction } from './writeTransaction';

export type AccountKind = 'asset' | 'liability' | 'equity' | 'income' | 'expense';
export const ACCOUNT_KINDS: readonly AccountKind[] = ['asset', 'liability', 'equity', 'income', 'expense'];

/** posted: single-phase. pending: a hold (authorisation). post_pending / void_pending: its settlement or reversal. */
export type TransferKind = 'posted' | 'pending' | 'post_pending' | 'void_pending';
export type PendingState = 'pending' | 'posted' | 'voided' | 'expired';

// Type aliases, not interfaces: Kysely's withTables needs implicit index signatures.
export type LedgerTables = {
  ledger_accounts: {
    id: ColumnType<number, never, never>;
    code: ColumnType<string, string, never>;
    name: ColumnType<string, string, never>;
    kind: ColumnType<AccountKind, AccountKind, never>;
    currency: ColumnType<string, string, never>;
    balance_limit: ColumnType<BalanceLimit | null, BalanceLimit | null, never>;
    debits_pending: number;
    debits_posted: number;
    credits_pending: number;
    credits_posted: number;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    updated_at: IsoTimestamp;
  };
  /** Append-only: no column can be updated (an updateTable on it does not compile). */
  ledger_transfers: {
    id: ColumnType<string, string, never>;
    kind: ColumnType<TransferKind, TransferKind, never>;
    debit_account_id: ColumnType<number, number, never>;
    credit_account_id: ColumnType<number, number, never>;
    amount: ColumnType<number, number, never>;
    currency: ColumnType<string, string, never>;
    pending_id: ColumnType<string | null, string | null, never>;
    timeout_seconds: ColumnType<number | null, number | null, never>;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
  };
  ledger_pending_status: {
    transfer_id: ColumnType<string, string, never>;
    state: PendingState;
    expires_at: ColumnType<IsoTimestamp | null, IsoTimestamp | null, never>;
    resolved_at: IsoTimestamp | null;
  };
};
type AccountRow = Selectable<LedgerTables['ledger_accounts']>;
type TransferRow = Selectable<LedgerTables['ledger_transfers']>;

export interface AccountSpec {
  /** The account's stable name in the books: "payee:13800138000", "provider:unionpay". */
  readonly code: string;
  /** For people: "Zhang San, payee". */
  readonly name: string;
  readonly kind: AccountKind;
  /** ISO 4217 alphabetic code: "CNY". */
  readonly currency: string;
  /** Omitted: the account may go either way. */
  readonly limit?: BalanceLimit;
}

export interface Account extends AccountSpec, Balances {
  readonly id: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface Transfer {
  /** The client's idempotency key. */
  readonly id: string;
  readonly kind: TransferKind;
  /** Account codes. A post or void has its pending transfer's accounts. */
  readonly debitAccount: string;
  readonly creditAccount: string;
  /** Minor units: posted, held, settled, or (void) released. */
  readonly amount: bigint;
  readonly currency: string;
  /** The pending transfer a post or void resolves. */
  readonly pendingId?: string;
  /** A pending transfer's lifetime, when it has one. */
  readonly timeoutSeconds?: number;
  readonly createdAt: Date;
}

/** The part of a transfer that changes: whether a pending transfer is still open. */
export interface PendingStatus {
  readonly state: PendingState;
  readonly expiresAt?: Date;
  readonly resolvedAt?: Date;
}

/** The statements of one ledger transaction; see the module comment for the locking. */
export interface LedgerTx {
  /** Locks the accounts with these codes (ascending id) and returns those that exist, by code. */
  lockAccounts(codes: readonly string[]): Promise<Map<string, Account>>;
  transfer(id: string): Promise<Transfer | undefined>;
  /** False when the id exists (inserted meanwhile by another host: read it with transfer()). */
  insertTransfer(transfer: Transfer, debitAccountId: number, creditAccountId: number): Promise<boolean>;
  saveBalances(account: Account, balances: Balances, at: Date): Promise<Account>;
  pendingStatus(transferId: string): Promise<PendingStatus | undefined>;
  openPending(transferId: string, expiresAt: Date | undefined): Promise<void>;
  /** Closes an open pending transfer; false when it was not open. */
  resolvePending(transferId: string, state: Exclude<PendingState, 'pending'>, at: Date): Promise<boolean>;
}

export interface LedgerStore {
  readonly dialect: Dialect;
  readonly db: Kysely<Schema>;
  /** Runs `work` in one transaction that commits whole or not at all; see the module comment. */
  inTransaction<T>(work: (tx: LedgerTx) => Promise<T>): Promise<T>;
  /** Inserts the account unless its code exists; returns the account the code names either way. */
  insertAccount(spec: AccountSpec, at: Date): Promise<Account>;
  account(code: string): Promise<Account | undefined>;
  transfer(id: string): Promise<Transfer | undefined>;
  pendingStatus(transferId: string): Promise<PendingStatus | undefined>;
  /** Ids of open pending transfers whose expiry is at or before `now`, soonest first. */
  expiredPending(now: Date, limit: number): Promise<string[]>;
}

export function createLedgerStore(database: Database): LedgerStore {
  const { dialect } = database;
  const base = database.db;

  const statements = (schemaDb: Kysely<Schema>) => {
    const db = schemaDb.withTables<LedgerTables>();
    const accountsByIds = async (ids: readonly number[]) => {
      const rows = await db.selectFrom('ledger_accounts').select(['id', 'code']).where('id', 'in', [...ids]).execute();
      return new Map(rows.map((r) => [r.id, r.code]));
    };
    const transfer = async (id: string): Promise<Transfer | undefined> => {
      const row = await db.selectFrom('ledger_transfers').selectAll().where('id', '=', id).executeTakeFirst();
      if (row === undefined) return undefined;
      const codes = await accountsByIds([row.debit_account_id, row.credit_account_id]);
      return transferFromRow(row, codes);
    };
    const pendingStatus = async (transferId: string): Promise<PendingStatus | undefined> => {
      const row = await db.selectFrom('ledger_pending_status').selectAll().where('transfer_id', '=', transferId).executeTakeFirst();
      return (
        row && {
          state: row.state,
          ...(row.expires_at === null ? {} : { expiresAt: new Date(row.expires_at) }),
          ...(row.resolved_at === null ? {} : { resolvedAt: new Date(row.resolved_at) }),
        }
      );
    };
    return { db, transfer, pendingStatus };
  };

  const tx = (trx: Kysely<Schema>): LedgerTx => {
    const { db, transfer, pendingStatus } = statements(trx);
    return {
      async lockAccounts(codes) {
        if (codes.length === 0) return new Map();
        let query = db.selectFrom('ledger_accounts').selectAll().where('code', 'in', [...new Set(codes)]).orderBy('id');
        // FOR UPDATE locks rows in the order the sort returns them: ascending id for everyone.
        if (dialect === 'postgres') query = query.forUpdate();
        const rows = await query.execute();
        return new Map(rows.map((r) => [r.code, accountFromRow(r)]));
      },
      transfer,
      async insertTransfer(t, debitAccountId, creditAccountId) {
        const result = await db
          .insertInto('ledger_transfers')
          .values({
            id: t.id,
            kind: t.kind,
            debit_account_id: debitAccountId,
            credit_account_id: creditAccountId,
            amount: Number(t.amount),
            currency: t.currency,
            pending_id: t.pendingId ?? null,
            timeout_seconds: t.timeoutSeconds ?? null,
            created_at: isoTimestamp(t.createdAt),
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .executeTakeFirst();
        return result.numInsertedOrUpdatedRows === 1n;
      },
      async saveBalances(account, b, at) {
        const updatedAt = isoTimestamp(at);
        const result = await db
          .updateTable('ledger_accounts')
          .set({ debits_pending: Number(b.debitsPending), debits_posted: Number(b.debitsPosted), credits_pending: Number(b.creditsPending), credits_posted: Number(b.creditsPosted), updated_at: updatedAt })
          .where('id', '=', account.id)
          .executeTakeFirst();
        if (result.numUpdatedRows !== 1n) throw new PaypadError('INTERNAL', `ledger account ${account.code} vanished while locked`);
        return { ...account, ...b, updatedAt: new Date(updatedAt) };
      },
      pendingStatus,
      async openPending(transferId, expiresAt) {
        await db
          .insertInto('ledger_pending_status')
          .values({ transfer_id: transferId, state: 'pending', expires_at: expiresAt === undefined ? null : isoTimestamp(expiresAt), resolved_at: null })
          .execute();
      },
      async resolvePending(transferId, state, at) {
        const result = await db
          .updateTable('ledger_pending_status')
          .set({ state, resolved_at: isoTimestamp(at) })
          .where('transfer_id', '=', transferId)
          .where('state', '=', 'pending')
          .executeTakeFirst();
        return result.numUpdatedRows === 1n;
      },
    };
  };

  const reads = statements(base);

  return {
    dialect,
    db: base,
    inTransaction: (work) => runWriteTransaction(database, (trx) => work(tx(trx))),
    async insertAccount(spec, at) {
      const now = isoTimestamp(at);
      await reads.db
        .insertInto('ledger_accounts')
        .values({
          code: spec.code,
          name: spec.name,
          kind: spec.kind,
          currency: spec.currency,
          balance_limit: spec.limit ?? null,
          debits_pending: 0,
          debits_posted: 0,
          credits_pending: 0,
          credits_posted: 0,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column('code').doNothing())
        .execute();
      return accountFromRow(await reads.db.selectFrom('ledger_accounts').selectAll().where('code', '=', spec.code).executeTakeFirstOrThrow());
    },
    async account(code) {
      const row = await reads.db.selectFrom('ledger_accounts').selectAll().where('code', '=', code).executeTakeFirst();
      return row && accountFromRow(row);
    },
    transfer: reads.transfer,
    pendingStatus: reads.pendingStatus,
    async expiredPending(now, limit) {
      const rows = await reads.db
        .selectFrom('ledger_pending_status')
        .select('transfer_id')
        .where('state', '=', 'pending')
        .where('expires_at', '<=', isoTimestamp(now))
        .orderBy('expires_at')
        .orderBy('transfer_id')
        .limit(limit)
        .execute();
      return rows.map((r) => r.transfer_id);
    },
  };
}

function accountFromRow(row: AccountRow): Account {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    kind: row.kind,
    currency: row.currency,
    ...(row.balance_limit === null ? {} : { limit: row.balance_limit }),
    debitsPending: BigInt(row.debits_pending),
    debitsPosted: BigInt(row.debits_posted),
    creditsPending: BigInt(row.credits_pending),
    creditsPosted: BigInt(row.credits_posted),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function transferFromRow(row: TransferRow, codes: ReadonlyMap<number, string>): Transfer {
  const code = (id: number) => {
    const found = codes.get(id);
    if (found === undefined) throw new PaypadError('INTERNAL', `ledger transfer ${row.id} refers to account ${id}, which does not exist`);
    return found;
  };
  return {
    id: row.id,
    kind: row.kind,
    debitAccount: code(row.debit_account_id),
    creditAccount: code(row.credit_account_id),
    amount: BigInt(row.amount),
    currency: row.currency,
    ...(row.pending_id === null ? {} : { pendingId: row.pending_id }),
    ...(row.timeout_seconds === null ? {} : { timeoutSeconds: row.timeout_seconds }),
    createdAt: new Date(row.created_at),
  };
}
