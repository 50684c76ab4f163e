/**
 * The local link between the operating terminal and the PIN pad (A2, A10, A13): a byte stream
 * (UART on the board, TCP in the emulator) carrying frames of
 *
 *   length (2 bytes, big-endian) || UTF-8 JSON (1 .. MAX_FRAME_BYTES bytes)
 *
 * The link has no MAC: it carries nothing the operator may not see. The serial is public, the
 * TK leaves only as an envelope for MTMS's key (A10), repair names the serial it wipes so a
 * request reaching the wrong device does nothing, and what the device signs with its identity key
 * is bound to a nonce from MTMS (shared/protocol/deviceIdentity; A8).
 *
 * Requests:  {v: 1, id, op: 'serial'}  {v: 1, id, op: 'repair', serial}
 *            {v: 1, id, op: 'tk', nonce?}                 nonce: MTMS's TK challenge, to sign with
 *            {v: 1, id, op: 'identity', nonce}            nonce: MTMS's enrolment challenge
 *            {v: 1, id, op: 'certify', certificate}       the device certificate the CA issued
 * Responses: {v: 1, id, ok: true, serial}                   for serial, repair and certify
 *            {v: 1, id, ok: true, serial, tkEnvelope[, signature, certificate]}  for tk (signed
 *                                                          when a nonce was given)
 *            {v: 1, id, ok: true, serial, publicKey, signature}  for identity
 *            {v: 1, id, ok: false, error: {code, message}}  id null when the request was unreadable
 */
import { concatBytes } from '../bytes';
import { PaypadError } from '../errors';
import { certificateHex, deviceNonceHex, errorCode, errorMessage, keyEnvelopeHex, publicKeyHex, serial, signatureHex } from './fields';
import { toErrorBody } from './messages';
import { type Infer, type Schema, decodeJson, encodeJson, integer, object, oneOf, optional, plainObject, version } from './validate';

export const MAX_FRAME_BYTES = 4096;
const LENGTH_BYTES = 2;
export const LINK_VERSION = 1;

function frameTooLarge(length: number): PaypadError {
  return new PaypadError('LINK_FRAME_TOO_LARGE', `frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}: the stream cannot be resynchronised, close the connection`);
}

/** One frame: the 2-byte big-endian length, then the payload. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_BYTES) throw frameTooLarge(payload.length);
  return concatBytes(new Uint8Array([payload.length >> 8, payload.length & 0xff]), payload);
}

/**
 * Splits a byte stream into frame payloads, whatever the chunking: push each chunk as it arrives
 * and get the frames it completed (none, one or several). Holds at most one partial frame.
 *
 * A length above MAX_FRAME_BYTES throws LINK_FRAME_TOO_LARGE and the decoder stays failed: the
 * stream has no frame markers to resynchronise on, so the caller must close the connection
 * (frames completed earlier in the same chunk are dropped with it).
 */
export class FrameDecoder {
  private pending: Uint8Array = new Uint8Array(0);
  private failure: PaypadError | undefined;

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure) throw this.failure;
    const data = this.pending.length === 0 ? chunk : concatBytes(this.pending, chunk);
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (data.length - offset >= LENGTH_BYTES) {
      const length = (data[offset] << 8) | data[offset + 1];
      if (length > MAX_FRAME_BYTES) {
        this.pending = new Uint8Array(0);
        this.failure = frameTooLarge(length);
        throw this.failure;
      }
      if (data.length - offset - LENGTH_BYTES < length) break;
      frames.push(data.slice(offset + LENGTH_BYTES, offset + LENGTH_BYTES + length));
      offset += LENGTH_BYTES + length;
    }
    this.pending = data.slice(offset);
    return frames;
  }

  /** Bytes of an incomplete frame held; non-zero at end of stream means a truncated frame. */
  get buffered(): number {
    return this.pending.length;
  }
}

export const LINK_OPS = Object.freeze(['serial', 'tk', 'repair', 'identity', 'certify'] as const);
export type LinkOp = (typeof LINK_OPS)[number];

const v = version(LINK_VERSION);
/** Request ids fit a small integer on the device; the operator counts them up per connection. */
const id = integer(1, 0x7fffffff);
const linkOp = oneOf(...LINK_OPS);

const requests = Object.freeze({
  serial: object({ v, id, op: oneOf('serial') }),
  tk: object({ v, id, op: oneOf('tk'), nonce: optional(deviceNonceHex) }),
  repair: object({ v, id, op: oneOf('repair'), serial }),
  identity: object({ v, id, op: oneOf('identity'), nonce: deviceNonceHex }),
  certify: object({ v, id, op: oneOf('certify'), certificate: certificateHex }),
} as const);

const results = Object.freeze({
  serial: object({ v, id, ok: oneOf(true), serial }),
  tk: object({ v, id, ok: oneOf(true), serial, tkEnvelope: keyEnvelopeHex, signature: optional(signatureHex), certificate: optional(certificateHex) }),
  repair: object({ v, id, ok: oneOf(true), serial }),
  identity: object({ v, id, ok: oneOf(true), serial, publicKey: publicKeyHex, signature: signatureHex }),
  certify: object({ v, id, ok: oneOf(true), serial }),
} as const);

const nullableId: Schema<number | null> = (value, path) => (value === null ? null : id(value, path));
const linkError = object({ v, id: nullableId, ok: oneOf(false), error: object({ code: errorCode, message: errorMessage }) });

export type LinkRequest = { [O in LinkOp]: Infer<(typeof requests)[O]> }[LinkOp];
export type LinkResult<O extends LinkOp> = Infer<(typeof results)[O]>;
export type LinkError = Infer<typeof linkError>;
export type LinkResponse<O extends LinkOp> = LinkResult<O> | LinkError;

/** Reads `v`, then `op`, then the request of that op, so a newer peer hears about the version first. */
export function validateLinkRequest(value: unknown): LinkRequest {
  const path = 'linkRequest';
  const fields = plainObject(value, path);
  v(fields.v, `${path}.v`);
  return requests[linkOp(fields.op, `${path}.op`)](value, path);
}

/** Validates the answer to a request of `op` (the requester knows which op each id carried). */
export function validateLinkResponse<O extends LinkOp>(value: unknown, op: O): LinkResponse<O> {
  const path = 'linkResponse';
  const fields = plainObject(value, path);
  v(fields.v, `${path}.v`);
  if (oneOf(true, false)(fields.ok, `${path}.ok`)) return results[op](value, path) as LinkResult<O>;
  return linkError(value, path);
}

/** The error response for a failed request; `requestId` null when the request could not be read. */
export function linkErrorResponse(requestId: number | null, e: unknown): LinkError {
  return { v: LINK_VERSION, id: requestId, ok: false, error: toErrorBody(e).error };
}

/** A request or response as one frame. */
export function encodeLinkMessage(message: LinkRequest | LinkResponse<LinkOp>): Uint8Array {
  return encodeFrame(encodeJson(message));
}

/** A frame payload -> parsed JSON (PROTOCOL_MALFORMED if it is not); then validate it as above. */
export function decodeLinkFrame(payload: Uint8Array): unknown {
  return decodeJson(payload, MAX_FRAME_BYTES, (value) => value, 'frame');
}
