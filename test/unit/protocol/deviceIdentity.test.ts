/**
 * A8: the bytes a PIN pad signs with its identity key (shared/protocol/deviceIdentity), spelled
 * out here field by field from docs/key-loading.md rather than taken from the code under test.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { DEVICE_NONCE_BYTES, enrolmentSignedBytes, tkIntakeSignedBytes } from '../../../shared/protocol/deviceIdentity';

const nonce = Uint8Array.from({ length: 32 }, (_, i) => i);
const field = (bytes: Uint8Array | string) => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'ascii') : Buffer.from(bytes);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

describe('A8 device identity: the signed bytes', () => {
  it('A8: a TK intake signs [len]_16 || "paypad-tk-intake-1", the serial, the nonce and SHA-256 of the envelope', () => {
    const envelope = Uint8Array.from({ length: 90 }, (_, i) => 255 - i);
    const expected = Buffer.concat([field('paypad-tk-intake-1'), field('PP-0001'), field(nonce), field(createHash('sha256').update(envelope).digest())]);
    expect(toHex(tkIntakeSignedBytes('PP-0001', nonce, envelope))).toBe(expected.toString('hex').toUpperCase());
  });

  it('A8: an enrolment signs [len]_16 || "paypad-device-enrol-1", the serial, the nonce and the public key', () => {
    const publicKey = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : i));
    const expected = Buffer.concat([field('paypad-device-enrol-1'), field('PP-0001'), field(nonce), field(publicKey)]);
    expect(toHex(enrolmentSignedBytes('PP-0001', nonce, publicKey))).toBe(expected.toString('hex').toUpperCase());
  });

  it('A8: the purposes, serials, nonces and envelopes never give the same bytes (domain separation, length prefixes)', () => {
    const envelope = new Uint8Array(90).fill(7);
    const publicKey = new Uint8Array(65).fill(4);
    const variants = [
      tkIntakeSignedBytes('PP-0001', nonce, envelope),
      tkIntakeSignedBytes('PP-0002', nonce, envelope),
      tkIntakeSignedBytes('PP-0001', nonce.map((b) => b ^ 1), envelope),
      tkIntakeSignedBytes('PP-0001', nonce, envelope.map((b, i) => (i === 89 ? b ^ 1 : b))),
      enrolmentSignedBytes('PP-0001', nonce, publicKey),
    ].map(toHex);
    expect(new Set(variants).size).toBe(variants.length);
  });

  it('A8: a nonce of another length, a serial of the wrong form, or no envelope is refused with a typed error', () => {
    expect(() => tkIntakeSignedBytes('PP-0001', new Uint8Array(DEVICE_NONCE_BYTES - 1), new Uint8Array(90))).toThrow(expect.objectContaining({ code: 'BAD_LENGTH' }));
    expect(() => tkIntakeSignedBytes('pp-lower', nonce, new Uint8Array(90))).toThrow(expect.objectContaining({ code: 'PROTOCOL_MALFORMED' }));
    expect(() => tkIntakeSignedBytes('PP-0001', nonce, new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => enrolmentSignedBytes('PP-0001', nonce, new Uint8Array(33))).toThrow(expect.objectContaining({ code: 'BAD_LENGTH' }));
  });
});
