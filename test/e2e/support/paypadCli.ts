/**
 * The real `bin/paypad` CLIs as the end-to-end tests run them, for commands whose failure is the
 * point of the test: the exit code and both streams come back instead of an exception
 * (bin/demo/paypadProcess.ts runPaypad throws on a non-zero exit, for steps that must succeed).
 */
import { execFile } from 'node:child_process';
import { PAYPAD_BIN } from '../../../bin/demo/paypadProcess';

export interface CliResult {
  /** The exit code; -1 when the command was killed (timeout). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** `paypad <args>` to completion, with `env` added to this process's environment. */
export function paypadResult(args: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(PAYPAD_BIN, [...args], { timeout: timeoutMs, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Where a host keeps its state, as the admin CLIs find it: an empty DATABASE_URL means SQLite in the data directory. */
export function hostEnv(dataDir: string, databaseUrl: string): Record<string, string> {
  return { PAYPAD_DATA_DIR: dataDir, DATABASE_URL: databaseUrl };
}

/** The serial `paypad ca issue` printed ("issued CN=..., serial HEX, valid until ..."). */
export function issuedSerial(stdout: string): string {
  const match = /\bserial ([0-9A-F]+),/.exec(stdout);
  if (match === null) throw new Error(`paypad ca issue printed no serial: ${stdout}`);
  return match[1];
}
