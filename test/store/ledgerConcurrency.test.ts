/**
 * X4: hosts that share one PostgreSQL database keep one set of books. Many transfers race through
 * two connections (as two host processes would open), and then through an actual second Node
 * process; every request is sent by both hosts at once, holds are settled by one host while the
 * other reverses them. Nothing is lost or doubled, no wallet is overdrawn, each hold is resolved
 * once, and verifyLedger finds every invariant intact. On SQLite one process owns the file
 * (docs/host.md), so there the same race runs through one connection: each transfer is still
 * one atomic transaction.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLedger } from '../../host/payments/ledger/ledger';
import { expectConsistentBooks, type Outcome, prepare, submit, workload } from './helpers/ledgerWorkload';
import { migrateToLatest } from '../../host/db/migrate';
import { createTestStore, DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const SIZE = 60;
const HOST_SCRIPT = fileURLToPath(new URL('./helpers/ledgerHost.ts', import.meta.url));

describe.each(DIALECTS)('X4 ledger under concurrent hosts on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('X4 C8 C9 the same transfers sent at once by two hosts are each stored once; holds settled and reversed at once are resolved once', async () => {
    const first = createLedger(database());
    // Two connections with their own pools on PostgreSQL; on SQLite a second connection in this
    // process would block the event loop on the file lock, and one process owns the file anyway.
    const second = createLedger(dialect === 'postgres' ? database.connect() : database());
    const w = workload('race', SIZE);
    await Promise.all([prepare(first, w), prepare(second, w)]);

    const reports = await Promise.all([submit(first, [...w.payments, ...w.settlements]), submit(second, [...w.payments, ...w.reversals])]);
    const { stored, refused } = await expectConsistentBooks(first, w, reports);
    // The race is real: some payments found the wallets empty, some resolutions lost.
    expect(refused).toBeGreaterThan(w.holds.length);
    expect(stored).toBeGreaterThan(w.funding.length + w.holds.length * 2);
  });

  it.runIf(dialect === 'postgres')('X4 a second host process and this one post the same transfers at once: one set of books', async () => {
    // A store of its own: the child needs its connection string (the schema is in its options).
    const store = await createTestStore('postgres');
    const own = store.open();
    await migrateToLatest(own);
    if (store.config.dialect !== 'postgres') throw new Error('a PostgreSQL store was asked for');
    const ledger = createLedger(own);
    const w = workload('proc', SIZE);
    const child = spawn(process.execPath, ['--import', 'tsx', HOST_SCRIPT, 'proc', String(SIZE), 'reverse'], {
      env: { ...process.env, PAYPAD_LEDGER_TEST_URL: store.config.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    try {
      const lines = linesOf(child);
      await Promise.all([prepare(ledger, w), lines.next('ready')]);
      child.stdin.end('go\n');
      const [ours, theirs] = await Promise.all([submit(ledger, [...w.payments, ...w.settlements]), lines.next('[').then((line) => JSON.parse(line) as Outcome[])]);
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      expect(theirs).toHaveLength(w.payments.length + w.reversals.length);
      await expectConsistentBooks(ledger, w, [ours, theirs]);
    } finally {
      child.kill();
      await store.destroy();
    }
  }, 30_000);
});

/** The child's stdout as lines: next(prefix) waits for the next line that starts with prefix. */
function linesOf(child: ChildProcessWithoutNullStreams) {
  let buffered = '';
  let stderr = '';
  const waiting: { prefix: string; resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const at = waiting.findIndex((w) => line.startsWith(w.prefix));
      if (at >= 0) waiting.splice(at, 1)[0]!.resolve(line);
    }
  });
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`the second host exited (${code}) before "${w.prefix}": ${stderr}`));
  });
  return { next: (prefix: string) => new Promise<string>((resolve, reject) => waiting.push({ prefix, resolve, reject })) };
}
