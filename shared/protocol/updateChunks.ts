/**
 * The image download (SPEC B4): HTTP range requests (RFC 9110 §14), one chunk each, every chunk
 * MAC'd under its own key derived from DWK and the chunk's offset.
 *
 *   request   GET <image path>  Range: bytes=<offset>-<offset + length - 1>   (MAC'd envelope under MAK)
 *   answer    206  Content-Range: bytes <offset>-<offset + length - 1>/<size>
 *                  Paypad-Chunk-Mac: hex CMAC(K_chunk, chunkMacInput)
 *
 *   K_chunk   = SP 800-108 KDF(DWK, label "paypad update chunk",
 *                              context = session id (16 bytes) || offset (4 bytes, big-endian)), 16 bytes
 *   chunkMacInput = "PAYPAD-UPDATE-CHUNK-1\n" session id (hex) "\n" offset "\n" length "\n" size "\n" || chunk bytes
 *
 * A key per offset means a chunk cannot be moved to another place in the image or into another
 * session, and the MAC input binds its length and the image size too. Anything but a 206 with
 * exactly the range asked for (a 200 with the whole file, another range, a shorter body) is
 * UPDATE_RANGE_MISMATCH and is never written: a server that ignores Range on a resumed download
 * would otherwise splice the image's start into its middle.
 * Runs in XS: no Node APIs.
 */
import { asciiToBytes, concatBytes, fromHex, utf8ToBytes } from '../bytes';
import type { KdfParams } from '../crypto/kdf';
import { PaypadError } from '../errors';
import { UPDATE_SESSION_ID_BYTES, sessionIdHex } from './updateAuth';
import { MAX_IMAGE_BYTES } from './updateManifest';
import { hex } from './validate';

export const CHUNK_MAC_HEADER = 'Paypad-Chunk-Mac';
export const CHUNK_MAC_TAG = 'PAYPAD-UPDATE-CHUNK-1';
export const CHUNK_KDF_LABEL = 'paypad update chunk';
export const CHUNK_KEY_BYTES = 16;
/** The chunk length a TMS may choose: whole AES blocks, small enough for the terminal's heap. */
export const MIN_CHUNK_BYTES = 512;
export const MAX_CHUNK_BYTES = 8192;

export const chunkMacHex = hex(16, 16);

export interface ChunkRange {
  /** 32 hex digits. */
  readonly sessionId: string;
  readonly offset: number;
  readonly length: number;
  /** The whole image's size (manifest.size). */
  readonly size: number;
}

function checkRange(range: ChunkRange): void {
  const { offset, length, size } = range;
  sessionIdHex(range.sessionId, 'chunk.sessionId');
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_IMAGE_BYTES) throw new PaypadError('BAD_ARGUMENT', `chunk: image size must be 1 to ${MAX_IMAGE_BYTES}`);
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 1 || length > MAX_CHUNK_BYTES || offset + length > size) {
    throw new PaypadError('BAD_ARGUMENT', `chunk: expected 1 to ${MAX_CHUNK_BYTES} bytes inside the image`);
  }
}

/** The KDF parameters of the chunk key at `offset` (crypto/kdf deriveKeyCounterCmac under DWK). */
export function chunkKeyParams(sessionId: string, offset: number): KdfParams {
  const id = fromHex(sessionIdHex(sessionId, 'chunk.sessionId'));
  if (id.length !== UPDATE_SESSION_ID_BYTES || !Number.isSafeInteger(offset) || offset < 0 || offset > MAX_IMAGE_BYTES) {
    throw new PaypadError('BAD_ARGUMENT', 'chunk key: expected a session id and an offset inside an image');
  }
  const position = new Uint8Array(4);
  new DataView(position.buffer).setUint32(0, offset);
  return { label: asciiToBytes(CHUNK_KDF_LABEL), context: concatBytes(id, position), lengthBytes: CHUNK_KEY_BYTES };
}

/** The bytes a chunk's MAC covers. */
export function chunkMacInput(range: ChunkRange, chunk: Uint8Array): Uint8Array {
  checkRange(range);
  if (!(chunk instanceof Uint8Array) || chunk.length !== range.length) throw new PaypadError('BAD_ARGUMENT', `chunk: expected ${range.length} bytes`);
  const header = utf8ToBytes(`${CHUNK_MAC_TAG}\n${range.sessionId.toUpperCase()}\n${range.offset}\n${range.length}\n${range.size}\n`);
  return concatBytes(header, chunk);
}

/** The Range header of a request for `range` (RFC 9110 §14.1.2: last-pos is inclusive). */
export function rangeHeader(range: ChunkRange): string {
  checkRange(range);
  return `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

/** The Content-Range header of a 206 answering `range` (RFC 9110 §14.4). */
export function contentRangeHeader(range: ChunkRange): string {
  checkRange(range);
  return `bytes ${range.offset}-${range.offset + range.length - 1}/${range.size}`;
}

/**
 * UPDATE_RANGE_MISMATCH unless the answer is 206 Partial Content with exactly `range`'s
 * Content-Range and a body of exactly its length. Headers are lower-case names (HAL Http).
 */
export function assertExactRange(range: ChunkRange, status: number, headers: Readonly<Record<string, string>>, bodyLength: number): void {
  if (status !== 206) throw new PaypadError('UPDATE_RANGE_MISMATCH', `range request answered ${status}, not 206: nothing written`);
  const expected = contentRangeHeader(range);
  if (headers['content-range'] !== expected) throw new PaypadError('UPDATE_RANGE_MISMATCH', `answer is not the range asked for (${expected}): nothing written`);
  if (bodyLength !== range.length) throw new PaypadError('UPDATE_RANGE_MISMATCH', `answer has ${bodyLength} bytes, not the ${range.length} asked for: nothing written`);
}
