/**
 * ISO 8583:1987 bitmaps, binary (8 bytes each). Bit 1 of the primary bitmap says a secondary
 * bitmap follows; bits 2-64 and 65-128 say which data elements are present, most significant bit first.
 */

export const BITMAP_BYTES = 8;

/** The primary bitmap, and the secondary one when any field above 64 is present. */
export function encodeBitmap(fields: readonly number[]): Uint8Array {
  const secondary = fields.some((field) => field > 64);
  const bitmap = new Uint8Array(secondary ? 2 * BITMAP_BYTES : BITMAP_BYTES);
  if (secondary) bitmap[0] |= 0x80;
  for (const field of fields) bitmap[(field - 1) >> 3] |= 0x80 >> ((field - 1) & 7);
  return bitmap;
}

/**
 * The field numbers a bitmap marks present, ascending, without field 1. `bitmap` holds the primary
 * bitmap and, when its bit 1 is set, the secondary one.
 */
export function bitmapFields(bitmap: Uint8Array): number[] {
  const fields: number[] = [];
  for (let field = 2; field <= bitmap.length * 8; field++) {
    if (bitmap[(field - 1) >> 3] & (0x80 >> ((field - 1) & 7))) fields.push(field);
  }
  return fields;
}

export function hasSecondaryBitmap(primaryFirstByte: number): boolean {
  return (primaryFirstByte & 0x80) !== 0;
}
