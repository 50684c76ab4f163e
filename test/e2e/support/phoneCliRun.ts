/**
 * The real `bin/paypad phone` CLI as a test's phone: each run spawned with the phone's directory and
 * the host's URL, what it is given on standard input, and what it printed, kept in `printed` for
 * the X1 scan.
 */
import { spawn } from 'node:child_process';
import { PAYPAD_BIN } from '../../../bin/demo/paypadProcess';

export interface PhoneRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `paypad phone <args> --home H --url U` with `input` on standard input. */
export function phoneCliRunner(home: () => string, url: () => string, printed: string[]): (args: readonly string[], input?: string) => Promise<PhoneRun> {
  return (args, input = '') =>
    new Promise((resolve) => {
      const child = spawn(PAYPAD_BIN, ['phone', ...args, '--home', home(), '--url', url()], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
      child.stdin.end(input);
      child.once('close', (code) => {
        printed.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      });
    });
}
