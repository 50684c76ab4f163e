/**
 * The X1 search: does any of these keys appear in any of these bytes? SPEC X1: no TK, TMK or
 * working key is ever written to a log, a database row or a response in clear.
 *
 * A key is looked for as its raw bytes (binary files, BLOB columns) and in every text form the
 * code base or a library could plausibly print it: hex in upper case (shared/bytes toHex) and in
 * lower case (Buffer#toString('hex'), PostgreSQL bytea), base64 (RFC 4648 §4) and base64url
 * (§5), each with and without '=' padding. Only the key's own encodings: a key inside a longer
 * base64 text at another byte alignment would be missed, which the brief accepts; hex has no
 * alignment problem at byte boundaries.
 */

export interface ScanSource {
  /** Where the bytes came from, for the report ("log host.log", "file data/paypad.sqlite"...). */
  readonly name: string;
  /** The kind of output, for the counts: log, cli, database, file, http. */
  readonly kind: string;
  readonly bytes: Uint8Array;
}

export interface SecretKey {
  /** "PP-1A2B3C TMK": names the key, never shows it. */
  readonly label: string;
  readonly key: Uint8Array;
}

export interface KeyEncoding {
  readonly encoding: string;
  readonly needle: Uint8Array;
}

export interface LeakHit {
  readonly key: string;
  readonly encoding: string;
  readonly source: string;
  readonly offset: number;
}

export const ENCODINGS = ['raw', 'HEX', 'hex', 'base64', 'base64 unpadded', 'base64url', 'base64url unpadded'] as const;

/** The key in each form of ENCODINGS, as the bytes a text file or stream would hold (ASCII). */
export function keyEncodings(key: Uint8Array): KeyEncoding[] {
  const buffer = Buffer.from(key);
  const hex = buffer.toString('hex');
  const base64 = buffer.toString('base64');
  const base64url = buffer.toString('base64url');
  const text: Record<Exclude<(typeof ENCODINGS)[number], 'raw'>, string> = {
    HEX: hex.toUpperCase(),
    hex,
    base64,
    'base64 unpadded': base64.replace(/=+$/, ''),
    base64url: base64url.padEnd(base64.length, '='),
    'base64url unpadded': base64url,
  };
  return [{ encoding: 'raw', needle: key.slice() }, ...Object.entries(text).map(([encoding, value]) => ({ encoding, needle: new Uint8Array(Buffer.from(value, 'ascii')) }))];
}

/** Every place any key occurs in any source, in any encoding (a padded base64 hit also counts as unpadded). */
export function findKeys(keys: readonly SecretKey[], sources: readonly ScanSource[]): LeakHit[] {
  const hits: LeakHit[] = [];
  for (const { label, key } of keys) {
    const needles = keyEncodings(key);
    for (const source of sources) {
      const haystack = Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength);
      for (const { encoding, needle } of needles) {
        for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
          hits.push({ key: label, encoding, source: source.name, offset: at });
        }
      }
    }
  }
  return hits;
}

/** What was scanned, per kind: how many sources and bytes. */
export function scanTotals(sources: readonly ScanSource[]): Record<string, { sources: number; bytes: number }> {
  const totals: Record<string, { sources: number; bytes: number }> = {};
  for (const { kind, bytes } of sources) {
    const total = (totals[kind] ??= { sources: 0, bytes: 0 });
    total.sources++;
    total.bytes += bytes.byteLength;
  }
  return totals;
}
