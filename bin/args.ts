/**
 * The CLI's small shared pieces: flag parsing with typed usage errors, and the one place that
 * turns an error into stderr text plus an exit code. stdout carries only results.
 */
import { parseArgs } from 'node:util';
import { fromHex } from '../shared/bytes';
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

/** Parses flags strictly: unknown flags (with the closest known one suggested) and stray positionals are usage errors. */
export function parseFlags<S extends FlagSpec>(argv: string[], spec: S) {
  try {
    const { values } = parseArgs({ args: argv, options: { ...spec, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return values as { [K in keyof S]?: S[K]['type'] extends 'boolean' ? boolean : string } & { help?: boolean };
  } catch (e) {
    const unknown = /^Unknown option '--([^']+)'/.exec((e as Error).message)?.[1];
    const suggestion = unknown === undefined ? undefined : closest(unknown, Object.keys(spec));
    throw new UsageError(suggestion === undefined ? (e as Error).message : `unknown flag --${unknown}; did you mean --${suggestion}?`);
  }
}

/** The name in `names` nearest to `typed` (Levenshtein distance at most a third of its length, and 2 at least), if any. */
function closest(typed: string, names: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance <= Math.max(2, Math.floor(name.length / 3)) && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = row;
  }
  return previous[b.length];
}

/**
 * A flag value the code below refuses (bad hex, a key of the wrong length, a serial or URL of the
 * wrong form) is a mistake on the command line: exit 2, not 1.
 */
export function flagValue<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--${flag}: ${isPaypadError(e) ? `${e.code}: ` : ''}${(e as Error).message}`);
  }
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}`);
  return value;
}

/**
 * Runs an operation whose every argument came from flags: its BAD_ARGUMENT (a serial, URL or code
 * of the wrong form) is a usage error, exit 2; its other failures stay failures, exit 1.
 */
export async function withFlagArguments<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (e) {
    if (isPaypadError(e, 'BAD_ARGUMENT')) throw new UsageError(e.message);
    throw e;
  }
}

/** A required hex flag as bytes; bad hex is a usage error. */
export function hexFlag(value: string | undefined, flag: string): Uint8Array {
  const text = required(value, flag);
  return flagValue(flag, () => fromHex(text, flag));
}

/** A required AES key flag (16, 24 or 32 bytes in hex); anything else is a usage error. */
export function aesKeyFlag(value: string | undefined, flag: string): Uint8Array {
  const key = hexFlag(value, flag);
  if (![16, 24, 32].includes(key.length)) throw new UsageError(`--${flag}: an AES key is 16, 24 or 32 bytes (32, 48 or 64 hex digits), got ${key.length} bytes`);
  return key;
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
