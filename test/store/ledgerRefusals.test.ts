/**
 * Bad input to the ledger, on every dialect: malformed, oversized, unknown, replayed and
 * out-of-order requests each get a typed error and change nothing (no balance, no transfer).
 */
import { describe, expect, it } from 'vitest';
import { MAX_BALANCE } from '../../host/payments/ledger/balances';
import { createLedger, type Ledger, type TransferRequest } from '../../host/payments/ledger/ledger';
import { MAX_LINKED_TRANSFERS, MAX_TIMEOUT_SECONDS, type PostedTransferRequest } from '../../host/payments/ledger/transferRequests';
import { openPaymentAccounts, type PaymentAccounts, unchangedBooks } from './helpers/ledgerBooks';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

describe.each(DIALECTS)('ledger refusals on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let ledger: Ledger;
  let a: PaymentAccounts;
  const books = () => (ledger ??= createLedger(database()));
  const accounts = async () => (a ??= await openPaymentAccounts(books(), 'bad'));
  const refused = async (request: TransferRequest | TransferRequest[], code: Parameters<typeof unchangedBooks>[3]) => {
    const { provider, payee, bank } = await accounts();
    return unchangedBooks(books(), [provider, payee, bank], () => (Array.isArray(request) ? books().createLinkedTransfers(request) : books().createTransfer(request)), code);
  };

  it('C8 amounts that are not a positive bigint of minor units within range are refused (BAD_ARGUMENT)', async () => {
    const { provider, payee } = await accounts();
    for (const amount of [0n, -5n, MAX_BALANCE + 1n, 1.5, 100, '100', undefined] as unknown as bigint[]) {
      const error = await refused({ kind: 'posted', id: 'bad-amount', debitAccount: provider, creditAccount: payee, amount }, 'BAD_ARGUMENT');
      expect(error.message).toContain('amount must be a bigint of minor units');
    }
    await books().createTransfer({ kind: 'pending', id: 'bad-amount-hold', debitAccount: provider, creditAccount: payee, amount: 10n });
    for (const amount of [0n, -1n, 5]) await refused({ kind: 'post_pending', id: 'bad-amount-post', pendingId: 'bad-amount-hold', amount: amount as bigint }, 'BAD_ARGUMENT');
    await refused({ kind: 'void_pending', id: 'bad-amount-void', pendingId: 'bad-amount-hold', amount: 10n } as TransferRequest, 'BAD_ARGUMENT');
  });

  it('C8 malformed and oversized ids, codes and fields are refused (BAD_ARGUMENT)', async () => {
    const { provider, payee } = await accounts();
    const posted = (change: object) => ({ kind: 'posted', id: 'bad-shape', debitAccount: provider, creditAccount: payee, amount: 1n, ...change }) as TransferRequest;
    for (const request of [
      posted({ id: 'x'.repeat(65) }),
      posted({ id: '' }),
      posted({ id: 'has space' }),
      posted({ id: '-leading-dash' }),
      posted({ id: 42 }),
      posted({ id: 'pay-4111111111111111' }),
      posted({ debitAccount: 'p'.repeat(65) }),
      posted({ creditAccount: 'a/b' }),
      posted({ kind: 'refund' }),
      posted({ timeoutSeconds: 60 }),
      { ...posted({}), kind: 'pending', timeoutSeconds: 0 } as TransferRequest,
      { ...posted({}), kind: 'pending', timeoutSeconds: 1.5 } as TransferRequest,
      { ...posted({}), kind: 'pending', timeoutSeconds: MAX_TIMEOUT_SECONDS + 1 } as TransferRequest,
      { kind: 'post_pending', id: 'bad-self', pendingId: 'bad-self' } as TransferRequest,
      { kind: 'void_pending', id: 'bad-shape', pendingId: 'y'.repeat(65) } as TransferRequest,
      null as unknown as TransferRequest,
    ]) {
      await refused(request, 'BAD_ARGUMENT');
    }
    for (const spec of [
      { code: 'c'.repeat(65) },
      { code: 'bad code' },
      { name: 'n'.repeat(201) },
      { name: '  ' },
      // A card number in a code or a name would be stored and logged in clear (PCI DSS 3.4.1).
      { code: 'card:6222021234567890128' },
      { name: 'Card 4111 1111 1111 1111 is 4111111111111111' },
      { kind: 'revenue' },
      { currency: 'cny' },
      { currency: 'CNYY' },
      { limit: 'never_negative' },
    ]) {
      await expect(books().openAccount({ code: 'bad:new', name: 'New', kind: 'asset', currency: 'CNY', ...spec } as never)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    }
    expect(await books().account('bad:new')).toBeUndefined();
  });

  it('C8 a transfer from an account to itself is refused (BAD_ARGUMENT)', async () => {
    const { payee } = await accounts();
    const error = await refused({ kind: 'posted', id: 'bad-self-transfer', debitAccount: payee, creditAccount: payee, amount: 1n }, 'BAD_ARGUMENT');
    expect(error.message).toContain('debits and credits the same account');
  });

  it('C8 unknown accounts are refused (LEDGER_ACCOUNT_UNKNOWN)', async () => {
    const { provider, payee } = await accounts();
    await refused({ kind: 'posted', id: 'bad-unknown-debit', debitAccount: 'bad:nobody', creditAccount: payee, amount: 1n }, 'LEDGER_ACCOUNT_UNKNOWN');
    await refused({ kind: 'pending', id: 'bad-unknown-credit', debitAccount: provider, creditAccount: 'bad:nobody', amount: 1n }, 'LEDGER_ACCOUNT_UNKNOWN');
  });

  it('C8 accounts of different currencies cannot be in one transfer (LEDGER_CURRENCY_MISMATCH)', async () => {
    const { payee } = await accounts();
    const usd = await books().openAccount({ code: 'bad:usd', name: 'USD receivable', kind: 'asset', currency: 'USD' });
    await refused({ kind: 'posted', id: 'bad-currency', debitAccount: usd.code, creditAccount: payee, amount: 1n }, 'LEDGER_CURRENCY_MISMATCH');
  });

  it('C8 out of order: resolving what is no hold, an unknown hold, or a hold already resolved is refused', async () => {
    const { provider, payee } = await accounts();
    await books().createTransfer({ kind: 'posted', id: 'bad-order-posted', debitAccount: provider, creditAccount: payee, amount: 3n });
    await refused({ kind: 'post_pending', id: 'bad-order-1', pendingId: 'bad-order-posted' }, 'LEDGER_NOT_PENDING');
    await refused({ kind: 'void_pending', id: 'bad-order-2', pendingId: 'bad-order-nothing' }, 'LEDGER_TRANSFER_UNKNOWN');

    await books().createTransfer({ kind: 'pending', id: 'bad-order-hold', debitAccount: provider, creditAccount: payee, amount: 50n });
    await refused({ kind: 'post_pending', id: 'bad-order-3', pendingId: 'bad-order-hold', amount: 51n }, 'LEDGER_AMOUNT_EXCEEDS_PENDING');
    await books().createTransfer({ kind: 'post_pending', id: 'bad-order-post', pendingId: 'bad-order-hold', amount: 20n });
    // Double post, void after post, and resolving the settlement itself.
    await refused({ kind: 'post_pending', id: 'bad-order-4', pendingId: 'bad-order-hold' }, 'LEDGER_PENDING_RESOLVED');
    await refused({ kind: 'void_pending', id: 'bad-order-5', pendingId: 'bad-order-hold' }, 'LEDGER_PENDING_RESOLVED');
    await refused({ kind: 'void_pending', id: 'bad-order-6', pendingId: 'bad-order-post' }, 'LEDGER_NOT_PENDING');

    await books().createTransfer({ kind: 'pending', id: 'bad-order-hold2', debitAccount: provider, creditAccount: payee, amount: 7n });
    await books().createTransfer({ kind: 'void_pending', id: 'bad-order-void', pendingId: 'bad-order-hold2' });
    await refused({ kind: 'post_pending', id: 'bad-order-7', pendingId: 'bad-order-hold2' }, 'LEDGER_PENDING_RESOLVED');
    await refused({ kind: 'void_pending', id: 'bad-order-8', pendingId: 'bad-order-hold2' }, 'LEDGER_PENDING_RESOLVED');
    expect((await books().verify()).problems).toEqual([]);
  });

  it('C8 a balance beyond 2^53 - 1 minor units is refused (LEDGER_OVERFLOW)', async () => {
    const source = await books().openAccount({ code: 'bad:big-source', name: 'Source', kind: 'asset', currency: 'CNY' });
    const sink = await books().openAccount({ code: 'bad:big-sink', name: 'Sink', kind: 'liability', currency: 'CNY' });
    await books().createTransfer({ kind: 'posted', id: 'bad-big-1', debitAccount: source.code, creditAccount: sink.code, amount: MAX_BALANCE - 10n });
    await unchangedBooks(books(), [source.code, sink.code], () => books().createTransfer({ kind: 'pending', id: 'bad-big-2', debitAccount: source.code, creditAccount: sink.code, amount: 11n }), 'LEDGER_OVERFLOW');
    await books().createTransfer({ kind: 'posted', id: 'bad-big-3', debitAccount: source.code, creditAccount: sink.code, amount: 10n });
    expect(await books().account(sink.code)).toMatchObject({ creditsPosted: MAX_BALANCE });
    expect((await books().verify()).problems).toEqual([]);
  });

  it('C9 malformed linked batches are refused whole (BAD_ARGUMENT)', async () => {
    const { provider, payee } = await accounts();
    const one = (id: string): PostedTransferRequest => ({ kind: 'posted', id, debitAccount: provider, creditAccount: payee, amount: 1n });
    await refused([], 'BAD_ARGUMENT');
    await refused([one('bad-batch-1'), one('bad-batch-1')], 'BAD_ARGUMENT');
    await refused(Array.from({ length: MAX_LINKED_TRANSFERS + 1 }, (_, i) => one(`bad-batch-n${i}`)), 'BAD_ARGUMENT');
    // A good transfer before a bad one is not applied either.
    await refused([one('bad-batch-2'), { ...one('bad-batch-3'), amount: 0n }], 'BAD_ARGUMENT');
    await refused([one('bad-batch-4'), { ...one('bad-batch-5'), creditAccount: 'bad:nobody' }], 'LEDGER_ACCOUNT_UNKNOWN');
  });
});
