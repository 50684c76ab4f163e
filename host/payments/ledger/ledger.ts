/**
 * The host's double-entry ledger (docs/ledger.md; SPEC C8 the payer's card is debited, C9 the
 * payee credited after reconciliation): accounts, and transfers between two accounts of one
 * currency, single-phase or two-phase (authorisation hold, then settlement or reversal).
 *
 * Invariants kept here (TigerBeetle's; each is also a CHECK constraint or key in migration.ts,
 * and verifyLedger.ts proves them on the stored books):
 * - Debits equal credits: a transfer moves one amount, by one Movement applied to the debit side
 *   of one account and the credit side of the other (balances.ts), asserted below for every
 *   transfer; so the sum of all debits equals the sum of all credits per currency at all times.
 * - A transfer id exists once. The same id with the same content returns the stored transfer;
 *   with other content it is LEDGER_TRANSFER_EXISTS_DIFFERENT. Transfers are never changed.
 * - An account's balances are the sum of its transfers: they change only in the transaction
 *   that inserts the transfer (or, for an expiry, closes the hold) that moves them.
 * - A pending transfer is resolved once: posted (for at most its amount), voided, or expired.
 * - An account flagged with a limit never breaks it (LEDGER_INSUFFICIENT_FUNDS); both accounts
 *   of a transfer have its currency (LEDGER_CURRENCY_MISMATCH).
 * - Any refusal throws before the transaction commits: a refused transfer, or a linked batch
 *   with one refused transfer, changes nothing.
 */
import { PaypadError } from '../../../shared/errors';
import type { Database } from '../../db/database';
import { type Balances, limitBreach, type Movement, move, pendingMovement, postedMovement, postPendingMovement, releaseMovement } from './balances';
import { type Account, type AccountSpec, createLedgerStore, type LedgerTx, type PendingStatus, type Transfer } from './ledgerStore';
import { checkAccountSpec, checkTransferRequests, type TransferRequest } from './transferRequests';
import { type LedgerReport, verifyLedger } from './verifyLedger';

export type { Account, AccountSpec, PendingStatus, Transfer } from './ledgerStore';
export type { TransferRequest } from './transferRequests';
export type { LedgerReport } from './verifyLedger';

export interface Ledger {
  /**
   * Opens the account, or returns it when its code is open with the same attributes.
   * @throws PaypadError BAD_ARGUMENT, LEDGER_ACCOUNT_EXISTS_DIFFERENT.
   */
  openAccount(spec: AccountSpec): Promise<Account>;
  account(code: string): Promise<Account | undefined>;
  /**
   * Applies one transfer, or returns the stored one when its id was applied with the same content.
   * @throws PaypadError BAD_ARGUMENT (malformed), LEDGER_TRANSFER_EXISTS_DIFFERENT, LEDGER_ACCOUNT_UNKNOWN,
   * LEDGER_CURRENCY_MISMATCH, LEDGER_INSUFFICIENT_FUNDS, LEDGER_OVERFLOW, LEDGER_TRANSFER_UNKNOWN,
   * LEDGER_NOT_PENDING, LEDGER_PENDING_RESOLVED, LEDGER_PENDING_EXPIRED, LEDGER_AMOUNT_EXCEEDS_PENDING;
   * DB_UNAVAILABLE when the database keeps refusing the transaction.
   */
  createTransfer(request: TransferRequest): Promise<Transfer>;
  /**
   * Linked transfers: all applied in one transaction, in order, or none. A later transfer may
   * post or void a hold made earlier in the batch. A batch sent again returns what was stored;
   * a batch whose ids are only partly stored is refused (LEDGER_TRANSFER_EXISTS_DIFFERENT).
   * @throws as createTransfer, the message naming the transfer refused.
   */
  createLinkedTransfers(requests: readonly TransferRequest[]): Promise<Transfer[]>;
  transfer(id: string): Promise<Transfer | undefined>;
  /** Whether a pending transfer is still open; undefined for any other id. */
  pendingStatus(id: string): Promise<PendingStatus | undefined>;
  /** Releases holds whose timeout has passed, at most `limit`, and returns their ids. */
  expirePendingTransfers(limit?: number): Promise<string[]>;
  /** Recomputes every balance from the transfers and checks every invariant; see verifyLedger.ts. */
  verify(): Promise<LedgerReport>;
}

export function createLedger(database: Database, clock: () => Date = () => new Date()): Ledger {
  const store = createLedgerStore(database);

  const applyBatch = async (requests: readonly TransferRequest[]): Promise<Transfer[]> => {
    checkTransferRequests(requests);
    return store.inTransaction(async (tx) => {
      const now = clock();
      const accounts = await tx.lockAccounts(await accountsTouched(tx, requests));
      const results: Transfer[] = [];
      let replayed = 0;
      for (const [index, request] of requests.entries()) {
        try {
          const outcome = await applyTransfer(tx, accounts, request, now);
          if (outcome.replayed) replayed++;
          results.push(outcome.transfer);
        } catch (e) {
          if (requests.length === 1 || !(e instanceof PaypadError)) throw e;
          throw Object.assign(new PaypadError(e.code, `linked transfer ${request.id} (${index + 1} of ${requests.length}): ${e.message}`), { cause: e });
        }
      }
      if (replayed !== 0 && replayed !== requests.length) {
        throw new PaypadError('LEDGER_TRANSFER_EXISTS_DIFFERENT', `${replayed} of these ${requests.length} linked transfers were stored before, the others not: ids belong to one batch`);
      }
      return results;
    });
  };

  return {
    async openAccount(spec) {
      const wanted = checkAccountSpec(spec);
      const account = await store.insertAccount(wanted, clock());
      if (account.name !== wanted.name || account.kind !== wanted.kind || account.currency !== wanted.currency || account.limit !== wanted.limit) {
        throw new PaypadError('LEDGER_ACCOUNT_EXISTS_DIFFERENT', `account ${wanted.code} is open with another name, kind, currency or limit`);
      }
      return account;
    },
    account: (code) => store.account(code),
    async createTransfer(request) {
      const [transfer] = await applyBatch([request]);
      return transfer!;
    },
    createLinkedTransfers: applyBatch,
    transfer: (id) => store.transfer(id),
    pendingStatus: (id) => store.pendingStatus(id),

    async expirePendingTransfers(limit = 100) {
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new PaypadError('BAD_ARGUMENT', 'limit must be an integer from 1 to 10000');
      const now = clock();
      const expired: string[] = [];
      // One transaction per hold: a hold posted or voided meanwhile by another host is skipped.
      for (const id of await store.expiredPending(now, limit)) {
        const done = await store.inTransaction(async (tx) => {
          const pending = await tx.transfer(id);
          if (pending === undefined) throw new PaypadError('LEDGER_INVARIANT_BROKEN', `pending status without transfer ${id}`);
          const accounts = await tx.lockAccounts([pending.debitAccount, pending.creditAccount]);
          if ((await tx.pendingStatus(id))?.state !== 'pending') return false;
          await moveBalances(tx, accounts, pending, releaseMovement(pending.amount), now);
          await closeHold(tx, id, 'expired', now);
          return true;
        });
        if (done) expired.push(id);
      }
      return expired;
    },

    verify: () => verifyLedger(store),
  };
}

/** Every account the batch may touch, known before any lock is taken (transfers never change). */
async function accountsTouched(tx: LedgerTx, requests: readonly TransferRequest[]): Promise<string[]> {
  const codes: string[] = [];
  for (const r of requests) {
    if (r.kind === 'posted' || r.kind === 'pending') {
      codes.push(r.debitAccount, r.creditAccount);
      continue;
    }
    const stored = await tx.transfer(r.pendingId);
    const earlier = requests.find((e) => e.id === r.pendingId);
    const held = stored ?? (earlier && (earlier.kind === 'posted' || earlier.kind === 'pending') ? earlier : undefined);
    // An unknown pending id is refused when the request is applied.
    if (held !== undefined) codes.push(held.debitAccount, held.creditAccount);
  }
  return codes;
}

async function applyTransfer(tx: LedgerTx, accounts: Map<string, Account>, request: TransferRequest, now: Date): Promise<{ transfer: Transfer; replayed: boolean }> {
  const stored = await tx.transfer(request.id);
  if (stored !== undefined) return { transfer: await sameTransfer(tx, stored, request), replayed: true };

  const { transfer, movement, hold } = await planTransfer(tx, accounts, request, now);
  if (!(await tx.insertTransfer(transfer, lockedAccount(accounts, transfer.debitAccount).id, lockedAccount(accounts, transfer.creditAccount).id))) {
    // Another host inserted this id after our read; its transaction has committed (the insert waited for it).
    const raced = await tx.transfer(request.id);
    if (raced === undefined) throw new PaypadError('INTERNAL', `transfer ${request.id} was neither inserted nor found`);
    return { transfer: await sameTransfer(tx, raced, request), replayed: true };
  }
  await moveBalances(tx, accounts, transfer, movement, now);
  if (transfer.kind === 'pending') {
    await tx.openPending(transfer.id, transfer.timeoutSeconds === undefined ? undefined : new Date(now.getTime() + transfer.timeoutSeconds * 1000));
  } else if (hold !== undefined) {
    await closeHold(tx, hold, transfer.kind === 'post_pending' ? 'posted' : 'voided', now);
  }
  return { transfer, replayed: false };
}

/** The transfer a new request makes, what it moves, and the hold it resolves; refuses what the books forbid. */
async function planTransfer(tx: LedgerTx, accounts: Map<string, Account>, r: TransferRequest, now: Date): Promise<{ transfer: Transfer; movement: Movement; hold?: string }> {
  if (r.kind === 'posted' || r.kind === 'pending') {
    const debit = knownAccount(accounts, r.debitAccount);
    const credit = knownAccount(accounts, r.creditAccount);
    if (debit.currency !== credit.currency) {
      throw new PaypadError('LEDGER_CURRENCY_MISMATCH', `transfer ${r.id}: account ${debit.code} is in ${debit.currency}, account ${credit.code} in ${credit.currency}`);
    }
    const transfer: Transfer = {
      id: r.id,
      kind: r.kind,
      debitAccount: debit.code,
      creditAccount: credit.code,
      amount: r.amount,
      currency: debit.currency,
      ...(r.kind === 'pending' && r.timeoutSeconds !== undefined ? { timeoutSeconds: r.timeoutSeconds } : {}),
      createdAt: now,
    };
    return { transfer, movement: r.kind === 'posted' ? postedMovement(r.amount) : pendingMovement(r.amount) };
  }

  const pending = await tx.transfer(r.pendingId);
  if (pending === undefined) throw new PaypadError('LEDGER_TRANSFER_UNKNOWN', `transfer ${r.id}: there is no transfer ${r.pendingId} to resolve`);
  if (pending.kind !== 'pending') throw new PaypadError('LEDGER_NOT_PENDING', `transfer ${r.id}: transfer ${r.pendingId} is ${pending.kind}, not pending; only a hold can be posted or voided`);
  const status = await tx.pendingStatus(pending.id);
  if (status === undefined) throw new PaypadError('LEDGER_INVARIANT_BROKEN', `pending transfer ${pending.id} has no status`);
  if (status.state !== 'pending') throw new PaypadError('LEDGER_PENDING_RESOLVED', `transfer ${r.id}: hold ${pending.id} is already ${status.state}`);
  if (status.expiresAt !== undefined && status.expiresAt.getTime() <= now.getTime()) {
    throw new PaypadError('LEDGER_PENDING_EXPIRED', `transfer ${r.id}: hold ${pending.id} expired at ${status.expiresAt.toISOString()}`);
  }
  const amount = r.kind === 'post_pending' ? (r.amount ?? pending.amount) : pending.amount;
  if (amount > pending.amount) throw new PaypadError('LEDGER_AMOUNT_EXCEEDS_PENDING', `transfer ${r.id}: cannot post ${amount}, hold ${pending.id} is ${pending.amount}`);
  const transfer: Transfer = {
    id: r.id,
    kind: r.kind,
    debitAccount: pending.debitAccount,
    creditAccount: pending.creditAccount,
    amount,
    currency: pending.currency,
    pendingId: pending.id,
    createdAt: now,
  };
  return { transfer, movement: r.kind === 'post_pending' ? postPendingMovement(pending.amount, amount) : releaseMovement(pending.amount), hold: pending.id };
}

/** Applies `movement` to both accounts of `transfer`, refusing a limit breach; the only writer of balances. */
async function moveBalances(tx: LedgerTx, accounts: Map<string, Account>, transfer: Transfer, movement: Movement, now: Date): Promise<void> {
  const debit = lockedAccount(accounts, transfer.debitAccount);
  const credit = lockedAccount(accounts, transfer.creditAccount);
  const debited = move(debit, 'debit', movement);
  const credited = move(credit, 'credit', movement);
  // Debits equal credits: what the debit side gained, pending and posted, the credit side gained.
  assertInvariant(
    debited.debitsPending - debit.debitsPending === credited.creditsPending - credit.creditsPending && debited.debitsPosted - debit.debitsPosted === credited.creditsPosted - credit.creditsPosted,
    `transfer ${transfer.id} would debit and credit different amounts`,
  );
  assertInvariant(debit.currency === transfer.currency && credit.currency === transfer.currency, `transfer ${transfer.id} is in ${transfer.currency} but its accounts are not`);
  refuseBreach(transfer, debit, debited);
  refuseBreach(transfer, credit, credited);
  accounts.set(debit.code, await tx.saveBalances(debit, debited, now));
  accounts.set(credit.code, await tx.saveBalances(credit, credited, now));
}

function refuseBreach(transfer: Transfer, account: Account, after: Balances): void {
  const breach = limitBreach(after, account.limit);
  if (breach !== undefined) throw new PaypadError('LEDGER_INSUFFICIENT_FUNDS', `transfer ${transfer.id} refused: on account ${account.code} ${breach}`);
}

async function closeHold(tx: LedgerTx, holdId: string, state: 'posted' | 'voided' | 'expired', now: Date): Promise<void> {
  // Its accounts are locked and its state was read as pending under those locks.
  assertInvariant(await tx.resolvePending(holdId, state, now), `hold ${holdId} was resolved by someone not holding its accounts' locks`);
}

/**
 * A stored transfer against the request that names its id: the stored one when the request asks
 * for exactly it (a retry), otherwise LEDGER_TRANSFER_EXISTS_DIFFERENT.
 */
async function sameTransfer(tx: LedgerTx, stored: Transfer, r: TransferRequest): Promise<Transfer> {
  let same: boolean;
  if (r.kind === 'posted' || r.kind === 'pending') {
    const timeout = r.kind === 'pending' ? r.timeoutSeconds : undefined;
    same = stored.kind === r.kind && stored.debitAccount === r.debitAccount && stored.creditAccount === r.creditAccount && stored.amount === r.amount && stored.timeoutSeconds === timeout;
  } else {
    same = stored.kind === r.kind && stored.pendingId === r.pendingId;
    if (same && r.kind === 'post_pending') {
      // "Post all of it" asked again matches a post of the whole hold.
      const held = r.amount ?? (await tx.transfer(r.pendingId))?.amount;
      same = stored.amount === held;
    }
  }
  if (!same) throw new PaypadError('LEDGER_TRANSFER_EXISTS_DIFFERENT', `transfer ${r.id} exists with other content; a new transfer needs a new id`);
  return stored;
}

function knownAccount(accounts: ReadonlyMap<string, Account>, code: string): Account {
  const account = accounts.get(code);
  if (account === undefined) throw new PaypadError('LEDGER_ACCOUNT_UNKNOWN', `there is no ledger account ${code}`);
  return account;
}

function lockedAccount(accounts: ReadonlyMap<string, Account>, code: string): Account {
  const account = accounts.get(code);
  assertInvariant(account !== undefined, `account ${code} is used by a transfer but was not locked`);
  return account;
}

/** TigerBeetle's habit: a broken invariant stops the transaction instead of writing wrong books. */
function assertInvariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new PaypadError('LEDGER_INVARIANT_BROKEN', message);
}
