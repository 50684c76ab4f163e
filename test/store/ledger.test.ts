/**
 * The ledger (host/payments/ledger; docs/ledger.md) on every dialect: C8 the payer's card is
 * debited through an authorisation hold that is settled (possibly for less) or reversed, C9 the
 * payee is credited and paid out after reconciliation, and verifyLedger proves the books: every
 * balance is the sum of its transfers and debits equal credits per currency.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createLedger, type Ledger, type TransferRequest } from '../../host/payments/ledger/ledger';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';
import { openPaymentAccounts, unchangedBooks } from './helpers/ledgerBooks';

function manualClock(start = Date.UTC(2026, 11, 6, 9, 0, 0)) {
  let now = start;
  return { clock: () => new Date(now), advance: (seconds: number) => (now += seconds * 1000) };
}

describe.each(DIALECTS)('ledger on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  const time = manualClock();
  let ledger: Ledger;
  const books = () => (ledger ??= createLedger(database(), time.clock));

  it('C8 an authorisation holds the amount as pending on both accounts; settlement posts it', async () => {
    const a = await openPaymentAccounts(books(), 'auth');
    const hold = await books().createTransfer({ kind: 'pending', id: 'auth-1', debitAccount: a.provider, creditAccount: a.payee, amount: 12_345n, timeoutSeconds: 600 });
    expect(hold).toMatchObject({ kind: 'pending', amount: 12_345n, currency: 'CNY', timeoutSeconds: 600 });
    expect(await books().pendingStatus('auth-1')).toMatchObject({ state: 'pending', expiresAt: new Date(time.clock().getTime() + 600_000) });
    expect(await books().account(a.provider)).toMatchObject({ debitsPending: 12_345n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n });
    expect(await books().account(a.payee)).toMatchObject({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 12_345n, creditsPosted: 0n });

    const settled = await books().createTransfer({ kind: 'post_pending', id: 'settle-1', pendingId: 'auth-1' });
    expect(settled).toMatchObject({ kind: 'post_pending', pendingId: 'auth-1', amount: 12_345n, debitAccount: a.provider, creditAccount: a.payee });
    expect(await books().pendingStatus('auth-1')).toMatchObject({ state: 'posted', resolvedAt: time.clock() });
    expect(await books().account(a.provider)).toMatchObject({ debitsPending: 0n, debitsPosted: 12_345n });
    expect(await books().account(a.payee)).toMatchObject({ creditsPending: 0n, creditsPosted: 12_345n });
    expect(await books().verify()).toMatchObject({ ok: true, problems: [] });
  });

  it('C8 settlement for less than the hold posts that amount and releases the rest', async () => {
    const a = await openPaymentAccounts(books(), 'partial');
    await books().createTransfer({ kind: 'pending', id: 'partial-auth', debitAccount: a.provider, creditAccount: a.payee, amount: 10_000n });
    await books().createTransfer({ kind: 'post_pending', id: 'partial-settle', pendingId: 'partial-auth', amount: 9_000n });
    expect(await books().account(a.provider)).toMatchObject({ debitsPending: 0n, debitsPosted: 9_000n });
    expect(await books().account(a.payee)).toMatchObject({ creditsPending: 0n, creditsPosted: 9_000n });
    expect((await books().verify()).problems).toEqual([]);
  });

  it('C8 a reversal (void) releases the whole hold and posts nothing', async () => {
    const a = await openPaymentAccounts(books(), 'reversal');
    await books().createTransfer({ kind: 'pending', id: 'rev-auth', debitAccount: a.provider, creditAccount: a.payee, amount: 500n });
    const voided = await books().createTransfer({ kind: 'void_pending', id: 'rev-void', pendingId: 'rev-auth' });
    expect(voided).toMatchObject({ kind: 'void_pending', amount: 500n, pendingId: 'rev-auth' });
    expect(await books().pendingStatus('rev-auth')).toMatchObject({ state: 'voided' });
    for (const code of [a.provider, a.payee]) expect(await books().account(code)).toMatchObject({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n });
  });

  it('C8 a hold past its timeout cannot be settled, and the expiry sweep releases it once', async () => {
    const a = await openPaymentAccounts(books(), 'expiry');
    await books().createTransfer({ kind: 'pending', id: 'exp-auth', debitAccount: a.provider, creditAccount: a.payee, amount: 700n, timeoutSeconds: 60 });
    await books().createTransfer({ kind: 'pending', id: 'exp-open', debitAccount: a.provider, creditAccount: a.payee, amount: 1n, timeoutSeconds: 3_600 });
    time.advance(60);
    await unchangedBooks(books(), [a.provider, a.payee], () => books().createTransfer({ kind: 'post_pending', id: 'exp-settle', pendingId: 'exp-auth' }), 'LEDGER_PENDING_EXPIRED');
    expect(await books().expirePendingTransfers()).toEqual(['exp-auth']);
    expect(await books().expirePendingTransfers()).toEqual([]);
    expect(await books().pendingStatus('exp-auth')).toMatchObject({ state: 'expired' });
    expect(await books().pendingStatus('exp-open')).toMatchObject({ state: 'pending' });
    expect(await books().account(a.provider)).toMatchObject({ debitsPending: 1n, debitsPosted: 0n });
    await unchangedBooks(books(), [a.provider, a.payee], () => books().createTransfer({ kind: 'void_pending', id: 'exp-void', pendingId: 'exp-auth' }), 'LEDGER_PENDING_RESOLVED');
    expect((await books().verify()).problems).toEqual([]);
  });

  it('C9 the payee is paid out what was credited to them, never more (LEDGER_INSUFFICIENT_FUNDS, nothing changed)', async () => {
    const a = await openPaymentAccounts(books(), 'payout');
    await books().createTransfer({ kind: 'posted', id: 'payout-in', debitAccount: a.provider, creditAccount: a.payee, amount: 1_000n });
    // A hold on the payee's money counts against it at once; an incoming hold is not yet money.
    await books().createTransfer({ kind: 'pending', id: 'payout-hold', debitAccount: a.payee, creditAccount: a.bank, amount: 600n });
    await books().createTransfer({ kind: 'pending', id: 'payout-incoming', debitAccount: a.provider, creditAccount: a.payee, amount: 5_000n });
    await unchangedBooks(books(), [a.payee, a.bank], () => books().createTransfer({ kind: 'posted', id: 'payout-over', debitAccount: a.payee, creditAccount: a.bank, amount: 401n }), 'LEDGER_INSUFFICIENT_FUNDS');
    await books().createTransfer({ kind: 'posted', id: 'payout-rest', debitAccount: a.payee, creditAccount: a.bank, amount: 400n });
    await books().createTransfer({ kind: 'post_pending', id: 'payout-hold-post', pendingId: 'payout-hold' });
    expect(await books().account(a.payee)).toMatchObject({ debitsPending: 0n, debitsPosted: 1_000n, creditsPending: 5_000n, creditsPosted: 1_000n });
    expect((await books().verify()).problems).toEqual([]);
  });

  it('C9 an account limited the other way (credits must not exceed debits) refuses a credit beyond its debits', async () => {
    const a = await openPaymentAccounts(books(), 'mirror');
    const capped = await books().openAccount({ code: 'mirror:capped', name: 'Capped', kind: 'asset', currency: 'CNY', limit: 'credits_must_not_exceed_debits' });
    await books().createTransfer({ kind: 'posted', id: 'mirror-fund', debitAccount: capped.code, creditAccount: a.payee, amount: 50n });
    await unchangedBooks(books(), [capped.code, a.bank], () => books().createTransfer({ kind: 'pending', id: 'mirror-over', debitAccount: a.bank, creditAccount: capped.code, amount: 51n }), 'LEDGER_INSUFFICIENT_FUNDS');
    await books().createTransfer({ kind: 'posted', id: 'mirror-ok', debitAccount: a.bank, creditAccount: capped.code, amount: 50n });
  });

  it('C9 reconciliation: debits equal credits per currency, and each balance is the sum of its transfers', async () => {
    const a = await openPaymentAccounts(books(), 'recon');
    const usd = await books().openAccount({ code: 'recon:usd-a', name: 'USD A', kind: 'asset', currency: 'USD' });
    const usdB = await books().openAccount({ code: 'recon:usd-b', name: 'USD B', kind: 'liability', currency: 'USD' });
    await books().createTransfer({ kind: 'posted', id: 'recon-usd', debitAccount: usd.code, creditAccount: usdB.code, amount: 250n });
    await books().createTransfer({ kind: 'pending', id: 'recon-cny', debitAccount: a.provider, creditAccount: a.payee, amount: 75n });
    const report = await books().verify();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    for (const t of report.totals) {
      expect(t.debitsPosted).toBe(t.creditsPosted);
      expect(t.debitsPending).toBe(t.creditsPending);
    }
    expect(report.totals.map((t) => t.currency)).toEqual(['CNY', 'USD']);
    expect(report.totals.find((t) => t.currency === 'USD')).toMatchObject({ debitsPosted: 250n, creditsPosted: 250n });
  });

  it('C8 a retried transfer (same id, same content) returns the stored one and moves nothing again; other content is refused', async () => {
    const a = await openPaymentAccounts(books(), 'retry');
    const request: TransferRequest = { kind: 'pending', id: 'retry-auth', debitAccount: a.provider, creditAccount: a.payee, amount: 300n, timeoutSeconds: 120 };
    const first = await books().createTransfer(request);
    time.advance(1);
    expect(await books().createTransfer({ ...request })).toEqual(first);
    const post: TransferRequest = { kind: 'post_pending', id: 'retry-post', pendingId: 'retry-auth' };
    const posted = await books().createTransfer(post);
    // A retry of the settlement returns it, though the hold is resolved now; "all of it" equals the explicit amount.
    expect(await books().createTransfer(post)).toEqual(posted);
    expect(await books().createTransfer({ ...post, amount: 300n })).toEqual(posted);
    expect(await books().account(a.payee)).toMatchObject({ creditsPending: 0n, creditsPosted: 300n });

    const different: TransferRequest[] = [
      { ...request, amount: 301n },
      { ...request, timeoutSeconds: 121 },
      { ...request, kind: 'posted', timeoutSeconds: undefined } as TransferRequest,
      { ...request, creditAccount: a.bank },
      { ...post, amount: 299n },
      { kind: 'void_pending', id: 'retry-post', pendingId: 'retry-auth' },
    ];
    for (const changed of different) {
      await unchangedBooks(books(), [a.provider, a.payee, a.bank], () => books().createTransfer(changed), 'LEDGER_TRANSFER_EXISTS_DIFFERENT');
    }
  });

  it('C9 linked transfers apply all or nothing, and a hold made in the batch can be settled in it', async () => {
    const a = await openPaymentAccounts(books(), 'linked');
    const batch: TransferRequest[] = [
      { kind: 'pending', id: 'linked-auth', debitAccount: a.provider, creditAccount: a.payee, amount: 800n },
      { kind: 'post_pending', id: 'linked-settle', pendingId: 'linked-auth', amount: 600n },
      { kind: 'posted', id: 'linked-payout', debitAccount: a.payee, creditAccount: a.bank, amount: 600n },
    ];
    // The last one overdraws the payee: the whole batch is refused, the error names it.
    const over = batch.map((r) => (r.id === 'linked-payout' ? { ...r, amount: 601n } : r));
    const error = await unchangedBooks(books(), [a.provider, a.payee, a.bank], () => books().createLinkedTransfers(over), 'LEDGER_INSUFFICIENT_FUNDS');
    expect(error.message).toContain('linked transfer linked-payout (3 of 3)');
    expect(await books().transfer('linked-auth')).toBeUndefined();

    const applied = await books().createLinkedTransfers(batch);
    expect(applied.map((t) => t.id)).toEqual(['linked-auth', 'linked-settle', 'linked-payout']);
    expect(await books().createLinkedTransfers(batch)).toEqual(applied);
    expect(await books().account(a.payee)).toMatchObject({ debitsPosted: 600n, creditsPosted: 600n, creditsPending: 0n });
    // Partly stored: one id from the batch above with a new one.
    await unchangedBooks(
      books(),
      [a.provider, a.payee],
      () => books().createLinkedTransfers([batch[0]!, { kind: 'posted', id: 'linked-new', debitAccount: a.provider, creditAccount: a.payee, amount: 1n }]),
      'LEDGER_TRANSFER_EXISTS_DIFFERENT',
    );
    expect((await books().verify()).problems).toEqual([]);
  });

  it('C9 opening an account twice with the same attributes returns it; other attributes are refused', async () => {
    const spec = { code: 'payee:13800138000', name: 'Li Si', kind: 'liability', currency: 'CNY', limit: 'debits_must_not_exceed_credits' } as const;
    const first = await books().openAccount(spec);
    expect(first).toMatchObject({ ...spec, debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n });
    expect(await books().openAccount({ ...spec })).toEqual(first);
    for (const changed of [{ name: 'Wang Wu' }, { kind: 'asset' as const }, { currency: 'USD' }, { limit: undefined }]) {
      await expect(books().openAccount({ ...spec, ...changed })).rejects.toMatchObject({ code: 'LEDGER_ACCOUNT_EXISTS_DIFFERENT' });
    }
  });
});

describe.each(DIALECTS)('ledger verification on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('C9 verifyLedger reports a balance that no longer matches its transfers, and a hold whose status was altered', async () => {
    const ledger = createLedger(database());
    const a = await openPaymentAccounts(ledger, 'tamper');
    await ledger.createTransfer({ kind: 'posted', id: 'tamper-1', debitAccount: a.provider, creditAccount: a.payee, amount: 100n });
    await ledger.createTransfer({ kind: 'pending', id: 'tamper-2', debitAccount: a.provider, creditAccount: a.payee, amount: 5n });
    expect((await ledger.verify()).ok).toBe(true);
    // Someone edits the books by hand, bypassing the ledger.
    await sql`update ledger_accounts set credits_posted = credits_posted + 1 where code = ${a.payee}`.execute(database().db);
    await sql`update ledger_pending_status set state = 'voided', resolved_at = '2026-12-06T09:00:00.000Z' where transfer_id = 'tamper-2'`.execute(database().db);
    const report = await ledger.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        `account ${a.payee}: creditsPosted is 101 but its transfers add up to 100`,
        'CNY: posted debits 100 differ from posted credits 101',
        `account ${a.payee}: creditsPending is 5 but its transfers add up to 0`,
        "transfer tamper-2: hold's status disagrees with the transfers that resolve it",
      ]),
    );
  });

  it('C9 the database refuses an overdraft or an unbalanced transfer written around the ledger', async () => {
    const ledger = createLedger(database());
    const a = await openPaymentAccounts(ledger, 'check');
    await expect(sql`update ledger_accounts set debits_posted = 1 where code = ${a.payee}`.execute(database().db)).rejects.toThrow(/ledger_accounts_within_limit|CHECK/i);
    const provider = await ledger.account(a.provider);
    await expect(
      sql`insert into ledger_transfers (id, kind, debit_account_id, credit_account_id, amount, currency, created_at)
          values ('check-self', 'posted', ${provider!.id}, ${provider!.id}, 1, 'CNY', '2026-12-06T09:00:00.000Z')`.execute(database().db),
    ).rejects.toThrow(/ledger_transfers_accounts|CHECK/i);
    expect(await ledger.account(a.payee)).toMatchObject({ debitsPosted: 0n });
  });
});
