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
import type { HsmBackend } from './hsm/index';
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from './http/limits';
import { DEFAULT_LOOKUP_LIMITS, type LookupLimits } from './mtms/lookupLimits';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type DatabaseConfig =
  | { readonly dialect: 'sqlite'; readonly file: string }
  | { readonly dialect: 'postgres'; readonly url: string };

export interface HostConfig {
  /** Every listener's address: the HTTP app, MTMS and the KMSs this process runs. */
  readonly host: string;
  /** The HTTP app (/healthz, the roles' routers). 0 asks the OS for a free port (tests, several hosts on one machine). */
  readonly port: number;
  /** MTMS's mutual-TLS listener; 0 = any free port. */
  readonly mtmsPort: number;
  /**
   * Where the demo customers' KMSs are recorded to listen (base, base + 1 ...). 0 = every KMS this
   * process runs takes any free port, whatever its customer record says (tests): host/kmsFleet.ts.
   */
  readonly kmsBasePort: number;
  /** Absolute path; holds the SQLite file and the roles' key and certificate files. */
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  readonly logLevel: LogLevel;
  /** Add the demo customers, serials and operator certificate to an empty database (host/demoData.ts). */
  readonly demoData: boolean;
  /** Timeouts and connection cap of every listener (host/http/listener.ts). */
  readonly listeners: ListenerLimits;
  /** A14: each operator certificate's token bucket for lookups at MTMS (host/mtms/lookupLimits.ts). */
  readonly lookupLimits: LookupLimits;
  /** Where MTMS and every KMS keep their keys: the software HSM (default) or a PKCS#11 token (host/hsm). */
  readonly hsm: HsmBackend;
}

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8780,
  mtmsPort: 8781,
  kmsBasePort: 8790,
  dataDir: './data',
  logLevel: 'info',
} as const;

export const SQLITE_FILE_NAME = 'paypad.sqlite';

/**
 * Reads PAYPAD_HOST, PAYPAD_PORT, PAYPAD_MTMS_PORT, PAYPAD_KMS_BASE_PORT, PAYPAD_DATA_DIR,
 * DATABASE_URL, LOG_LEVEL, PAYPAD_DEMO_DATA, the listener limits (PAYPAD_HEADERS_TIMEOUT_MS,
 * PAYPAD_REQUEST_TIMEOUT_MS, PAYPAD_IDLE_TIMEOUT_MS, PAYPAD_MAX_CONNECTIONS) and the lookup limits
 * (PAYPAD_LOOKUP_BUCKET_SIZE, PAYPAD_LOOKUP_REFILL_PER_MINUTE, PAYPAD_LOOKUP_MISS_COST) and the
 * HSM (PAYPAD_HSM, PAYPAD_PKCS11_LIBRARY, PAYPAD_PKCS11_TOKEN_LABEL, PAYPAD_PKCS11_PIN or
 * PAYPAD_PKCS11_PIN_FILE). Empty
 * values count as unset. Relative data directories resolve against `cwd`.
 * @throws PaypadError CONFIG_INVALID naming the variable and what was expected.
 */
export function loadConfig(env: Env, cwd = '.'): HostConfig {
  const dataDir = resolve(cwd, value(env, 'PAYPAD_DATA_DIR') ?? DEFAULTS.dataDir);
  const database = parseDatabase(value(env, 'DATABASE_URL'), dataDir);
  const port = parsePort(value(env, 'PAYPAD_PORT'), 'PAYPAD_PORT (--port)', DEFAULTS.port);
  const mtmsPort = parsePort(value(env, 'PAYPAD_MTMS_PORT'), 'PAYPAD_MTMS_PORT', DEFAULTS.mtmsPort);
  if (mtmsPort !== 0 && mtmsPort === port) throw invalid(`PAYPAD_MTMS_PORT must differ from PAYPAD_PORT (--port); both are ${port}`);
  return {
    host: parseHost(value(env, 'PAYPAD_HOST') ?? DEFAULTS.host),
    port,
    mtmsPort,
    kmsBasePort: parsePort(value(env, 'PAYPAD_KMS_BASE_PORT'), 'PAYPAD_KMS_BASE_PORT', DEFAULTS.kmsBasePort),
    dataDir,
    database,
    logLevel: parseLogLevel(value(env, 'LOG_LEVEL') ?? DEFAULTS.logLevel),
    demoData: parseDemoData(value(env, 'PAYPAD_DEMO_DATA'), database),
    listeners: parseListenerLimits(env),
    lookupLimits: parseLookupLimits(env),
    hsm: parseHsm(env, cwd),
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

function parsePort(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw invalid(`${name} must be an integer from 0 to 65535 (0 = any free port), got ${JSON.stringify(raw.slice(0, 16))}`);
  }
  return port;
}

/**
 * On by default only on the embedded database: a fresh SQLite data directory is somebody trying
 * paypad out, while a PostgreSQL database is a deployment, where invented customers do not belong.
 */
function parseDemoData(raw: string | undefined, database: DatabaseConfig): boolean {
  if (raw === undefined) return database.dialect === 'sqlite';
  if (raw === '1') return true;
  if (raw === '0') return false;
  throw invalid(`PAYPAD_DEMO_DATA must be 1 (add the demo data to an empty database) or 0 (never), got ${JSON.stringify(raw.slice(0, 16))}`);
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

/** Upper bound of the timeouts: a day, far above any sensible value, well inside a 32-bit timer. */
const MAX_TIMEOUT_MS = 86_400_000;
const MAX_CONNECTIONS = 1_000_000;

function parseBounded(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw invalid(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 16))}`);
  return n;
}

function parseListenerLimits(env: Env): ListenerLimits {
  const d = DEFAULT_LISTENER_LIMITS;
  const limits: ListenerLimits = {
    headersTimeoutMs: parseBounded(value(env, 'PAYPAD_HEADERS_TIMEOUT_MS'), 'PAYPAD_HEADERS_TIMEOUT_MS', d.headersTimeoutMs, 1, MAX_TIMEOUT_MS),
    requestTimeoutMs: parseBounded(value(env, 'PAYPAD_REQUEST_TIMEOUT_MS'), 'PAYPAD_REQUEST_TIMEOUT_MS', d.requestTimeoutMs, 1, MAX_TIMEOUT_MS),
    idleTimeoutMs: parseBounded(value(env, 'PAYPAD_IDLE_TIMEOUT_MS'), 'PAYPAD_IDLE_TIMEOUT_MS', d.idleTimeoutMs, 1, MAX_TIMEOUT_MS),
    maxConnections: parseBounded(value(env, 'PAYPAD_MAX_CONNECTIONS'), 'PAYPAD_MAX_CONNECTIONS', d.maxConnections, 1, MAX_CONNECTIONS),
  };
  // The headers are part of the request: Node refuses a headers timeout above the request timeout.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw invalid(`PAYPAD_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not exceed PAYPAD_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs})`);
  }
  return limits;
}

const MAX_BUCKET_SIZE = 1_000_000;

function parseLookupLimits(env: Env): LookupLimits {
  const d = DEFAULT_LOOKUP_LIMITS;
  const bucketSize = parseBounded(value(env, 'PAYPAD_LOOKUP_BUCKET_SIZE'), 'PAYPAD_LOOKUP_BUCKET_SIZE', d.bucketSize, 1, MAX_BUCKET_SIZE);
  return {
    bucketSize,
    refillPerMinute: parseBounded(value(env, 'PAYPAD_LOOKUP_REFILL_PER_MINUTE'), 'PAYPAD_LOOKUP_REFILL_PER_MINUTE', d.refillPerMinute, 1, MAX_BUCKET_SIZE),
    // A miss that cost more than a full bucket would lock the operator out for longer than a refill of the whole bucket.
    missCost: parseBounded(value(env, 'PAYPAD_LOOKUP_MISS_COST'), 'PAYPAD_LOOKUP_MISS_COST', d.missCost, 1, bucketSize),
  };
}

const HSM_KINDS = ['software', 'pkcs11'] as const;

/** The PIN is never part of a message: only whether it was given and where from. */
function parseHsm(env: Env, cwd: string): HsmBackend {
  const kind = value(env, 'PAYPAD_HSM') ?? 'software';
  if (kind === 'software') return { kind };
  if (kind !== 'pkcs11') throw invalid(`PAYPAD_HSM must be one of ${HSM_KINDS.join(', ')}, got ${JSON.stringify(kind.slice(0, 16))}`);
  const library = value(env, 'PAYPAD_PKCS11_LIBRARY');
  if (library === undefined) throw invalid('PAYPAD_HSM=pkcs11 needs PAYPAD_PKCS11_LIBRARY, the path of the token\'s PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)');
  const tokenLabel = value(env, 'PAYPAD_PKCS11_TOKEN_LABEL');
  if (tokenLabel === undefined) throw invalid('PAYPAD_HSM=pkcs11 needs PAYPAD_PKCS11_TOKEN_LABEL, the label of the token to use');
  const pin = env.PAYPAD_PKCS11_PIN;
  const pinFile = value(env, 'PAYPAD_PKCS11_PIN_FILE');
  if ((pin === undefined || pin === '') === (pinFile === undefined)) {
    throw invalid('PAYPAD_HSM=pkcs11 needs exactly one of PAYPAD_PKCS11_PIN (the user PIN) and PAYPAD_PKCS11_PIN_FILE (a file holding it)');
  }
  return { kind, library, tokenLabel, pin: pinFile !== undefined ? { file: resolve(cwd, pinFile) } : { value: pin as string } };
}

function parseLogLevel(level: string): LogLevel {
  const found = LOG_LEVELS.find((l) => l === level.toLowerCase());
  if (found) return found;
  throw invalid(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level.slice(0, 16))}`);
}
