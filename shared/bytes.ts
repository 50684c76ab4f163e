/**
 * Byte helpers. Inside paypad bytes are Uint8Array; hex and base64 exist only at the edges
 * (JSON, CLI, logs of non-secret values). Runs in XS and Node: no Node APIs and no Node Buffer type.
 */
import { PaypadError } from './errors';

/** Source of cryptographically secure random bytes (HAL RNG on the device, node:crypto on the host). */
export type Rng = (length: number) => Uint8Array;

/** Draws exactly `length` bytes from `rng`; a source that returns anything else is a fault, not a key. */
export function randomBytes(rng: Rng, length: number, purpose: string): Uint8Array {
  const bytes = rng(length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new PaypadError('BAD_LENGTH', `rng: expected ${length} bytes for ${purpose}`);
  }
  return bytes;
}

const HEX = '0123456789ABCDEF';

/** Uppercase hex, the way payments engineers write keys, blocks and MACs. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
  return out;
}

/** Parses hex in either case. `what` names the field in the error ("key", "block"). */
export function fromHex(hex: string, what = 'hex'): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0) {
    throw new PaypadError('BAD_HEX', `${what}: expected an even number of hex digits`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(hex.charCodeAt(2 * i));
    const lo = nibble(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new PaypadError('BAD_HEX', `${what}: not a hex digit at position ${2 * i + (hi < 0 ? 0 : 1)}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 65 && c <= 70) return c - 55; // A-F
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Compares in time that depends only on the lengths, never on where the bytes differ:
 * every MAC and check-value comparison goes through here.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function xorBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) throw new PaypadError('BAD_LENGTH', `xor: lengths differ (${a.length} and ${b.length})`);
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** Overwrites secret material once it is no longer needed. */
export function wipe(...buffers: Uint8Array[]): void {
  for (const b of buffers) b.fill(0);
}

/** ASCII only: TR-31 headers and protocol tags are printable ASCII by definition. */
export function asciiToBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw new PaypadError('BAD_ARGUMENT', `not printable ASCII at position ${i}`);
    out[i] = c;
  }
  return out;
}

export function bytesToAscii(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
}

/**
 * UTF-8 encode without TextEncoder (not present in every Moddable build). Two passes, the length
 * first, so no array of numbers is built: in XS every array element is a slot, and a local-link
 * answer carrying a device certificate (about 2 KB of JSON) would take some 40 KB of the ESP32's
 * 78 KB chunk heap for one growing array.
 */
export function utf8ToBytes(text: string): Uint8Array {
  let length = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    length += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  const out = new Uint8Array(length);
  let i = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0x80) {
      out[i++] = cp;
    } else if (cp < 0x800) {
      out[i++] = 0xc0 | (cp >> 6);
      out[i++] = 0x80 | (cp & 63);
    } else if (cp < 0x10000) {
      out[i++] = 0xe0 | (cp >> 12);
      out[i++] = 0x80 | ((cp >> 6) & 63);
      out[i++] = 0x80 | (cp & 63);
    } else {
      out[i++] = 0xf0 | (cp >> 18);
      out[i++] = 0x80 | ((cp >> 12) & 63);
      out[i++] = 0x80 | ((cp >> 6) & 63);
      out[i++] = 0x80 | (cp & 63);
    }
  }
  return out;
}

export function bytesToUtf8(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const n = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
    if (n === 0 || i + n > bytes.length) throw new PaypadError('BAD_ARGUMENT', `invalid UTF-8 at byte ${i}`);
    let cp = n === 1 ? b : b & (0xff >> (n + 1));
    for (let k = 1; k < n; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) throw new PaypadError('BAD_ARGUMENT', `invalid UTF-8 at byte ${i + k}`);
      cp = (cp << 6) | (c & 63);
    }
    out += String.fromCodePoint(cp);
    i += n;
  }
  return out;
}
