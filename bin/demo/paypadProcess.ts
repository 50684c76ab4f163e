/**
 * Runs `bin/paypad` as a child process, as a person at a shell would: the demo drives the real
 * CLIs, not their modules. A command that fails is a DEMO_STEP_FAILED naming the command line and
 * carrying the end of its stderr (the CLIs print codes and messages there, never key material).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PaypadError } from '../../shared/errors';

export const PAYPAD_BIN = fileURLToPath(new URL('../paypad', import.meta.url));
const DEFAULT_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
/** Enough of a failed command's stderr to see its error line. */
const STDERR_TAIL = 2_000;

export interface PaypadRunOptions {
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** Written to the process's standard input, which is then closed (a PIN, a card number); never part of a transcript. */
  readonly stdin?: string;
  /** Called once the process has exited, with all it printed: a caller can keep every command's output (test/e2e scans it for keys, X1). */
  readonly onExit?: (transcript: PaypadTranscript) => void;
}

export interface PaypadOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** One finished `paypad` process. */
export interface PaypadTranscript extends PaypadOutput {
  readonly args: readonly string[];
  /** The exit code, or the signal that ended it. */
  readonly exit: number | NodeJS.Signals | null;
}

/** `paypad <args>` to completion. @throws PaypadError DEMO_STEP_FAILED on a non-zero exit or a timeout. */
export async function runPaypad(args: readonly string[], options: PaypadRunOptions = {}): Promise<PaypadOutput> {
  const { child, output } = spawnPaypad(args, options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = await exited(child);
    if (code !== 0) {
      const how = signal === 'SIGKILL' ? `did not finish within ${timeoutMs} ms` : `exited with ${code ?? signal}`;
      throw failed(args, how, output.stderr);
    }
    return { stdout: output.stdout, stderr: output.stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** `paypad <args>` to completion whatever its exit code (a command expected to fail). @throws DEMO_STEP_FAILED on a timeout. */
export async function runPaypadTranscript(args: readonly string[], options: PaypadRunOptions = {}): Promise<PaypadTranscript> {
  const { child, output } = spawnPaypad(args, options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = await exited(child);
    if (signal === 'SIGKILL') throw failed(args, `did not finish within ${timeoutMs} ms`, output.stderr);
    return { args, stdout: output.stdout, stderr: output.stderr, exit: code ?? signal };
  } finally {
    clearTimeout(timer);
  }
}

/** `paypad <args> --json`-style commands: stdout parsed as one JSON document. */
export async function runPaypadJson<T>(args: readonly string[], options: PaypadRunOptions = {}): Promise<T> {
  const { stdout, stderr } = await runPaypad(args, options);
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw failed(args, 'printed no JSON on stdout', stderr);
  }
}

export interface RunningPaypad {
  /** What `ready` matched on stdout. */
  readonly ready: RegExpMatchArray;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A long-running `paypad <args>` (a terminal's local link): resolves once stdout matches `ready`.
 * @throws PaypadError DEMO_STEP_FAILED when it exits first or is not ready in time (it is killed then).
 */
export async function startPaypad(args: readonly string[], ready: RegExp, options: PaypadRunOptions = {}): Promise<RunningPaypad> {
  const { child, output } = spawnPaypad(args, options);
  const done = exited(child);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await done;
      clearTimeout(killer);
    })());
  const match = await new Promise<RegExpMatchArray | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    const check = () => {
      const m = output.stdout.match(ready);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve(m);
      }
    };
    child.stdout?.on('data', check);
    void done.then(() => {
      clearTimeout(timer);
      resolve(output.stdout.match(ready) ?? undefined);
    });
  });
  if (match === undefined) {
    await stop();
    throw failed(args, `did not print ${ready} (exit ${child.exitCode ?? child.signalCode ?? 'none within ' + timeoutMs + ' ms'})`, output.stderr);
  }
  return { ready: match, stop };
}

/** The child and what it prints so far; onExit hears of it before anyone awaiting its exit does. */
function spawnPaypad(args: readonly string[], options: PaypadRunOptions): { child: ChildProcess; output: PaypadOutput } {
  const child = spawn(PAYPAD_BIN, [...args], { env: { ...process.env, ...options.env }, stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  const output = collect(child);
  const { onExit } = options;
  if (onExit) child.once('close', (code, signal) => onExit({ args, stdout: output.stdout, stderr: output.stderr, exit: code ?? signal }));
  return { child, output };
}

function collect(child: ChildProcess): PaypadOutput {
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output.stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output.stderr += d));
  return output;
}

function exited(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new PaypadError('DEMO_STEP_FAILED', `cannot run ${PAYPAD_BIN}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    child.once('close', (code, signal) => resolve([code, signal]));
  });
}

function failed(args: readonly string[], how: string, stderr: string): PaypadError {
  const tail = stderr.trim().slice(-STDERR_TAIL);
  return new PaypadError('DEMO_STEP_FAILED', `\`paypad ${args.join(' ')}\` ${how}${tail ? `:\n${tail}` : ''}`);
}
