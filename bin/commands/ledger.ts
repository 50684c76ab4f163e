/**
 * `paypad ledger`: the operator's view of the books (docs/ledger.md; SPEC C9 reconciliation).
 * `verify` recomputes every balance from the transfers and checks every invariant, exiting 1 when
 * anything is wrong; `expire-holds` releases authorisation holds whose timeout has passed. Both
 * use the database the host uses (--data-dir / PAYPAD_DATA_DIR, DATABASE_URL) and may run while
 * hosts are posting. Host modules load lazily: other commands stay fast.
 */
import { type Command, commandGroup, EXIT_FAILED, EXIT_OK, parseFlags, UsageError } from '../args';
import { withHostDatabase } from '../hostDatabase';
import type { Ledger } from '../../host/payments/ledger/ledger';

const DATA_DIR_HELP = `  --data-dir DIR   the host's data directory (PAYPAD_DATA_DIR, default ./data); the database is
                   DATABASE_URL (postgres://...) or, unset, SQLite in the data directory`;

async function withLedger<T>(dataDirFlag: string | undefined, fn: (ledger: Ledger) => Promise<T>): Promise<T> {
  const { createLedger } = await import('../../host/payments/ledger/ledger');
  return withHostDatabase(dataDirFlag, (database) => fn(createLedger(database)));
}

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

const verify: Command = {
  summary: 'check the books: every balance against its transfers, debits against credits per currency',
  help: `Usage: paypad ledger verify [--data-dir DIR]

Prints the totals per currency and every problem found; exits 1 when there is one.
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'data-dir': { type: 'string' } });
    return withLedger(f['data-dir'], async (ledger) => {
      const report = await ledger.verify();
      const lines = [`${report.accounts} accounts, ${report.transfers} transfers`, `${'CURRENCY'.padEnd(8)}  ${'DEBITS POSTED'.padStart(20)}  ${'CREDITS POSTED'.padStart(20)}  ${'DEBITS PENDING'.padStart(20)}  ${'CREDITS PENDING'.padStart(20)}`];
      for (const t of report.totals) {
        lines.push(`${t.currency.padEnd(8)}  ${String(t.debitsPosted).padStart(20)}  ${String(t.creditsPosted).padStart(20)}  ${String(t.debitsPending).padStart(20)}  ${String(t.creditsPending).padStart(20)}`);
      }
      lines.push(report.ok ? 'the books are consistent' : `${report.problems.length} problems:`, ...report.problems.map((p) => `  ${p}`));
      print(lines.join('\n'));
      return report.ok ? EXIT_OK : EXIT_FAILED;
    });
  },
};

const expireHolds: Command = {
  summary: 'release authorisation holds whose timeout has passed',
  help: `Usage: paypad ledger expire-holds [--limit N] [--data-dir DIR]

  --limit N        release at most N holds (1-10000, default 100)
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { limit: { type: 'string' }, 'data-dir': { type: 'string' } });
    const limit = f.limit === undefined ? undefined : Number(f.limit);
    if (limit !== undefined && (!/^[1-9][0-9]{0,4}$/.test(f.limit!) || limit > 10_000)) throw new UsageError(`--limit must be an integer from 1 to 10000, got '${f.limit}'`);
    return withLedger(f['data-dir'], async (ledger) => {
      const expired = await ledger.expirePendingTransfers(limit);
      print(expired.length === 0 ? 'no hold has expired' : [`released ${expired.length} expired holds:`, ...expired.map((id) => `  ${id}`)].join('\n'));
      return EXIT_OK;
    });
  },
};

export const ledgerCommand: Command = commandGroup('the ledger: verify the books, release expired holds', 'Usage: paypad ledger <command> [...]', {
  verify,
  'expire-holds': expireHolds,
});
