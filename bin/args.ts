/**
 * The CLI's small shared pieces: flag parsing with typed usage errors, and the one place that
 * turns an error into stderr text plus an exit code. stdout carries only results.
 */
import { parseArgs } from 'node:util';
import { isPaypadError } from '../shared/errors';

/** Exit codes: 0 done, 1 the operation failed (bad MAC, wrong usage...), 2 the command line is wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

export interface Command {
  /** One line for the parent's --help. */
  summary: string;
  /** Full help text printed by `--help`. */
  help: string;
  run(argv: string[]): Promise<number> | number;
  /** Set on groups: they answer --help for their own subcommands. */
  group?: true;
}

/** Parses flags strictly: unknown flags and stray positionals are usage errors. */
export function parseFlags<S extends FlagSpec>(argv: string[], spec: S) {
  try {
    const { values } = parseArgs({ args: argv, options: { ...spec, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return values as { [K in keyof S]?: S[K]['type'] extends 'boolean' ? boolean : string } & { help?: boolean };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}`);
  return value;
}

/** Runs a group of subcommands: `paypad <group> <name> ...`, with --help at every level. */
export function commandGroup(summary: string, usage: string, commands: Record<string, Command>): Command {
  const help = `${usage}\n\nCommands:\n${Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
    .join('\n')}\n\nRun with --help after a command for its flags.`;
  return {
    summary,
    help,
    group: true,
    run(argv) {
      const [name, ...rest] = argv;
      if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
        process.stdout.write(help + '\n');
        return name === undefined ? EXIT_USAGE : EXIT_OK;
      }
      const command = commands[name];
      if (!command) throw new UsageError(`unknown command '${name}'\n\n${help}`);
      if (!command.group && (rest.includes('--help') || rest.includes('-h'))) {
        process.stdout.write(command.help + '\n');
        return EXIT_OK;
      }
      return command.run(rest);
    },
  };
}

/** The CLI's error boundary: messages to stderr, never a stack trace for expected failures. */
export function reportError(e: unknown): number {
  if (e instanceof UsageError) {
    process.stderr.write(`paypad: ${e.message}\n`);
    return EXIT_USAGE;
  }
  if (isPaypadError(e)) {
    process.stderr.write(`paypad: ${e.code}: ${e.message}\n`);
    return EXIT_FAILED;
  }
  process.stderr.write(`paypad: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return EXIT_FAILED;
}
