/**
 * A second host process for the ledger concurrency test: opens its own connection to the
 * PostgreSQL schema the test names, prepares the workload (idempotently, racing the test
 * process), waits for "go" on stdin so both start together, sends the requests, and prints
 * its outcomes as one JSON line. ledgerHostProcess.ts starts it and reads what it prints.
 *
 * Usage: node --import tsx ledgerHost.ts <prefix> <size> <settle|reverse>   (PAYPAD_LEDGER_TEST_URL set)
 */
import { createDatabase } from '../../../host/db/database';
import { createLedger } from '../../../host/payments/ledger/ledger';
import { prepare, submit, workload } from './ledgerWorkload';

const [prefix, size, role] = process.argv.slice(2);
const url = process.env.PAYPAD_LEDGER_TEST_URL;
if (!prefix || !size || (role !== 'settle' && role !== 'reverse') || !url) {
  process.stderr.write('usage: ledgerHost.ts <prefix> <size> <settle|reverse> with PAYPAD_LEDGER_TEST_URL set\n');
  process.exit(2);
}
const database = createDatabase({ dialect: 'postgres', url });
try {
  const ledger = createLedger(database);
  const w = workload(prefix, Number(size));
  await prepare(ledger, w);
  process.stdout.write('ready\n');
  // The test's "go" (standard input then closes); a test that went away first closes it unsaid.
  await new Promise<void>((resolve, reject) => {
    process.stdin.once('data', () => resolve());
    process.stdin.once('end', () => reject(new Error('standard input closed before "go"')));
  });
  // A flowing stdin would keep this process alive after its work.
  process.stdin.pause();
  const outcomes = await submit(ledger, [...w.payments, ...(role === 'settle' ? w.settlements : w.reversals)]);
  process.stdout.write(`${JSON.stringify(outcomes)}\n`);
} finally {
  await database.close();
}
