/**
 * `paypad ledger` (C9 reconciliation, docs/ledger.md): an operator verifies the books of a host's
 * SQLite data directory and releases expired holds; broken books exit 1 and name the problem,
 * bad command lines are usage errors (exit 2).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ledgerCommand } from '../../../bin/commands/ledger';
import { SQLITE_FILE_NAME } from '../../../host/config';
import { createDatabase, type Database } from '../../../host/db/database';
import { migrateToLatest } from '../../../host/db/migrate';
import { createLedger } from '../../../host/payments/ledger/ledger';
import { runCommand } from '../../support/runCommand';

describe('paypad ledger', () => {
  let dataDir: string;
  let database: Database;
  const savedUrl = process.env.DATABASE_URL;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'paypad-ledger-cli-'));
    // The CLI follows DATABASE_URL; these runs use SQLite in the temporary data directory.
    delete process.env.DATABASE_URL;
    database = createDatabase({ dialect: 'sqlite', file: join(dataDir, SQLITE_FILE_NAME) });
    await migrateToLatest(database);
  });
  afterEach(async () => {
    if (savedUrl !== undefined) process.env.DATABASE_URL = savedUrl;
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = (...argv: string[]) => runCommand(ledgerCommand, [...argv, '--data-dir', dataDir]);

  it('C9 verify prints the totals per currency and exits 0 on consistent books, 1 naming the problem otherwise', async () => {
    // An hour ago, so the 60-second hold has expired by now.
    const ledger = createLedger(database, () => new Date(Date.now() - 3_600_000));
    await ledger.openAccount({ code: 'provider', name: 'Provider', kind: 'asset', currency: 'CNY' });
    await ledger.openAccount({ code: 'payee', name: 'Payee', kind: 'liability', currency: 'CNY', limit: 'debits_must_not_exceed_credits' });
    await ledger.createTransfer({ kind: 'posted', id: 'cli-1', debitAccount: 'provider', creditAccount: 'payee', amount: 12_345n });
    await ledger.createTransfer({ kind: 'pending', id: 'cli-2', debitAccount: 'provider', creditAccount: 'payee', amount: 5n, timeoutSeconds: 60 });

    const good = await run('verify');
    expect(good).toMatchObject({ code: 0, err: '' });
    expect(good.out).toMatch(/^2 accounts, 2 transfers\n/);
    expect(good.out).toMatch(/CNY\s+12345\s+12345\s+5\s+5\n/);
    expect(good.out).toContain('the books are consistent');

    expect(await run('expire-holds')).toMatchObject({ code: 0, out: 'released 1 expired holds:\n  cli-2\n' });
    expect(await run('expire-holds')).toMatchObject({ code: 0, out: 'no hold has expired\n' });

    await sql`update ledger_accounts set debits_posted = debits_posted + 1 where code = 'provider'`.execute(database.db);
    const bad = await run('verify');
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('account provider: debitsPosted is 12346 but its transfers add up to 12345');
    expect(bad.out).toContain('CNY: posted debits 12346 differ from posted credits 12345');
  });

  it('a bad --limit is a usage error', async () => {
    for (const limit of ['0', '-1', '10001', 'ten']) expect(await run('expire-holds', '--limit', limit)).toMatchObject({ code: 2 });
  });
});
