/**
 * How the XS terminal harness puts a message on the worker's channel, both ways: JSON for the
 * structure, and every Uint8Array in it carried as raw bytes after the JSON, so no byte is ever
 * spelled as hex or base64. Hex would cost the XS meter about 80 compute units per byte each way
 * (more than AES on the same bytes), work the device's native HAL never does.
 *
 *   u32 BE  JSON length N | N bytes UTF-8 JSON | per blob: u32 BE length L | L bytes
 *
 * In the JSON a byte array is the object {"$bytes": i}, i its index in the blob list; decoding
 * turns it back into a Uint8Array (a copy, owned by the receiver). The key "$bytes" is reserved.
 * Runs in XS and Node: no Node APIs, and no TextEncoder/TextDecoder (the device has none; the
 * device-budget harness models that), so UTF-8 goes through shared/bytes as in the core.
 */
import { bytesToUtf8, utf8ToBytes } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';

const BYTES_KEY = '$bytes';
const LENGTH_BYTES = 4;

/**
 * A copy of `value` for JSON with each Uint8Array replaced by its reference into `blobs`. A walk of
 * our own rather than a JSON.stringify replacer or a JSON.parse reviver: those call back into
 * JavaScript from inside the native stringify/parse, which in XS puts the native frame and a
 * callback frame under every value, on the stack the device budget measures (the device's native
 * HAL pays none of this).
 */
function withBlobReferences(value: object, blobs: Uint8Array[]): object {
  const out: Record<string, unknown> = Array.isArray(value) ? ([] as unknown as Record<string, unknown>) : {};
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const item = (value as Record<string, unknown>)[keys[i]];
    if (item instanceof Uint8Array) out[keys[i]] = { [BYTES_KEY]: blobs.push(item) - 1 };
    else out[keys[i]] = typeof item === 'object' && item !== null ? withBlobReferences(item, blobs) : item;
  }
  return out;
}

/** `value` (fresh from JSON.parse) with each blob reference replaced by its blob, in place. */
function resolveBlobReferences(value: Record<string, unknown>, blobs: readonly Uint8Array[], used: Set<number>): void {
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const item = value[keys[i]];
    if (typeof item !== 'object' || item === null) continue;
    const record = item as Record<string, unknown>;
    if (Array.isArray(item) || !(BYTES_KEY in record)) {
      resolveBlobReferences(record, blobs, used);
      continue;
    }
    const index = record[BYTES_KEY];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= blobs.length || used.has(index)) {
      throw malformed('a byte reference names no blob, or one already used');
    }
    used.add(index);
    value[keys[i]] = blobs[index];
  }
}

export function encodeWire(value: unknown): Uint8Array {
  const blobs: Uint8Array[] = [];
  const json = utf8ToBytes(JSON.stringify(typeof value === 'object' && value !== null ? withBlobReferences(value, blobs) : value));
  return frameWire(json, blobs);
}

function frameWire(json: Uint8Array, blobs: readonly Uint8Array[]): Uint8Array {
  let length = LENGTH_BYTES + json.length;
  for (const blob of blobs) length += LENGTH_BYTES + blob.length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length);
  out.set(json, LENGTH_BYTES);
  let offset = LENGTH_BYTES + json.length;
  for (const blob of blobs) {
    view.setUint32(offset, blob.length);
    out.set(blob, offset + LENGTH_BYTES);
    offset += LENGTH_BYTES + blob.length;
  }
  return out;
}

function malformed(problem: string): PaypadError {
  return new PaypadError('BAD_ARGUMENT', `wire message: ${problem}`);
}

/** The message `encodeWire` made. BAD_ARGUMENT if the bytes are not one. */
export function decodeWire(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < LENGTH_BYTES) throw malformed('shorter than its length field');
  const jsonEnd = LENGTH_BYTES + view.getUint32(0);
  if (jsonEnd > bytes.length) throw malformed('JSON length beyond the end');
  const blobs: Uint8Array[] = [];
  for (let offset = jsonEnd; offset < bytes.length; ) {
    if (offset + LENGTH_BYTES > bytes.length) throw malformed('blob length field cut short');
    const end = offset + LENGTH_BYTES + view.getUint32(offset);
    if (end > bytes.length) throw malformed('blob beyond the end');
    // A plain Uint8Array copy, whatever view (a Node Buffer, say) the message arrived in.
    blobs.push(new Uint8Array(bytes.subarray(offset + LENGTH_BYTES, end)));
    offset = end;
  }
  let json: string;
  try {
    json = bytesToUtf8(bytes.subarray(LENGTH_BYTES, jsonEnd));
  } catch {
    throw malformed('JSON part is not UTF-8');
  }
  const used = new Set<number>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw malformed('JSON part does not parse');
  }
  // A message is an object; the root itself is never a blob reference.
  if (typeof parsed === 'object' && parsed !== null) resolveBlobReferences(parsed as Record<string, unknown>, blobs, used);
  if (used.size !== blobs.length) throw malformed('a blob is referenced by nothing');
  return parsed;
}
