/**
 * What one ISO 8583 data element may hold, and the check every packed or unpacked value passes.
 *
 * Kinds (the ISO 8583:1987 attribute notation):
 *   n    numeric digits 0-9
 *   an   alphanumeric: A-Z, a-z, 0-9 and space (fixed fields are space-padded, as jPOS IF_CHAR does)
 *   ans  any printable ASCII character, 0x20-0x7E
 *   z    track 2 as characters (ISO/IEC 7813): digits and the field separator, '=' or 'D'
 *   xn   'x+n': 'C' (credit) or 'D' (debit) then digits; the length counts the sign
 *   b    binary: raw bytes, the length counts bytes
 * Lengths: fixed, LLVAR (two ASCII length digits) or LLLVAR (three).
 */
export type FieldKind = 'n' | 'an' | 'ans' | 'z' | 'xn' | 'b';
export type LengthType = 'fixed' | 'LLVAR' | 'LLLVAR';

export interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  readonly lengthType: LengthType;
  /** The exact length of a fixed field; the most a variable one may hold. */
  readonly length: number;
}

/** A field's value: text for every kind but b, bytes for b. */
export type FieldValue = string | Uint8Array;

/** Field number -> spec, for fields 2 ... 128 (field 1 is the secondary bitmap, never a value). */
export type FieldTable = ReadonlyMap<number, FieldSpec>;

const CHARACTERS: Record<Exclude<FieldKind, 'b' | 'xn'>, RegExp> = {
  n: /^[0-9]*$/,
  an: /^[A-Za-z0-9 ]*$/,
  ans: /^[\x20-\x7e]*$/,
  z: /^[0-9=D]*$/,
};
const SIGNED_AMOUNT = /^[CD][0-9]*$/;

/**
 * Why `value` cannot be this field, or undefined when it can. The reason names the rule broken,
 * never the value: PANs and track data must not reach an error message (X1).
 */
export function fieldValueProblem(spec: FieldSpec, value: unknown): string | undefined {
  if (spec.kind === 'b') {
    if (!(value instanceof Uint8Array)) return 'expected bytes';
  } else if (typeof value !== 'string') {
    return 'expected text';
  }
  const length = value.length;
  if (spec.lengthType === 'fixed' ? length !== spec.length : length > spec.length) {
    return spec.lengthType === 'fixed' ? `expected exactly ${spec.length} (got ${length})` : `expected at most ${spec.length} (got ${length})`;
  }
  if (typeof value === 'string' && spec.kind !== 'b') {
    const pattern = spec.kind === 'xn' ? SIGNED_AMOUNT : CHARACTERS[spec.kind];
    if (!pattern.test(value)) return `not ${spec.kind} characters`;
  }
  return undefined;
}

/** "field 35 (TRACK 2 DATA)" for error messages. */
export function describeField(field: number, spec: FieldSpec | undefined): string {
  return spec ? `field ${field} (${spec.name})` : `field ${field}`;
}
