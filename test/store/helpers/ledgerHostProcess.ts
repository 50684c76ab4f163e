/**
 * The second host of the ledger concurrency test as a real Node process (ledgerHost.ts), seen from
 * the test: when it is ready, the signal to start, its outcomes, and how it ended.
 *
 * Every listener is attached when the process is spawned, and what it reports is kept as a
 * settled promise, never as an event to catch later: a host that answers or exits before the
 * test gets round to asking is still heard. (Waiting for the 'exit' event only once the test's
 * own requests were done hung whenever the second host finished first: the event had already
 * gone by.)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Outcome } from './ledgerWorkload';

const HOST_SCRIPT = fileURLToPath(new URL('./ledgerHost.ts', import.meta.url));

export interface LedgerHostProcess {
  /** Resolves once the host has prepared the workload and waits for go(). */
  readonly ready: Promise<void>;
  /** Lets the host send its requests (closes its standard input). */
  go(): void;
  /** The host's outcomes, in the order of its requests. */
  readonly outcomes: Promise<Outcome[]>;
  /** The exit code, once the process has exited and its output has been read to the end. */
  readonly finished: Promise<number | null>;
  /** Ends the process (a test that failed half way); finished settles after it. */
  kill(): void;
}

/**
 * Starts `ledgerHost.ts <prefix> <size> <role>` on the PostgreSQL store at `url`. ready and
 * outcomes reject, with the host's standard error, if it exits without printing them.
 */
export function startLedgerHost(url: string, prefix: string, size: number, role: 'settle' | 'reverse'): LedgerHostProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', HOST_SCRIPT, prefix, String(size), role], {
    env: { ...process.env, PAYPAD_LEDGER_TEST_URL: url },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const watchers: (() => void)[] = [];
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const complete = partial.split('\n');
    partial = complete.pop()!;
    lines.push(...complete);
    for (const watch of watchers) watch();
  });
  // 'close' comes after 'exit' and after stdout and stderr have ended: every line has been read.
  const finished = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });

  const lineStarting = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const watch = () => {
        const line = lines.find((l) => l.startsWith(prefix));
        if (line !== undefined) resolve(line);
      };
      watchers.push(watch);
      finished.then(
        (code) => reject(new Error(`the second host exited (${code}) before printing "${prefix}...": ${stderr}`)),
        (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
      );
    });
  const ready = lineStarting('ready').then(() => undefined);
  const outcomes = lineStarting('[').then((line) => JSON.parse(line) as Outcome[]);
  // A test that fails early awaits neither; their rejection is then no news.
  ready.catch(() => undefined);
  outcomes.catch(() => undefined);
  finished.catch(() => undefined);

  return {
    ready,
    go: () => child.stdin.end('go\n'),
    outcomes,
    finished,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}
