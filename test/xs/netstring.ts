/**
 * Netstrings (D. J. Bernstein, https://cr.yp.to/proto/netstrings.txt): `<decimal length>:<bytes>,`.
 * The framing xsnap-worker speaks on fd 3 (commands in) and fd 4 (replies out).
 */

export function encodeNetstring(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const prefix = new TextEncoder().encode(`${length}:`);
  const out = new Uint8Array(prefix.length + length + 1);
  out.set(prefix, 0);
  let offset = prefix.length;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  out[offset] = 0x2c; // ','
  return out;
}

/** The length prefix of a reply larger than this is a protocol error, not a reply to wait for. */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
const MAX_PREFIX_DIGITS = String(MAX_MESSAGE_BYTES).length;

/**
 * Splits a byte stream into netstring payloads. Feed chunks as they arrive; each complete
 * payload is returned in order. Throws on bad framing: the stream cannot be resynchronised.
 */
export class NetstringReader {
  private buffer = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer, 0);
    joined.set(chunk, this.buffer.length);
    const messages: Uint8Array[] = [];
    let start = 0;
    for (;;) {
      const colon = joined.indexOf(0x3a, start);
      if (colon < 0) {
        if (joined.length - start > MAX_PREFIX_DIGITS) throw new Error('netstring: length prefix too long');
        break;
      }
      const length = parseLength(joined.subarray(start, colon));
      const end = colon + 1 + length;
      if (joined.length < end + 1) break;
      if (joined[end] !== 0x2c) throw new Error(`netstring: expected ',' after ${length} bytes`);
      messages.push(joined.slice(colon + 1, end));
      start = end + 1;
    }
    this.buffer = joined.slice(start);
    return messages;
  }
}

function parseLength(digits: Uint8Array): number {
  if (digits.length === 0 || digits.length > MAX_PREFIX_DIGITS) throw new Error('netstring: bad length prefix');
  let n = 0;
  for (const d of digits) {
    if (d < 0x30 || d > 0x39) throw new Error('netstring: length prefix is not decimal');
    n = n * 10 + (d - 0x30);
  }
  if (n > MAX_MESSAGE_BYTES) throw new Error(`netstring: message of ${n} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  return n;
}
