/** Runs `npm run --silent <script> [-- args]` in the repository and collects its exit code and output. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface DemoRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runDemoCommand(script: string, args: readonly string[], timeoutMs: number): Promise<DemoRun> {
  const argv = ['run', '--silent', script, ...(args.length > 0 ? ['--', ...args] : [])];
  return new Promise((resolve) => {
    execFile('npm', argv, { cwd: ROOT, timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
