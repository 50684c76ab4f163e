/**
 * Packs and unpacks ISO 8583:1987 messages with a field table (fieldSpec.ts), in the encoding of
 * jPOS's ISO87APackagerBBitmap: the MTI, numeric, text and length-prefix digits as ASCII, the
 * bitmaps binary, and binary (b) fields as raw bytes, the way ISO87BPackager carries them.
 *
 * Strict both ways. pack() refuses any value its field does not allow (ISO8583_FIELD_INVALID) and
 * never pads or trims: a value is sent exactly as given. unpack() refuses bytes that are truncated,
 * carry a field the table does not define, a bad length prefix, a value of the wrong kind or
 * length, an empty secondary bitmap or trailing bytes (ISO8583_MALFORMED), and returns a message
 * only when every byte was accounted for. The encoding is therefore canonical: pack(unpack(b))
 * gives back b, which is what lets a MAC be verified over a message re-packed from its fields (mac.ts).
 */
import { concatBytes } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import { BITMAP_BYTES, bitmapFields, encodeBitmap, hasSecondaryBitmap } from './bitmap';
import { type FieldSpec, type FieldTable, type FieldValue, describeField, fieldValueProblem } from './fieldSpec';

/** An ISO 8583 message: its MTI and its data elements by number (absent fields left out or undefined). */
export interface Iso8583Message {
  readonly mti: string;
  readonly fields: Readonly<Partial<Record<number, FieldValue>>>;
}

export interface Packager {
  readonly table: FieldTable;
  pack(message: Iso8583Message): Uint8Array;
  unpack(bytes: Uint8Array): Iso8583Message;
}

const MTI_BYTES = 4;
/** ISO 8583: the first MTI digit is the version, 0 for 1987. */
const MTI_1987 = /^0[0-9]{3}$/;
const PREFIX_DIGITS: Record<FieldSpec['lengthType'], number> = { fixed: 0, LLVAR: 2, LLLVAR: 3 };

function invalid(message: string): PaypadError {
  return new PaypadError('ISO8583_FIELD_INVALID', message);
}

function malformed(message: string): PaypadError {
  return new PaypadError('ISO8583_MALFORMED', `ISO 8583 message: ${message}`);
}

function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function asciiText(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
}

export function createPackager(table: FieldTable): Packager {
  function specFor(field: number): FieldSpec | undefined {
    return table.get(field);
  }

  function pack(message: Iso8583Message): Uint8Array {
    if (typeof message !== 'object' || message === null || typeof message.fields !== 'object' || message.fields === null) {
      throw invalid('expected a message { mti, fields }');
    }
    if (typeof message.mti !== 'string' || !MTI_1987.test(message.mti)) throw invalid('MTI: expected 4 digits starting with 0 (ISO 8583:1987)');
    const present: number[] = [];
    for (const key of Object.keys(message.fields)) {
      const field = Number(key);
      if (!Number.isInteger(field) || String(field) !== key || !specFor(field)) {
        throw invalid(`field ${key} is not defined by this packager`);
      }
      if (message.fields[field] !== undefined) present.push(field);
    }
    present.sort((a, b) => a - b);
    const parts: Uint8Array[] = [asciiBytes(message.mti), encodeBitmap(present)];
    for (const field of present) {
      const spec = specFor(field) as FieldSpec;
      const value = message.fields[field];
      const problem = fieldValueProblem(spec, value);
      if (problem) throw invalid(`${describeField(field, spec)}: ${problem}`);
      const prefixDigits = PREFIX_DIGITS[spec.lengthType];
      if (prefixDigits > 0) parts.push(asciiBytes(String((value as FieldValue).length).padStart(prefixDigits, '0')));
      parts.push(value instanceof Uint8Array ? value : asciiBytes(value as string));
    }
    return concatBytes(...parts);
  }

  function unpack(bytes: Uint8Array): Iso8583Message {
    if (!(bytes instanceof Uint8Array)) throw malformed('expected bytes');
    if (bytes.length < MTI_BYTES + BITMAP_BYTES) throw malformed(`truncated: ${bytes.length} bytes cannot hold an MTI and a bitmap`);
    const mti = asciiText(bytes.subarray(0, MTI_BYTES));
    if (!MTI_1987.test(mti)) throw malformed('MTI: expected 4 ASCII digits starting with 0 (ISO 8583:1987)');
    let offset = MTI_BYTES;
    const bitmapLength = hasSecondaryBitmap(bytes[offset]) ? 2 * BITMAP_BYTES : BITMAP_BYTES;
    if (bytes.length < offset + bitmapLength) throw malformed('truncated in the secondary bitmap');
    const bitmap = bytes.subarray(offset, offset + bitmapLength);
    offset += bitmapLength;
    if (bitmapLength > BITMAP_BYTES && bitmap.subarray(BITMAP_BYTES).every((b) => b === 0)) {
      throw malformed('a secondary bitmap that marks no field (bit 1 must be clear then)');
    }
    const fields: Record<number, FieldValue> = {};
    for (const field of bitmapFields(bitmap)) {
      const spec = specFor(field);
      if (!spec) throw malformed(`${describeField(field, spec)} is not defined by this packager`);
      const where = describeField(field, spec);
      let length = spec.length;
      const prefixDigits = PREFIX_DIGITS[spec.lengthType];
      if (prefixDigits > 0) {
        if (bytes.length < offset + prefixDigits) throw malformed(`truncated in the length of ${where}`);
        const prefix = asciiText(bytes.subarray(offset, offset + prefixDigits));
        if (!/^[0-9]+$/.test(prefix)) throw malformed(`${where}: length prefix is not ${prefixDigits} ASCII digits`);
        length = Number(prefix);
        if (length > spec.length) throw malformed(`${where}: length ${length} exceeds its maximum ${spec.length}`);
        offset += prefixDigits;
      }
      if (bytes.length < offset + length) throw malformed(`truncated in ${where}: ${length} bytes announced, ${bytes.length - offset} left`);
      const raw = bytes.slice(offset, offset + length);
      offset += length;
      const value = spec.kind === 'b' ? raw : asciiText(raw);
      const problem = fieldValueProblem(spec, value);
      if (problem) throw malformed(`${where}: ${problem}`);
      fields[field] = value;
    }
    if (offset !== bytes.length) throw malformed(`${bytes.length - offset} bytes after the last field`);
    return Object.freeze({ mti, fields: Object.freeze(fields) });
  }

  return Object.freeze({ table, pack, unpack });
}
