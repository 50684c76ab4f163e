/**
 * The firmware's build configuration: the manifest's "config" block, as `mc/config` presents
 * it on the device, checked and typed once at startup.
 *
 * Values given on the mcconfig command line (`mcconfig ... hostUrl=https://10.0.0.5:8443`)
 * arrive as strings, so numbers are accepted as decimal strings too. Board wiring (keypad,
 * card reader) is nested JSON in a board's "platforms" block of the manifest; a board without
 * it has no such device. Pure, so the Node tests check the manifest with the same rules.
 */
import { KEYS, type Key } from '../keypad';
import { isIpv4, parseHttpUrl } from './httpRequest';

export interface MatrixKeypadConfig {
  /** GPIOs driving the rows (open drain). */
  rows: number[];
  /** GPIOs reading the columns (pull-up). */
  columns: number[];
  /** The key at each position, row by row. */
  keys: Key[];
}

export interface SerialCardReaderConfig {
  /** UART number. */
  port: number;
  /** GPIO receiving from the reader. */
  receive: number;
  baud: number;
}

export interface FirmwareConfig {
  version: string;
  hostUrl: string;
  httpTimeoutMs: number;
  /** DNS servers to use instead of the network's (DHCP) ones, or null. */
  dnsServers: string[] | null;
  display: { columns: number; rows: number };
  keypad: MatrixKeypadConfig | null;
  cardReader: SerialCardReaderConfig | null;
}

const VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/; // semver 2.0.0 §2 and §9
const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
/** Keys without which no PIN can be entered. */
const REQUIRED_KEYS: readonly Key[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'confirm', 'cancel'];

class ConfigProblem {
  constructor(readonly message: string) {}
}

/** The typed configuration, or the first reason `raw` is not a valid one. */
export function parseFirmwareConfig(raw: Readonly<Record<string, unknown>>): FirmwareConfig | string {
  try {
    const version = raw.version;
    if (typeof version !== 'string' || !VERSION.test(version)) fail('version: expected a semantic version such as 1.2.3');
    const hostUrl = raw.hostUrl;
    if (typeof hostUrl !== 'string') fail('hostUrl: expected a URL');
    const target = parseHttpUrl(hostUrl);
    if (typeof target === 'string') fail(`hostUrl: ${target}`);
    return {
      version,
      hostUrl,
      httpTimeoutMs: integer(raw.httpTimeoutMs, 'httpTimeoutMs', 1000, 600_000),
      dnsServers: raw.dnsServers === undefined ? null : dnsServers(raw.dnsServers),
      display: {
        columns: integer(raw.displayColumns, 'displayColumns', 8, 64),
        rows: integer(raw.displayRows, 'displayRows', 1, 16),
      },
      keypad: raw.keypad === undefined ? null : keypad(raw.keypad),
      cardReader: raw.cardReader === undefined ? null : cardReader(raw.cardReader),
    };
  } catch (e) {
    if (e instanceof ConfigProblem) return e.message;
    throw e;
  }
}

function fail(message: string): never {
  throw new ConfigProblem(message);
}

function integer(value: unknown, name: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(`${name}: expected an integer from ${min} to ${max}`);
  return n;
}

function dnsServers(value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && isIpv4(s))) {
    fail('dnsServers: expected IPv4 addresses, as a list or comma-separated');
  }
  return list as string[];
}

function pins(value: unknown, name: string): number[] {
  if (!Array.isArray(value) || value.length === 0) fail(`${name}: expected a list of GPIO numbers`);
  return value.map((pin, i) => integer(pin, `${name}[${i}]`, 0, 63));
}

function keypad(value: unknown): MatrixKeypadConfig {
  if (typeof value !== 'object' || value === null) fail('keypad: expected { rows, columns, keys }');
  const { rows: rawRows, columns: rawColumns, keys: rawKeys } = value as Record<string, unknown>;
  const rows = pins(rawRows, 'keypad.rows');
  const columns = pins(rawColumns, 'keypad.columns');
  if (new Set([...rows, ...columns]).size !== rows.length + columns.length) fail('keypad: a GPIO is used twice');
  if (!Array.isArray(rawKeys) || rawKeys.length !== rows.length * columns.length) {
    fail(`keypad.keys: expected ${rows.length * columns.length} key names, row by row`);
  }
  const keys = rawKeys.map((key, i) => {
    if (!KEYS.includes(key as Key)) fail(`keypad.keys[${i}]: expected one of ${KEYS.join(' ')}`);
    return key as Key;
  });
  const missing = REQUIRED_KEYS.filter((key) => !keys.includes(key));
  if (missing.length > 0) fail(`keypad.keys: missing ${missing.join(' ')}`);
  if (new Set(keys).size !== keys.length) fail('keypad.keys: a key appears twice');
  return { rows, columns, keys };
}

function cardReader(value: unknown): SerialCardReaderConfig {
  if (typeof value !== 'object' || value === null) fail('cardReader: expected { port, receive, baud }');
  const raw = value as Record<string, unknown>;
  const baud = integer(raw.baud, 'cardReader.baud', 1200, 115200);
  if (!BAUD_RATES.includes(baud)) fail(`cardReader.baud: expected one of ${BAUD_RATES.join(' ')}`);
  return { port: integer(raw.port, 'cardReader.port', 0, 7), receive: integer(raw.receive, 'cardReader.receive', 0, 63), baud };
}
