/**
 * Runs a CLI command object in this process, as bin/cli.ts does (errors through reportError),
 * capturing what it writes: exit code, stdout, stderr. Faster than spawning bin/paypad, for
 * tests of a command's own behaviour; the e2e tests spawn the real process.
 */
import { vi } from 'vitest';
import { type Command, reportError } from '../../bin/args';

export interface CommandRun {
  code: number;
  out: string;
  err: string;
}

export async function runCommand(command: Command, argv: string[]): Promise<CommandRun> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
  try {
    let code: number;
    try {
      code = await command.run(argv);
    } catch (e) {
      code = reportError(e);
    }
    return { code, out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}
