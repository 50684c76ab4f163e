/**
 * `bin/paypad serve` as a child process, for tests that stop the host the hard way (SIGKILL) and
 * start it again on the same data directory. The JSON log on stdout is parsed line by line so a
 * test can wait for, and count, what the host said.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { PAYPAD_BIN } from '../../../bin/demo/paypadProcess';

export type LogLine = Record<string, unknown> & { msg: string };

export interface HostExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface HostProcess {
  readonly pid: number;
  /** Every log line so far. */
  readonly logs: readonly LogLine[];
  /** The first line matching `predicate`, waiting up to `timeoutMs`; rejects when the host exits first. */
  waitForLog(predicate: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` (SIGTERM: graceful stop; SIGKILL: a crash) and resolves when the process is gone. */
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<HostExit>;
}

const DEFAULT_WAIT_MS = 30_000;

/** Starts `paypad serve` with exactly `env` (plus PATH), nothing inherited: the test says where everything goes. */
export function startHostProcess(env: Readonly<Record<string, string>>): HostProcess {
  const child: ChildProcess = spawn(PAYPAD_BIN, ['serve'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  let stderr = '';
  let partial = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
    listeners.forEach((l) => l());
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  const exited = new Promise<HostExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  return {
    pid: child.pid ?? -1,
    logs,
    waitForLog(predicate, what, timeoutMs = DEFAULT_WAIT_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(predicate);
          if (found === undefined) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`paypad serve logged no "${what}" within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        void exited.then((exit) => reject(new Error(`paypad serve exited (${exit.code ?? exit.signal}) before "${what}"; stderr: ${stderr.slice(-2000)}`)));
      });
    },
    stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
