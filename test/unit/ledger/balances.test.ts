/**
 * The ledger's balance arithmetic (host/payments/ledger/balances.ts), without a database: one
 * movement moves the debit side of one account and the credit side of another by the same
 * amounts (C8, C9), limits count pending debits but not pending credits, and a release of more
 * than is held or a balance past 2^53 - 1 is refused.
 */
import { describe, expect, it } from 'vitest';
import { limitBreach, MAX_BALANCE, move, pendingMovement, postedMovement, postPendingMovement, releaseMovement, ZERO_BALANCES } from '../../../host/payments/ledger/balances';

const account = (balances = ZERO_BALANCES) => ({ code: 'acct', ...balances });

describe('ledger balances', () => {
  it('C8 a hold, then its settlement for less, leaves posted the settled amount and nothing pending on either side', () => {
    const held = { debit: move(account(), 'debit', pendingMovement(100n)), credit: move(account(), 'credit', pendingMovement(100n)) };
    expect(held.debit).toEqual({ ...ZERO_BALANCES, debitsPending: 100n });
    expect(held.credit).toEqual({ ...ZERO_BALANCES, creditsPending: 100n });
    const settle = postPendingMovement(100n, 90n);
    expect(move(account(held.debit), 'debit', settle)).toEqual({ ...ZERO_BALANCES, debitsPosted: 90n });
    expect(move(account(held.credit), 'credit', settle)).toEqual({ ...ZERO_BALANCES, creditsPosted: 90n });
    expect(move(account(held.debit), 'debit', releaseMovement(100n))).toEqual(ZERO_BALANCES);
  });

  it('C9 a debit limit counts pending and posted debits against posted credits only', () => {
    const funded = { ...ZERO_BALANCES, creditsPosted: 100n, creditsPending: 1_000n };
    expect(limitBreach({ ...funded, debitsPending: 60n, debitsPosted: 40n }, 'debits_must_not_exceed_credits')).toBeUndefined();
    expect(limitBreach({ ...funded, debitsPending: 61n, debitsPosted: 40n }, 'debits_must_not_exceed_credits')).toContain('would exceed posted credits (100)');
    expect(limitBreach({ ...funded, debitsPending: 61n, debitsPosted: 40n }, undefined)).toBeUndefined();
    expect(limitBreach({ ...ZERO_BALANCES, debitsPosted: 5n, creditsPending: 6n }, 'credits_must_not_exceed_debits')).toContain('would exceed posted debits (5)');
  });

  it('C9 releasing more than is held breaks an invariant; passing 2^53 - 1 overflows', () => {
    expect(() => move(account(), 'credit', releaseMovement(1n))).toThrow(expect.objectContaining({ code: 'LEDGER_INVARIANT_BROKEN' }));
    const full = account({ ...ZERO_BALANCES, debitsPosted: MAX_BALANCE });
    expect(() => move(full, 'debit', postedMovement(1n))).toThrow(expect.objectContaining({ code: 'LEDGER_OVERFLOW' }));
    expect(() => move(full, 'debit', pendingMovement(1n))).toThrow(expect.objectContaining({ code: 'LEDGER_OVERFLOW' }));
    expect(move(full, 'credit', postedMovement(MAX_BALANCE))).toMatchObject({ creditsPosted: MAX_BALANCE });
  });
});
