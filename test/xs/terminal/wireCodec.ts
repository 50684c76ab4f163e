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

export function encodeWire(value: unknown): Uint8Array {
  const blobs: Uint8Array[] = [];
  // JSON.stringify hands the replacer each Uint8Array before it would become {"0":..,"1":..}.
  const json = utf8ToBytes(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? { [BYTES_KEY]: blobs.push(v) - 1 } : v)));
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
  let value: unknown;
  try {
    value = JSON.parse(json, (_key, v: unknown) => {
      if (typeof v !== 'object' || v === null || !(BYTES_KEY in v)) return v;
      const index = (v as Record<string, unknown>)[BYTES_KEY];
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= blobs.length || used.has(index)) {
        throw malformed('a byte reference names no blob, or one already used');
      }
      used.add(index);
      return blobs[index];
    });
  } catch (e) {
    if (e instanceof PaypadError) throw e;
    throw malformed('JSON part does not parse');
  }
  if (used.size !== blobs.length) throw malformed('a blob is referenced by nothing');
  return value;
}
