/**
 * Runs the real `bin/paypad` as a child process: with pipes (a script: stdin is not a TTY), or on a
 * pseudo-terminal through util-linux `script`, so the operator's questions are answered the way a
 * person types them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PAYPAD = fileURLToPath(new URL('../../../../bin/paypad', import.meta.url));

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const running = new Set<ChildProcess>();

/** Kills the children of this module still running (a test that failed half way); for afterAll. */
export function stopChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

function collect(child: ChildProcess): Promise<Finished> {
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `bin/paypad ...args` with stdin a pipe that is closed at once (an unattended script). */
export function runPaypad(args: readonly string[]): Promise<Finished> {
  const child = spawn(PAYPAD, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin?.end();
  return collect(child);
}

export interface PtySession {
  /** Resolves with everything shown so far once `pattern` appears in the terminal's output. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Types `text` (use "\r" for Enter). */
  type(text: string): void;
  /** The exit code of bin/paypad and the whole terminal output (stdout and stderr share the TTY). */
  finished(): Promise<{ code: number | null; output: string }>;
}

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/** `bin/paypad ...args` on a pseudo-terminal: stdin, stdout and stderr are all the TTY. */
export function runPaypadInPty(args: readonly string[]): PtySession {
  // -e: exit with the child's code; -f: flush each write; -q: no "Script started" banner.
  const child = spawn('script', ['-qfec', [PAYPAD, ...args].map(quote).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const listeners: (() => void)[] = [];
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString('utf8');
    listeners.splice(0).forEach((l) => l());
  });
  const done = collect(child);
  return {
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; the terminal showed:\n${output}`)), timeoutMs);
        const check = () => {
          if (pattern.test(output)) {
            clearTimeout(timer);
            resolve(output);
          } else {
            listeners.push(check);
          }
        };
        check();
      });
    },
    type(text) {
      child.stdin?.write(text);
    },
    async finished() {
      const { code } = await done;
      return { code, output };
    },
  };
}
