/**
 * The acquirer link's profile of ISO 8583:1987: only the data elements the link's messages use
 * (a message with any other field is refused as malformed, so nothing unexpected passes through
 * POSP unseen), each as ISO87_FIELDS defines it, except field 52.
 *
 * Field 52: the 1987 edition defines PIN data as b 8, the size of a TDES PIN block (ISO 9564-1
 * formats 0-3). paypad's PIN blocks are ISO 9564-1 format 4: one AES block, 16 bytes. The link
 * carries them whole in field 52 redefined as b 16 (fixed), rather than split across a private
 * field, so the PIN block stays in the field every ISO 8583 reader looks for it in and a short or
 * TDES-sized block is refused at the edge. Both ends of the link are ours (POSP and the bank
 * simulators); a real acquirer's profile would say the same in its interface specification.
 */
import type { FieldSpec, FieldTable } from './fieldSpec';
import { ISO87_FIELDS } from './iso87Fields';

/** ISO 9564-1:2017 format 4 PIN block length. */
export const PIN_BLOCK_BYTES = 16;

const USED = [2, 3, 4, 7, 11, 12, 13, 14, 15, 22, 35, 37, 38, 39, 41, 42, 48, 49, 50, 52, 53, 64, 66, 70, 74, 75, 76, 77, 86, 87, 88, 89, 90, 128];

function iso87(field: number): FieldSpec {
  const spec = ISO87_FIELDS.get(field);
  if (!spec) throw new Error(`ISO87_FIELDS has no field ${field}`);
  return spec;
}

export const ACQUIRER_LINK_FIELDS: FieldTable = new Map<number, FieldSpec>(
  USED.map((field) => [field, field === 52 ? Object.freeze({ ...iso87(52), length: PIN_BLOCK_BYTES }) : iso87(field)]),
);
