/**
 * The firmware's build configuration: the manifest's "config" block, as `mc/config` presents
 * it on the device, checked and typed once at startup.
 *
 * Values given on the mcconfig command line (`mcconfig ... hostUrl=https://10.0.0.5:8443`)
 * arrive as strings, so numbers are accepted as decimal strings too. Board wiring (keypad,
 * card reader, local link UART) is nested JSON in a board's "platforms" block of the manifest;
 * a board without it has no such device. The identity a terminal is manufactured with is four
 * flat keys, so each unit's serial can be given on the mcconfig line. Pure, so the Node tests
 * check the manifest with the same rules.
 */
import { fromHex } from 'shared/bytes';
import { STORAGE_VALUE_MAX } from '../storage';
import { KEYS, type Key } from '../keypad';
import { isIpv4, parseHttpUrl } from './httpRequest';
import type { UpdateSchedule } from '../../core/updateTriggers';
import { programName, terminalModel } from 'shared/protocol/updateVersion';

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

/** The UART the operating terminal's cable plugs into (shared/protocol/localLink). */
export interface UartLinkConfig {
  /** UART number; not 0, which carries the console and xsbug. */
  port: number;
  /** GPIO receiving from the operating terminal. */
  receive: number;
  /** GPIO transmitting to it. */
  transmit: number;
  baud: number;
}

/**
 * The local link in the simulator, which has no UART: a TCP port the operator CLI connects to
 * (`paypad operator onboard --link 127.0.0.1:<port>`), the same frames as the board's cable.
 */
export interface TcpLinkConfig {
  port: number;
  /** Peers accepted: loopback only ('127.0.0.1', the default) or any ('0.0.0.0'). */
  address: '127.0.0.1' | '0.0.0.0';
}

/**
 * What the terminal is manufactured with at first boot (firmware/core/terminalIdentity:
 * provisionTerminal, which checks the serial's form, the point and the URL). Ignored once the
 * terminal holds an identity: a serial and pinned keys never change in the field.
 */
export interface ManufactureConfig {
  serial: string;
  /** MTMS's intake public key, uncompressed P-256 (65 bytes). */
  mtmsPublicKey: Uint8Array;
  kmsUrl: string;
  /** The paypad CA certificate, DER. */
  trustAnchor: Uint8Array;
}

/**
 * What the firmware needs to take program updates from its TMS: the model packages name, the
 * program they replace, the vendors' package-signing public keys it is built with (hex SEC 1,
 * comma-separated) and, optionally, its update schedule (B5) as `daily@HH:MM` or
 * `mon@HH:MM` ... `sun@HH:MM`, in local time with an optional UTC offset: `fri@17:00+08:00`.
 */
export interface UpdateConfig {
  model: string;
  programName: string;
  vendorKeys: Uint8Array[];
  schedule: UpdateSchedule | null;
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
  localLink: UartLinkConfig | null;
  /** Flat keys `linkPort` (and `linkAddress`); read by the simulator's link only. */
  tcpLink: TcpLinkConfig | null;
  manufacture: ManufactureConfig | null;
  /** Program updates (docs/updates.md); null when the build trusts no vendor key. */
  update: UpdateConfig | null;
}

const VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/; // semver 2.0.0 §2 and §9
const BAUD_RATES: readonly number[] = Object.freeze([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]);
/** Keys without which no PIN can be entered. */
const REQUIRED_KEYS: readonly Key[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'confirm', 'cancel']);
/** Config keys of the identity, given all together or not at all. */
export const MANUFACTURE_KEYS = Object.freeze(['terminalSerial', 'mtmsKey', 'kmsUrl', 'caCertificate'] as const);
const P256_POINT_BYTES = 65;

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
    const pad = raw.keypad === undefined ? null : keypad(raw.keypad);
    const reader = raw.cardReader === undefined ? null : cardReader(raw.cardReader);
    const link = raw.localLink === undefined ? null : localLink(raw.localLink);
    if (link) checkLinkWiring(link, pad, reader);
    return {
      version,
      hostUrl,
      httpTimeoutMs: integer(raw.httpTimeoutMs, 'httpTimeoutMs', 1000, 600_000),
      dnsServers: raw.dnsServers === undefined ? null : dnsServers(raw.dnsServers),
      display: {
        columns: integer(raw.displayColumns, 'displayColumns', 8, 64),
        rows: integer(raw.displayRows, 'displayRows', 1, 16),
      },
      keypad: pad,
      cardReader: reader,
      localLink: link,
      tcpLink: raw.linkPort === undefined ? null : tcpLink(raw.linkPort, raw.linkAddress ?? '127.0.0.1'),
      manufacture: manufacture(raw),
      update: update(raw),
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

function localLink(value: unknown): UartLinkConfig {
  if (typeof value !== 'object' || value === null) fail('localLink: expected { port, receive, transmit, baud }');
  const raw = value as Record<string, unknown>;
  const baud = integer(raw.baud, 'localLink.baud', 1200, 115200);
  if (!BAUD_RATES.includes(baud)) fail(`localLink.baud: expected one of ${BAUD_RATES.join(' ')}`);
  // UART0 is the boot console and, in debug builds, xsbug's connection: link frames there would be read as both.
  const port = integer(raw.port, 'localLink.port', 1, 7);
  const receive = integer(raw.receive, 'localLink.receive', 0, 63);
  const transmit = integer(raw.transmit, 'localLink.transmit', 0, 63);
  if (receive === transmit) fail('localLink: receive and transmit are the same GPIO');
  return { port, receive, transmit, baud };
}

function tcpLink(port: unknown, address: unknown): TcpLinkConfig {
  if (address !== '127.0.0.1' && address !== '0.0.0.0') fail('linkAddress: expected 127.0.0.1 (loopback only) or 0.0.0.0 (any peer)');
  return { port: integer(port, 'linkPort', 1, 65535), address };
}

/** One GPIO, one UART, one job: a pin driven by two peripherals works for neither. */
function checkLinkWiring(link: UartLinkConfig, pad: MatrixKeypadConfig | null, reader: SerialCardReaderConfig | null): void {
  const taken = [...(pad ? [...pad.rows, ...pad.columns] : []), ...(reader ? [reader.receive] : [])];
  if (taken.includes(link.receive) || taken.includes(link.transmit)) fail('localLink: a GPIO is also wired to the keypad or the card reader');
  if (reader && reader.port === link.port) fail(`localLink.port: UART ${link.port} is the card reader's`);
}

function manufacture(raw: Readonly<Record<string, unknown>>): ManufactureConfig | null {
  const missing = MANUFACTURE_KEYS.filter((key) => raw[key] === undefined);
  if (missing.length === MANUFACTURE_KEYS.length) return null;
  if (missing.length > 0) fail(`${missing.join(', ')}: missing; ${MANUFACTURE_KEYS.join(', ')} go together`);
  return {
    serial: text(raw.terminalSerial, 'terminalSerial'),
    mtmsPublicKey: hexBytes(raw.mtmsKey, 'mtmsKey', P256_POINT_BYTES, P256_POINT_BYTES),
    kmsUrl: text(raw.kmsUrl, 'kmsUrl'),
    trustAnchor: hexBytes(raw.caCertificate, 'caCertificate', 2, STORAGE_VALUE_MAX),
  };
}

const WEEKDAYS: readonly string[] = Object.freeze(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']);
const SCHEDULE = /^(daily|sun|mon|tue|wed|thu|fri|sat)@([01][0-9]|2[0-3]):([0-5][0-9])(?:([+-])([01][0-9]|1[0-4]):([0-5][0-9]))?$/;

function update(raw: Readonly<Record<string, unknown>>): UpdateConfig | null {
  if (raw.vendorKeys === undefined) {
    if (raw.updateSchedule !== undefined) fail('updateSchedule: needs vendorKeys (a terminal that trusts no vendor takes no update)');
    return null;
  }
  const model = checked(terminalModel, raw.model, 'model');
  const program = raw.programName === undefined ? 'paypad-firmware' : checked(programName, raw.programName, 'programName');
  const keys = text(raw.vendorKeys, 'vendorKeys').split(',');
  const vendorKeys: Uint8Array[] = [];
  for (let i = 0; i < keys.length; i++) vendorKeys.push(hexBytes(keys[i].trim(), 'vendorKeys', P256_POINT_BYTES, P256_POINT_BYTES));
  return { model, programName: program, vendorKeys, schedule: raw.updateSchedule === undefined ? null : schedule(text(raw.updateSchedule, 'updateSchedule')) };
}

function schedule(value: string): UpdateSchedule {
  const m = SCHEDULE.exec(value);
  if (m === null) fail('updateSchedule: expected daily@HH:MM or mon@HH:MM .. sun@HH:MM, optionally with a UTC offset (+08:00)');
  const offset = m[4] === undefined ? 0 : (m[4] === '-' ? -1 : 1) * (Number(m[5]) * 60 + Number(m[6]));
  if (offset < -720 || offset > 840) fail('updateSchedule: the UTC offset runs from -12:00 to +14:00');
  const at = `${m[2]}:${m[3]}`;
  return m[1] === 'daily' ? { every: 'day', at, utcOffsetMinutes: offset } : { every: 'week', weekday: WEEKDAYS.indexOf(m[1]), at, utcOffsetMinutes: offset };
}

/** `value` through one of the protocol's validators, its refusal as a config problem. */
function checked<T>(validate: (value: unknown, name: string) => T, value: unknown, name: string): T {
  try {
    return validate(value, name);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(`${name}: expected a non-empty string`);
  return value;
}

function hexBytes(value: unknown, name: string, min: number, max: number): Uint8Array {
  const hex = text(value, name);
  const length = hex.length / 2;
  if (!/^(?:[0-9A-Fa-f]{2})+$/.test(hex) || length < min || length > max) {
    fail(min === max ? `${name}: expected ${min} bytes as hex` : `${name}: expected ${min} to ${max} bytes as hex`);
  }
  return fromHex(hex, name);
}
