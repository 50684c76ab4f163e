/**
 * TR-31 / ANSI X9.143 key block header: parsing and building. The header is printable ASCII and
 * travels in clear; it is bound to the key by the block's MAC (see tr31.ts).
 *
 * Layout (ANSI X9.143:2021 §6.2 table 1; TR-31:2018 §A.2 table 4), by character offset:
 *    0 version id (1)           1 block length (4 decimal digits, the whole block)
 *    5 key usage (2)            7 algorithm (1)          8 mode of use (1)
 *    9 key version number (2)  11 exportability (1)     12 number of optional blocks (2 digits)
 *   14 key context (1)         15 reserved, '0' (1)     16 optional blocks
 * An optional block is id (2) + length (2 hex) + data, the length counting the whole block. A block
 * longer than 255 characters writes length '00', then the length of the length in bytes (2 hex),
 * then the length itself (2 hex digits per byte). The header length must be a multiple of the
 * version's cipher block size; a final padding block 'PB' makes it so.
 */
import { PaypadError } from '../errors';

export interface Tr31OptionalBlock {
  /** Two alphanumeric characters, e.g. 'KS', 'KP', 'TS', 'CT', 'PB'. */
  readonly id: string;
  /** Printable ASCII; its meaning depends on the id (X9.143:2021 §6.3.6). */
  readonly data: string;
}

export interface Tr31Header {
  readonly versionId: string;
  readonly keyUsage: string;
  readonly algorithm: string;
  readonly modeOfUse: string;
  /** '00' when key versioning is not used (X9.143:2021 §6.3.4 table 5). */
  readonly keyVersionNumber: string;
  /** 'E', 'N' or 'S' (X9.143:2021 §6.3.5 table 6). */
  readonly exportability: string;
  /** '0' determined by the wrapping key, '1' storage only, '2' exchange only (X9.143:2021 §6.2). */
  readonly keyContext: string;
  readonly optionalBlocks: readonly Tr31OptionalBlock[];
}

/** What a caller must say to build a header; the rest takes the values of a plain TR-31:2018 block. */
export interface Tr31HeaderInit {
  readonly versionId?: string;
  readonly keyUsage: string;
  readonly algorithm: string;
  readonly modeOfUse: string;
  readonly keyVersionNumber?: string;
  readonly exportability: string;
  readonly keyContext?: string;
  readonly optionalBlocks?: readonly Tr31OptionalBlock[];
}

export interface ParsedTr31Header {
  readonly header: Tr31Header;
  /** Characters taken by the header, optional blocks included. */
  readonly headerLength: number;
  /** The block length the header claims; the caller compares it with what it received. */
  readonly declaredLength: number;
}

/** The length field has four decimal digits. */
export const TR31_MAX_BLOCK_LENGTH = 9999;
const FIXED_HEADER_LENGTH = 16;
const PADDING_BLOCK = 'PB';
const MAX_OPTIONAL_BLOCKS = 99;
const MAX_SHORT_BLOCK_LENGTH = 0xff;

/**
 * Cipher block size of each version X9.143 defines: the header, and so the padding block, aligns
 * to it. A and C (TDES, variant binding), B (TDES, CMAC derivation), D (AES, CMAC derivation).
 */
const CIPHER_BLOCK_SIZE: Readonly<Record<string, number>> = Object.freeze({ A: 8, B: 8, C: 8, D: 16 });

/** Throws TR31_UNSUPPORTED for a version X9.143 does not define. */
export function cipherBlockSize(versionId: string): number {
  const size = CIPHER_BLOCK_SIZE[versionId];
  if (size === undefined) throw new PaypadError('TR31_UNSUPPORTED', `key block version '${versionId}' is not defined by X9.143`);
  return size;
}

function malformed(message: string): PaypadError {
  return new PaypadError('TR31_MALFORMED', message);
}

function isAlphanumeric(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isPrintable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function checkAlphanumeric(value: string, length: number, field: string): void {
  let ok = typeof value === 'string' && value.length === length;
  for (let i = 0; ok && i < length; i++) ok = isAlphanumeric(value.charCodeAt(i));
  if (!ok) throw malformed(`${field} must be ${length} alphanumeric character${length > 1 ? 's' : ''}`);
}

/** Value of `length` decimal digits at `offset`, or -1. */
function decimalAt(text: string, offset: number, length: number): number {
  if (offset + length > text.length) return -1;
  let value = 0;
  for (let i = offset; i < offset + length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  return value;
}

/** Value of `length` uppercase hex digits at `offset`, or -1 (X9.143 writes hex as 0-9, A-F). */
function hexAt(text: string, offset: number, length: number): number {
  if (offset + length > text.length) return -1;
  let value = 0;
  for (let i = offset; i < offset + length; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

function hex(value: number, digits: number): string {
  return value.toString(16).toUpperCase().padStart(digits, '0');
}

/** The checks every header passes, parsed or built: one set of rules for both directions. */
function checkFields(h: Tr31Header): void {
  checkAlphanumeric(h.versionId, 1, 'version id');
  cipherBlockSize(h.versionId);
  checkAlphanumeric(h.keyUsage, 2, 'key usage');
  checkAlphanumeric(h.algorithm, 1, 'algorithm');
  checkAlphanumeric(h.modeOfUse, 1, 'mode of use');
  checkAlphanumeric(h.keyVersionNumber, 2, 'key version number');
  if (h.exportability !== 'E' && h.exportability !== 'N' && h.exportability !== 'S') {
    throw malformed('exportability must be E, N or S');
  }
  if (h.keyContext !== '0' && h.keyContext !== '1' && h.keyContext !== '2') {
    throw malformed('key context must be 0, 1 or 2');
  }
  if (!Array.isArray(h.optionalBlocks)) throw malformed('optional blocks must be an array');
  if (h.optionalBlocks.length > MAX_OPTIONAL_BLOCKS) throw malformed(`at most ${MAX_OPTIONAL_BLOCKS} optional blocks fit the header`);
  for (let i = 0; i < h.optionalBlocks.length; i++) {
    const b = h.optionalBlocks[i];
    checkAlphanumeric(b.id, 2, `optional block ${i + 1} id`);
    if (typeof b.data !== 'string' || !isPrintable(b.data)) throw malformed(`optional block ${b.id} data must be printable ASCII`);
    // X9.143:2021 §6.3.6: the padding block, when present, is the last one.
    if (b.id === PADDING_BLOCK && i !== h.optionalBlocks.length - 1) throw malformed('optional block PB must be the last one');
  }
}

/**
 * Reads the header at the start of `text` (a whole key block, or a header alone) and checks every
 * field. Throws TR31_MALFORMED for anything out of shape, TR31_UNSUPPORTED for an unknown version.
 */
export function parseKeyBlockHeader(text: string): ParsedTr31Header {
  if (typeof text !== 'string' || text.length < FIXED_HEADER_LENGTH) {
    throw malformed(`a key block header has at least ${FIXED_HEADER_LENGTH} characters`);
  }
  if (!isPrintable(text.slice(0, FIXED_HEADER_LENGTH))) throw malformed('header must be printable ASCII');
  const declaredLength = decimalAt(text, 1, 4);
  if (declaredLength < 0) throw malformed('block length must be 4 decimal digits');
  const count = decimalAt(text, 12, 2);
  if (count < 0) throw malformed('number of optional blocks must be 2 decimal digits');
  if (text[15] !== '0') throw malformed('reserved header character must be 0');

  const optionalBlocks: Tr31OptionalBlock[] = [];
  let pos = FIXED_HEADER_LENGTH;
  for (let i = 0; i < count; i++) {
    const where = `optional block ${i + 1}`;
    let length = hexAt(text, pos + 2, 2);
    let dataStart = pos + 4;
    if (length === 0) {
      // Extended length: the next 2 hex digits give the length field's size in bytes.
      const lengthBytes = hexAt(text, pos + 4, 2);
      if (lengthBytes < 1 || lengthBytes > 4) throw malformed(`${where}: length of length must be 1 to 4 bytes`);
      length = hexAt(text, pos + 6, 2 * lengthBytes);
      dataStart = pos + 6 + 2 * lengthBytes;
    }
    if (length < 0) throw malformed(`${where}: length must be uppercase hex`);
    if (length < dataStart - pos) throw malformed(`${where}: length does not cover its own id and length fields`);
    if (pos + length > text.length) throw malformed(`${where}: runs past the end of the block`);
    optionalBlocks.push({ id: text.slice(pos, pos + 2), data: text.slice(dataStart, pos + length) });
    pos += length;
  }

  const header: Tr31Header = {
    versionId: text[0],
    keyUsage: text.slice(5, 7),
    algorithm: text[7],
    modeOfUse: text[8],
    keyVersionNumber: text.slice(9, 11),
    exportability: text[11],
    keyContext: text[14],
    optionalBlocks,
  };
  checkFields(header);
  const blockSize = cipherBlockSize(header.versionId);
  if (pos % blockSize !== 0) {
    throw malformed(`header length ${pos} is not a multiple of ${blockSize}: a PB optional block must pad it`);
  }
  return { header, headerLength: pos, declaredLength };
}

/** Fills the defaults of a plain block: version D, no key version, no context, no optional blocks. */
export function completeKeyBlockHeader(init: Tr31HeaderInit): Tr31Header {
  if (typeof init !== 'object' || init === null) throw malformed('header must be a string or an object');
  const header: Tr31Header = {
    versionId: init.versionId ?? 'D',
    keyUsage: init.keyUsage,
    algorithm: init.algorithm,
    modeOfUse: init.modeOfUse,
    keyVersionNumber: init.keyVersionNumber ?? '00',
    exportability: init.exportability,
    keyContext: init.keyContext ?? '0',
    optionalBlocks: init.optionalBlocks ?? [],
  };
  checkFields(header);
  return header;
}

function encodeOptionalBlock(block: Tr31OptionalBlock): string {
  const shortLength = 4 + block.data.length;
  if (shortLength <= MAX_SHORT_BLOCK_LENGTH) return block.id + hex(shortLength, 2) + block.data;
  // Extended form with a 2-byte length, as in the X9.143:2021 §8.5 and §8.6 examples: id, '00',
  // '02', 4 hex digits, data; the length counts all of it.
  const extendedLength = 10 + block.data.length;
  if (extendedLength > 0xffff) throw malformed(`optional block ${block.id} is too long for a key block`);
  return block.id + '0002' + hex(extendedLength, 4) + block.data;
}

/**
 * Writes the header of a block whose payload and MAC take `bodyLength` characters. Optional blocks
 * are written in the short form up to 255 characters, else in the extended form. The padding
 * block exists only to align the header (X9.143:2021 §6.3.6), so a PB block the caller gave is
 * dropped and, when the header needs one, a PB of '0's is written, as in the X9.143:2021 §8
 * examples.
 */
export function buildKeyBlockHeader(init: Tr31HeaderInit, bodyLength: number): string {
  return formatKeyBlockHeader(completeKeyBlockHeader(init), bodyLength);
}

/** buildKeyBlockHeader for a header completeKeyBlockHeader (or parseKeyBlockHeader) already checked. */
export function formatKeyBlockHeader(header: Tr31Header, bodyLength: number): string {
  const blockSize = cipherBlockSize(header.versionId);
  const given = header.optionalBlocks;
  const blocks = given.length > 0 && given[given.length - 1].id === PADDING_BLOCK ? given.slice(0, -1) : given;
  let optional = '';
  for (const b of blocks) optional += encodeOptionalBlock(b);
  let count = blocks.length;
  const misalignment = (FIXED_HEADER_LENGTH + optional.length) % blockSize;
  if (misalignment !== 0) {
    let padLength = blockSize - misalignment;
    if (padLength < 4) padLength += blockSize; // a PB block needs room for its id and length
    optional += PADDING_BLOCK + hex(padLength, 2) + '0'.repeat(padLength - 4);
    count++;
  }
  if (count > MAX_OPTIONAL_BLOCKS) throw malformed(`at most ${MAX_OPTIONAL_BLOCKS} optional blocks fit the header`);
  const total = FIXED_HEADER_LENGTH + optional.length + bodyLength;
  if (total > TR31_MAX_BLOCK_LENGTH) throw malformed(`key block would be ${total} characters; the limit is ${TR31_MAX_BLOCK_LENGTH}`);
  return (
    header.versionId +
    String(total).padStart(4, '0') +
    header.keyUsage +
    header.algorithm +
    header.modeOfUse +
    header.keyVersionNumber +
    header.exportability +
    String(count).padStart(2, '0') +
    header.keyContext +
    '0' +
    optional
  );
}
