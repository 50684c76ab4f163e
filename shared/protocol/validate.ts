/**
 * A tiny schema helper, so every protocol message is declared once and validated by the same code
 * on the host and in the firmware (ARCHITECTURE §4). Not a dependency: XS on an ESP32 gets only
 * @noble/*, and a message needs no more than this.
 *
 * A schema is a function (value, path) -> typed value that throws PaypadError PROTOCOL_MALFORMED
 * naming the field path ("signOnResponse.keys[2].kcv: expected 10 hex digits"). Messages name
 * fields, types and lengths, never the values received: a value could be key material (X1).
 * Objects reject unknown fields; every string has a maximum length, counted in code points so
 * Node (UTF-16) and the device (UTF-8 strings) agree on it.
 */
import { bytesToUtf8, utf8ToBytes } from '../bytes';
import { PaypadError } from '../errors';

export type Schema<T> = (value: unknown, path: string) => T;
export type Infer<S> = S extends Schema<infer T> ? T : never;
/** Marks an object field that may be absent (JSON null is not absence: it is refused). */
export type OptionalSchema<T> = Schema<T> & { readonly optional: true };

type Shape = Readonly<Record<string, Schema<unknown>>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { readonly optional: true } ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<S extends Shape> = Simplify<
  { readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { readonly [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

/** Throws the one error every schema throws. */
export function fail(path: string, problem: string): never {
  throw new PaypadError('PROTOCOL_MALFORMED', `${path}: ${problem}`);
}

/** C0, DEL and C1 controls, and lone surrogates (not encodable as UTF-8): never in text for people. */
export function isControlOrSurrogate(codePoint: number): boolean {
  return codePoint < 0x20 || (codePoint >= 0x7f && codePoint <= 0x9f) || (codePoint >= 0xd800 && codePoint <= 0xdfff);
}

/** Code points in `text`, counting no further than max + 1: an oversized string costs no full scan. */
function codePointLength(text: string, max: number): number {
  let n = 0;
  for (const _ of text) if (++n > max) break;
  return n;
}

/**
 * A string of `min`..`max` characters matching `pattern` (anchor it), described to people as
 * `describe` ("4 to 32 of A-Z 0-9 -"). The length is checked before the pattern runs.
 */
export function string(rule: { min: number; max: number; pattern: RegExp; describe: string }): Schema<string> {
  // What a schema closes over is const: a preloaded module's closures then stay in flash (Moddable preload).
  const { min, max, pattern, describe } = rule;
  return (value, path) => {
    if (typeof value !== 'string') fail(path, `expected a string of ${describe}`);
    const length = codePointLength(value, max);
    if (length < min) fail(path, `expected ${describe}, got ${length} characters`);
    if (length > max) fail(path, `expected ${describe}, got more than ${max} characters`);
    if (!pattern.test(value)) fail(path, `expected ${describe}, found a character outside that set`);
    return value;
  };
}

/** Text for people (names, error messages): `min`..`max` code points, no control characters. */
export function text(minimum: number, maximum: number): Schema<string> {
  const min = minimum;
  const max = maximum;
  return (value, path) => {
    if (typeof value !== 'string') fail(path, 'expected a string');
    let length = 0;
    for (const ch of value) {
      if (++length > max) fail(path, `expected ${min} to ${max} characters, got more than ${max}`);
      if (isControlOrSurrogate(ch.codePointAt(0) as number)) fail(path, `control character or lone surrogate at position ${length - 1}`);
    }
    if (length < min) fail(path, `expected ${min} to ${max} characters, got ${length}`);
    return value;
  };
}

const HEX_DIGITS = /^[0-9A-Fa-f]*$/;

/** Hex of `minBytes`..`maxBytes` bytes in either case, returned uppercase (shared/bytes toHex). */
export function hex(fewest: number, most: number): Schema<string> {
  const minBytes = fewest;
  const maxBytes = most;
  const describe = minBytes === maxBytes ? `${2 * minBytes} hex digits` : `${2 * minBytes} to ${2 * maxBytes} hex digits (whole bytes)`;
  return (value, path) => {
    if (typeof value !== 'string') fail(path, `expected a string of ${describe}`);
    const n = value.length;
    if (n % 2 !== 0 || n < 2 * minBytes || n > 2 * maxBytes) fail(path, `expected ${describe}, got ${n} characters`);
    if (!HEX_DIGITS.test(value)) fail(path, `expected ${describe}, found a character that is not a hex digit`);
    return value.toUpperCase();
  };
}

/** An integer in min..max (both safe integers). */
export function integer(minimum: number, maximum: number): Schema<number> {
  const min = minimum;
  const max = maximum;
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) fail(path, `expected an integer from ${min} to ${max}`);
    return value;
  };
}

/** Exactly one of the listed JSON scalars. */
export function oneOf<const T extends readonly (string | number | boolean)[]>(...allowed: T): Schema<T[number]> {
  const values = Object.freeze(allowed.slice()) as readonly T[number][];
  const describe = values.map((v) => JSON.stringify(v)).join(', ');
  return (value, path) => {
    if (!values.includes(value as T[number])) fail(path, values.length === 1 ? `expected ${describe}` : `expected one of ${describe}`);
    return value as T[number];
  };
}

/**
 * The message version. A number other than `current` is PROTOCOL_UNSUPPORTED_VERSION rather than
 * malformed, so a firmware/host version mismatch is reported as what it is. Declare `v` first in
 * an object: fields are checked in declaration order, so a newer message fails on `v` before its
 * new fields are seen as unknown.
 */
export function version<const V extends number>(speaks: V): Schema<V> {
  const current = speaks;
  return (value, path) => {
    if (value === current) return current;
    if (typeof value === 'number') {
      throw new PaypadError('PROTOCOL_UNSUPPORTED_VERSION', `${path}: version ${value} is not supported; this side speaks ${current}`);
    }
    return fail(path, `expected the number ${current}`);
  };
}

export function optional<T>(inner: Schema<T>): OptionalSchema<T> {
  const schema = inner;
  return Object.assign((value: unknown, path: string) => schema(value, path), { optional: true as const });
}

export function array<T>(each: Schema<T>, minimum: number, maximum: number): Schema<readonly T[]> {
  const item = each;
  const min = minimum;
  const max = maximum;
  const describe = min === max ? `${min} items` : `${min} to ${max} items`;
  return (value, path) => {
    if (!Array.isArray(value)) fail(path, `expected an array of ${describe}`);
    if (value.length < min || value.length > max) fail(path, `expected ${describe}, got ${value.length}`);
    return value.map((v, i) => item(v, `${path}[${i}]`));
  };
}

/** A JSON object (not null, not an array), as a record to read fields from. */
export function plainObject(value: unknown, path: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'expected an object');
  return value as Record<string, unknown>;
}

const SHOWABLE_FIELD_NAME = /^[A-Za-z0-9_]{1,32}$/;

/**
 * An object with exactly the fields of `shape`. Fields are validated in declaration order, then
 * any field not in the shape is refused. The result is a new object holding only the declared
 * fields, so nothing unvalidated (or a "__proto__" key) travels on.
 */
export function object<const S extends Shape>(fields: S): Schema<ObjectOf<S>> {
  const shape = Object.freeze({ ...fields }) as S;
  const keys = Object.freeze(Object.keys(shape));
  return (value, path) => {
    const input = plainObject(value, path);
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const schema = shape[key];
      const fieldPath = `${path}.${key}`;
      if (!Object.prototype.hasOwnProperty.call(input, key) || input[key] === undefined) {
        if ((schema as Partial<OptionalSchema<unknown>>).optional) continue;
        fail(fieldPath, 'missing');
      }
      out[key] = schema(input[key], fieldPath);
    }
    for (const key of Object.keys(input)) {
      if (!Object.prototype.hasOwnProperty.call(shape, key)) {
        // A received name is shown only when it is a short plain identifier (it is attacker-chosen).
        fail(SHOWABLE_FIELD_NAME.test(key) ? `${path}.${key}` : path, 'unknown field');
      }
    }
    return out as ObjectOf<S>;
  };
}

/** JSON text of a message as UTF-8 bytes: what goes on the wire and what a MAC covers. */
export function encodeJson(message: unknown): Uint8Array {
  return utf8ToBytes(JSON.stringify(message));
}

/**
 * UTF-8 JSON bytes of at most `maxBytes` -> the validated message. Size first, so an oversized
 * body costs no decoding; invalid UTF-8 and invalid JSON are PROTOCOL_MALFORMED like any bad field.
 */
export function decodeJson<T>(bytes: Uint8Array, maxBytes: number, schema: Schema<T>, path: string): T {
  if (bytes.length > maxBytes) fail(path, `${bytes.length} bytes exceed the limit of ${maxBytes}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytesToUtf8(bytes));
  } catch {
    fail(path, 'not valid UTF-8 JSON');
  }
  return schema(parsed, path);
}
