/**
 * Host configuration from environment variables, with defaults that work on a fresh machine
 * (ARCHITECTURE §5): no variable set means SQLite under ./data, listening on loopback only.
 *
 * loadConfig is pure (no process.env, no file system) so tests pass plain objects and the CLI
 * merges its flags into a copy of the environment before calling it.
 */
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { PaypadError } from '../shared/errors';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type DatabaseConfig =
  | { readonly dialect: 'sqlite'; readonly file: string }
  | { readonly dialect: 'postgres'; readonly url: string };

export interface HostConfig {
  readonly host: string;
  /** 0 asks the OS for a free port (tests, several hosts on one machine). */
  readonly port: number;
  /** Absolute path; holds the SQLite file and, later, key material files of roles. */
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  readonly logLevel: LogLevel;
}

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8780,
  dataDir: './data',
  logLevel: 'info',
} as const;

export const SQLITE_FILE_NAME = 'paypad.sqlite';

/**
 * Reads PAYPAD_HOST, PAYPAD_PORT, PAYPAD_DATA_DIR, DATABASE_URL and LOG_LEVEL. Empty values count
 * as unset. Relative data directories resolve against `cwd`.
 * @throws PaypadError CONFIG_INVALID naming the variable and what was expected.
 */
export function loadConfig(env: Env, cwd = '.'): HostConfig {
  const dataDir = resolve(cwd, value(env, 'PAYPAD_DATA_DIR') ?? DEFAULTS.dataDir);
  return {
    host: parseHost(value(env, 'PAYPAD_HOST') ?? DEFAULTS.host),
    port: parsePort(value(env, 'PAYPAD_PORT')),
    dataDir,
    database: parseDatabase(value(env, 'DATABASE_URL'), dataDir),
    logLevel: parseLogLevel(value(env, 'LOG_LEVEL') ?? DEFAULTS.logLevel),
  };
}

/** A description of the database that is safe to log: never the credentials in DATABASE_URL. */
export function describeDatabase(database: DatabaseConfig): string {
  if (database.dialect === 'sqlite') return `sqlite:${database.file}`;
  const url = new URL(database.url);
  return `postgres://${url.host}${url.pathname}`;
}

function value(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function invalid(message: string): PaypadError {
  return new PaypadError('CONFIG_INVALID', message);
}

// A hostname per RFC 1123 §2.1 (letters, digits, hyphens, dot-separated labels) or an IP literal.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function parseHost(host: string): string {
  if (isIP(host) !== 0 || HOSTNAME.test(host)) return host;
  throw invalid(`PAYPAD_HOST (--host) must be an IP address or a host name, got ${JSON.stringify(host.slice(0, 64))}`);
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return DEFAULTS.port;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw invalid(`PAYPAD_PORT (--port) must be an integer from 0 to 65535 (0 = any free port), got ${JSON.stringify(raw.slice(0, 16))}`);
  }
  return port;
}

function parseDatabase(url: string | undefined, dataDir: string): DatabaseConfig {
  if (url === undefined) return { dialect: 'sqlite', file: join(dataDir, SQLITE_FILE_NAME) };
  // The URL may carry a password: error messages describe it, never echo it.
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('DATABASE_URL is not a URL; expected postgres://user[:password]@host[:port]/database, or unset for SQLite');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw invalid(`DATABASE_URL must use the postgres:// or postgresql:// scheme, got ${parsed.protocol}//; unset it for SQLite`);
  }
  // pg also accepts a Unix socket directory as ?host=/run/postgresql with an empty URL host.
  if ((parsed.hostname === '' && !parsed.searchParams.has('host')) || parsed.pathname.length <= 1) {
    throw invalid('DATABASE_URL must name a host and a database: postgres://user[:password]@host[:port]/database');
  }
  return { dialect: 'postgres', url };
}

function parseLogLevel(level: string): LogLevel {
  const found = LOG_LEVELS.find((l) => l === level.toLowerCase());
  if (found) return found;
  throw invalid(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level.slice(0, 16))}`);
}
