import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8ToBytes } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import {
  FrameDecoder,
  type LinkOp,
  MAX_FRAME_BYTES,
  decodeLinkFrame,
  encodeFrame,
  encodeLinkMessage,
  linkErrorResponse,
  validateLinkRequest,
  validateLinkResponse,
} from '../../../shared/protocol/localLink';

const code = (c: string) => expect.objectContaining({ code: c });
const malformed = (message: RegExp) => expect.objectContaining({ code: 'PROTOCOL_MALFORMED', message: expect.stringMatching(message) });
const ENVELOPE = toHex(new Uint8Array(randomBytes(90)));

/** Deterministic chunk sizes (xorshift32), so a failing split is reproducible. */
function chunkSizes(seed: number, total: number, maxChunk: number): number[] {
  const sizes: number[] = [];
  let x = seed;
  for (let done = 0; done < total; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const size = Math.min(total - done, 1 + ((x >>> 0) % maxChunk));
    sizes.push(size);
    done += size;
  }
  return sizes;
}

describe('local link frames (A2, A10: 2-byte big-endian length + UTF-8 JSON, at most 4096 bytes)', () => {
  it('A2 encodeFrame prefixes the big-endian length', () => {
    expect(encodeFrame(utf8ToBytes('{}'))).toEqual(new Uint8Array([0, 2, 0x7b, 0x7d]));
    const big = encodeFrame(new Uint8Array(MAX_FRAME_BYTES));
    expect([big[0], big[1], big.length]).toEqual([0x10, 0x00, MAX_FRAME_BYTES + 2]);
  });

  it('A2 encodeFrame refuses a payload above 4096 bytes with LINK_FRAME_TOO_LARGE', () => {
    expect(() => encodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1))).toThrow(code('LINK_FRAME_TOO_LARGE'));
  });

  const payloads = [utf8ToBytes('{"v":1,"id":1,"op":"serial"}'), new Uint8Array(0), utf8ToBytes('{"n":"中文"}'), new Uint8Array(MAX_FRAME_BYTES).fill(0x20), new Uint8Array([1])];
  const stream = concatBytes(...payloads.map(encodeFrame));

  it('A2 a frame split at every possible byte position decodes once, whole', () => {
    const one = encodeFrame(payloads[0]);
    for (let cut = 0; cut <= one.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(one.subarray(0, cut)), ...decoder.push(one.subarray(cut))];
      expect(frames).toEqual([payloads[0]]);
      expect(decoder.buffered).toBe(0);
    }
  });

  it('A2 coalesced frames in one chunk all come out, in order, an empty frame included', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(stream)).toEqual(payloads);
    expect(decoder.buffered).toBe(0);
  });

  it('A2 the same stream fed byte by byte and in irregular chunks gives the same frames', () => {
    for (const [seed, maxChunk] of [[1, 1], [7, 3], [42, 100], [2024, 5000]]) {
      const decoder = new FrameDecoder();
      const frames: Uint8Array[] = [];
      let offset = 0;
      for (const size of chunkSizes(seed, stream.length, maxChunk)) {
        frames.push(...decoder.push(stream.subarray(offset, offset + size)));
        offset += size;
      }
      expect(frames).toEqual(payloads);
      expect(decoder.buffered).toBe(0);
    }
  });

  it('A2 frames do not alias the pushed chunk: reusing the read buffer cannot change a decoded frame', () => {
    const decoder = new FrameDecoder();
    const chunk = encodeFrame(utf8ToBytes('{}'));
    const [frame] = decoder.push(chunk);
    chunk.fill(0);
    expect(frame).toEqual(utf8ToBytes('{}'));
  });

  it('A2 buffered reports a truncated frame at end of stream', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(encodeFrame(payloads[0]).subarray(0, 5))).toEqual([]);
    expect(decoder.buffered).toBe(5);
  });

  it('A2 a length above 4096 is LINK_FRAME_TOO_LARGE and the decoder stays failed: the connection must close', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(new Uint8Array([0x10]))).toEqual([]);
    expect(() => decoder.push(new Uint8Array([0x01, 0x7b]))).toThrow(
      expect.objectContaining({ code: 'LINK_FRAME_TOO_LARGE', message: expect.stringMatching(/4097 bytes.*close the connection/) }),
    );
    expect(() => decoder.push(encodeFrame(payloads[0]))).toThrow(code('LINK_FRAME_TOO_LARGE'));
    expect(decoder.buffered).toBe(0);
    expect(() => new FrameDecoder().push(new Uint8Array([0xff, 0xff]))).toThrow(code('LINK_FRAME_TOO_LARGE'));
  });
});

describe('local link requests and responses (A2 serial, A10 tk, A13 repair)', () => {
  const requests = [
    { v: 1, id: 1, op: 'serial' },
    { v: 1, id: 2, op: 'tk' },
    { v: 1, id: 2147483647, op: 'repair', serial: 'PP-000123' },
    { v: 1, id: 3, op: 'tk', nonce: 'AB'.repeat(32) },
    { v: 1, id: 4, op: 'identity', nonce: '01'.repeat(32) },
    { v: 1, id: 5, op: 'certify', certificate: '30'.repeat(400) },
  ];

  it.each(requests)('round-trips the request $op through a frame', (request) => {
    const [frame] = new FrameDecoder().push(encodeLinkMessage(validateLinkRequest(request)));
    expect(validateLinkRequest(decodeLinkFrame(frame))).toEqual(request);
  });

  it.each([
    ['an unknown op', { v: 1, id: 1, op: 'dump' }, /^linkRequest\.op: expected one of "serial", "tk", "repair", "identity", "certify"$/],
    ['A13 repair without the serial it wipes', { v: 1, id: 1, op: 'repair' }, /^linkRequest\.serial: missing$/],
    ['A8 identity without a nonce', { v: 1, id: 1, op: 'identity' }, /^linkRequest\.nonce: missing$/],
    ['A8 tk with a 31-byte nonce', { v: 1, id: 1, op: 'tk', nonce: 'AB'.repeat(31) }, /^linkRequest\.nonce: /],
    ['A8 certify with an oversized certificate', { v: 1, id: 1, op: 'certify', certificate: '30'.repeat(1201) }, /^linkRequest\.certificate: /],
    ['a serial on a serial request', { v: 1, id: 1, op: 'serial', serial: 'PP-000123' }, /^linkRequest\.serial: unknown field$/],
    ['id 0', { v: 1, id: 0, op: 'tk' }, /^linkRequest\.id: /],
    ['a fractional id', { v: 1, id: 1.5, op: 'tk' }, /^linkRequest\.id: /],
    ['a string id', { v: 1, id: '1', op: 'tk' }, /^linkRequest\.id: /],
    ['an id above 2^31 - 1', { v: 1, id: 2147483648, op: 'tk' }, /^linkRequest\.id: /],
    ['no version', { id: 1, op: 'tk' }, /^linkRequest\.v: expected the number 1$/],
    ['an array', [1], /^linkRequest: expected an object$/],
  ])('refuses a request with %s', (_, request, message) => {
    expect(() => validateLinkRequest(request)).toThrow(malformed(message));
  });

  it('a newer peer hears about the version before its unknown op', () => {
    expect(() => validateLinkRequest({ v: 2, id: 1, op: 'attest' })).toThrow(code('PROTOCOL_UNSUPPORTED_VERSION'));
  });

  const results: [LinkOp, object][] = [
    ['serial', { v: 1, id: 1, ok: true, serial: 'PP-000123' }],
    ['tk', { v: 1, id: 2, ok: true, serial: 'PP-000123', tkEnvelope: ENVELOPE }],
    ['repair', { v: 1, id: 3, ok: true, serial: 'PP-000123' }],
  ];

  it.each(results)('A2/A10/A13 round-trips the %s response through a frame', (op, response) => {
    const [frame] = new FrameDecoder().push(encodeLinkMessage(validateLinkResponse(response, op)));
    expect(validateLinkResponse(decodeLinkFrame(frame), op)).toEqual(response);
  });

  it('A10 a tk response must carry an envelope, and only as hex of envelope size', () => {
    expect(() => validateLinkResponse({ v: 1, id: 2, ok: true, serial: 'PP-000123' }, 'tk')).toThrow(malformed(/^linkResponse\.tkEnvelope: missing$/));
    expect(() => validateLinkResponse({ v: 1, id: 2, ok: true, serial: 'PP-000123', tkEnvelope: 'AB'.repeat(16) }, 'tk')).toThrow(
      malformed(/^linkResponse\.tkEnvelope: /),
    );
    expect(() => validateLinkResponse({ v: 1, id: 1, ok: true, serial: 'PP-000123', tkEnvelope: ENVELOPE }, 'serial')).toThrow(
      malformed(/^linkResponse\.tkEnvelope: unknown field$/),
    );
  });

  it('an error response carries a typed error, with id null when the request could not be read', () => {
    const failed = linkErrorResponse(null, new PaypadError('PROTOCOL_MALFORMED', 'frame: not valid UTF-8 JSON'));
    expect(failed).toEqual({ v: 1, id: null, ok: false, error: { code: 'PROTOCOL_MALFORMED', message: 'frame: not valid UTF-8 JSON' } });
    const [frame] = new FrameDecoder().push(encodeLinkMessage(failed));
    expect(validateLinkResponse(decodeLinkFrame(frame), 'tk')).toEqual(failed);
    expect(linkErrorResponse(4, new Error('vault read at 0x3ffb0000'))).toEqual({ v: 1, id: 4, ok: false, error: { code: 'INTERNAL', message: 'internal error' } });
  });

  it.each([
    ['ok missing', { v: 1, id: 1, serial: 'PP-000123' }, /^linkResponse\.ok: expected one of true, false$/],
    ['ok as a string', { v: 1, id: 1, ok: 'true', serial: 'PP-000123' }, /^linkResponse\.ok: expected one of true, false$/],
    ['an error beside ok: true', { v: 1, id: 1, ok: true, serial: 'PP-000123', error: { code: 'X', message: 'm' } }, /^linkResponse\.error: unknown field$/],
    ['ok: false without an error', { v: 1, id: 1, ok: false }, /^linkResponse\.error: missing$/],
    ['ok: false with a result', { v: 1, id: 1, ok: false, serial: 'PP-000123', error: { code: 'NOT_FOUND', message: 'm' } }, /^linkResponse\.serial: unknown field$/],
    ['an id null on success', { v: 1, id: null, ok: true, serial: 'PP-000123' }, /^linkResponse\.id: /],
  ])('refuses a response with %s', (_, response, message) => {
    expect(() => validateLinkResponse(response, 'serial')).toThrow(malformed(message));
  });

  it('a frame that is not UTF-8 JSON is PROTOCOL_MALFORMED and leaves the stream usable', () => {
    const decoder = new FrameDecoder();
    const frames = decoder.push(concatBytes(encodeFrame(new Uint8Array([0xc3])), encodeFrame(utf8ToBytes('{"v":1')), encodeFrame(new Uint8Array(0)), encodeLinkMessage({ v: 1, id: 9, op: 'tk' })));
    expect(frames).toHaveLength(4);
    for (const bad of frames.slice(0, 3)) expect(() => decodeLinkFrame(bad)).toThrow(malformed(/^frame: not valid UTF-8 JSON$/));
    expect(validateLinkRequest(decodeLinkFrame(frames[3]))).toEqual({ v: 1, id: 9, op: 'tk' });
  });
});
