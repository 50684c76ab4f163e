import { createCipheriv, createDecipheriv, createECDH, createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Rng, asciiToBytes, concatBytes, fromHex, toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import {
  KEY_ENVELOPE_VERSION,
  decodeKeyEnvelope,
  encodeKeyEnvelope,
  generateP256KeyPair,
  unwrapKeyAsRecipient,
  wrapKeyForRecipient,
} from '../../../shared/crypto/keyTransport';

const nodeRng: Rng = (length) => new Uint8Array(randomBytes(length));

/** A deterministic RNG (SHA-256 in counter mode over a seed) that records every request. */
function seededRng(seed: string): Rng & { requests: number[] } {
  const requests: number[] = [];
  let counter = 0;
  const rng = (length: number) => {
    requests.push(length);
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += 32) {
      const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    }
    return out;
  };
  return Object.assign(rng, { requests });
}

function expectCode(fn: () => unknown, ...codes: string[]): string {
  try {
    fn();
  } catch (e) {
    expect(isPaypadError(e), `expected a PaypadError, got ${String(e)}`).toBe(true);
    const code = (e as { code: string }).code;
    expect(codes).toContain(code);
    return code;
  }
  throw new Error(`expected ${codes.join(' or ')}, but nothing was thrown`);
}

const MTMS = generateP256KeyPair(seededRng('mtms identity'));
const SERIAL = asciiToBytes('PP2024000123');
const TK = fromHex('3F419E1CB7079442AA37474C2EFBF8B8');

// ---- P-256 arithmetic for crafting edge-case points, independent of the module under test ----
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const mod = (a: bigint) => ((a % P) + P) % P;
function powMod(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = mod(result * b);
    b = mod(b * b);
  }
  return result;
}
const hex32 = (n: bigint) => n.toString(16).padStart(64, '0');
/** The on-curve point with the smallest x >= 0 (P ≡ 3 mod 4, so sqrt(a) = a^((P+1)/4)). */
function smallPoint(): { x: bigint; y: bigint } {
  for (let x = 0n; ; x++) {
    const rhs = mod(x * x * x - 3n * x + B);
    const y = powMod(rhs, (P + 1n) / 4n);
    if (mod(y * y) === rhs) return { x, y };
  }
}

/** SP 800-56C r2 one-step KDF + FixedInfo exactly as documented in keyTransport.ts, over node:crypto. */
function nodeKek(z: Uint8Array, senderPub: Uint8Array, recipientPub: Uint8Array, context: Uint8Array): Buffer {
  const fixedInfo = concatBytes(
    asciiToBytes('paypad-kt1/P256-CDH/SHA256/KWP128'),
    senderPub,
    new Uint8Array([context.length]),
    context,
    recipientPub,
    fromHex('00000080'),
  );
  return createHash('sha256').update(fromHex('00000001')).update(z).update(fixedInfo).digest().subarray(0, 16);
}

describe('P-256 key pairs', () => {
  it('derives the key pair from 48 bytes of the injected RNG, matching node:crypto ECDH', () => {
    const rng = seededRng('keygen');
    const pair = generateP256KeyPair(rng);
    expect(rng.requests).toEqual([48]);
    expect(pair.privateKey).toHaveLength(32);
    expect(pair.publicKey).toHaveLength(65);
    expect(pair.publicKey[0]).toBe(0x04);
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(pair.privateKey);
    expect(toHex(pair.publicKey)).toBe(toHex(ecdh.getPublicKey()));
    expect(toHex(generateP256KeyPair(seededRng('keygen')).privateKey)).toBe(toHex(pair.privateKey));
    expect(toHex(generateP256KeyPair(seededRng('other')).privateKey)).not.toBe(toHex(pair.privateKey));
  });

  it('rejects an RNG that returns the wrong number of bytes with BAD_LENGTH', () => {
    expectCode(() => generateP256KeyPair(() => new Uint8Array(32)), 'BAD_LENGTH');
  });
});

describe('TK transport to MTMS: ECDH P-256 + SP 800-56C one-step KDF + RFC 5649 (A5, A10)', () => {
  it('round-trips 16, 24 and 32-byte AES keys, and the envelope never contains the key in clear (A10)', () => {
    for (const length of [16, 24, 32]) {
      const key = new Uint8Array(randomBytes(length));
      const envelope = wrapKeyForRecipient(MTMS.publicKey, key, SERIAL, nodeRng);
      const bytes = encodeKeyEnvelope(envelope);
      expect(bytes).toHaveLength(1 + 65 + 8 + length);
      expect(toHex(bytes)).not.toContain(toHex(key));
      expect(toHex(unwrapKeyAsRecipient(MTMS.privateKey, decodeKeyEnvelope(bytes), SERIAL))).toBe(toHex(key));
    }
  });

  it('takes the ephemeral key from the injected RNG: same RNG, same envelope; fresh RNG output, fresh envelope', () => {
    const rng = seededRng('device rng');
    const a = encodeKeyEnvelope(wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, rng));
    expect(rng.requests).toEqual([48]);
    const b = encodeKeyEnvelope(wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, seededRng('device rng')));
    expect(toHex(a)).toBe(toHex(b));
    const c = wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, nodeRng);
    const d = wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, nodeRng);
    expect(toHex(c.ephemeralPublicKey)).not.toBe(toHex(d.ephemeralPublicKey));
    expect(toHex(c.wrappedKey)).not.toBe(toHex(d.wrappedKey));
  });

  it('cannot be unwrapped by anyone but the recipient, e.g. the relaying operating terminal (A10)', () => {
    const envelope = wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, nodeRng);
    const operator = generateP256KeyPair(nodeRng);
    expectCode(() => unwrapKeyAsRecipient(operator.privateKey, envelope, SERIAL), 'KEY_UNWRAP_FAILED');
  });

  it('is bound to the sender context: another serial number fails with KEY_UNWRAP_FAILED (A5)', () => {
    const envelope = wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, nodeRng);
    for (const other of ['PP2024000124', 'PP2024000123 ', 'P']) {
      expectCode(() => unwrapKeyAsRecipient(MTMS.privateKey, envelope, asciiToBytes(other)), 'KEY_UNWRAP_FAILED');
    }
  });

  it('detects every single-bit change of the encoded envelope', () => {
    const bytes = encodeKeyEnvelope(wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, nodeRng));
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const tampered = bytes.slice();
      tampered[bit >> 3] ^= 0x80 >> (bit & 7);
      const unwrap = () => unwrapKeyAsRecipient(MTMS.privateKey, decodeKeyEnvelope(tampered), SERIAL);
      const byte = bit >> 3;
      if (byte === 0) expectCode(unwrap, 'KEY_ENVELOPE_UNSUPPORTED');
      // a changed ephemeral key is almost always off the curve; if it lands on it, the KEK changes
      else if (byte <= 65) expectCode(unwrap, 'PUBLIC_KEY_INVALID', 'KEY_UNWRAP_FAILED');
      else expectCode(unwrap, 'KEY_UNWRAP_FAILED');
    }
  });

  it('detects a swapped ephemeral key that is a valid point (the KEK no longer matches)', () => {
    const envelope = wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, nodeRng);
    const swapped = { ...envelope, ephemeralPublicKey: generateP256KeyPair(nodeRng).publicKey };
    expectCode(() => unwrapKeyAsRecipient(MTMS.privateKey, swapped, SERIAL), 'KEY_UNWRAP_FAILED');
  });

  describe('interoperates with node:crypto (OpenSSL ECDH, SHA-256, id-aes128-wrap-pad)', () => {
    it('MTMS side in OpenSSL unwraps what the device wrapped', () => {
      const envelope = wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, nodeRng);
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(MTMS.privateKey);
      const z = ecdh.computeSecret(envelope.ephemeralPublicKey);
      const kek = nodeKek(z, envelope.ephemeralPublicKey, MTMS.publicKey, SERIAL);
      const d = createDecipheriv('id-aes128-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
      expect(toHex(Buffer.concat([d.update(envelope.wrappedKey), d.final()]))).toBe(toHex(TK));
    });

    it('the device side unwraps what a sender built with OpenSSL', () => {
      const key = new Uint8Array(randomBytes(32));
      const ephemeral = createECDH('prime256v1');
      ephemeral.generateKeys();
      const ephemeralPublicKey = new Uint8Array(ephemeral.getPublicKey());
      const kek = nodeKek(ephemeral.computeSecret(MTMS.publicKey), ephemeralPublicKey, MTMS.publicKey, SERIAL);
      const c = createCipheriv('id-aes128-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
      const wrappedKey = new Uint8Array(Buffer.concat([c.update(key), c.final()]));
      expect(toHex(unwrapKeyAsRecipient(MTMS.privateKey, { ephemeralPublicKey, wrappedKey }, SERIAL))).toBe(toHex(key));
    });
  });
});

describe('public key validation (SP 800-56A r3 §5.6.2.3.3): PUBLIC_KEY_INVALID', () => {
  const valid = MTMS.publicKey;
  const { x, y } = smallPoint();
  const invalid: Array<[string, Uint8Array]> = [
    ['a point off the curve (y + 1)', (() => { const p = valid.slice(); p[64] ^= 1; return p; })()],
    ['x = p + x0, a non-canonical coordinate of an on-curve point', fromHex(`04${hex32(x + P)}${hex32(y)}`)],
    ['y = 2^256 - 1, beyond the field', fromHex(`04${hex32(x)}${'ff'.repeat(32)}`)],
    ['(0, 0)', fromHex(`04${'00'.repeat(64)}`)],
    ['the point at infinity encoding 0x00', new Uint8Array([0])],
    ['the compressed form of a valid key', (() => { const p = new Uint8Array(33); p[0] = 2 + (valid[64] & 1); p.set(valid.subarray(1, 33), 1); return p; })()],
    ['the hybrid form (0x06/0x07) of a valid key', (() => { const p = valid.slice(); p[0] = 6 + (valid[64] & 1); return p; })()],
    ['X || Y without the 0x04 prefix', valid.slice(1)],
    ['one byte too many', new Uint8Array([...valid, 0])],
    ['an empty array', new Uint8Array(0)],
  ];

  it('(control) the small on-curve point used below is accepted in canonical form', () => {
    const point = fromHex(`04${hex32(x)}${hex32(y)}`);
    expect(wrapKeyForRecipient(point, TK, SERIAL, nodeRng).wrappedKey).toHaveLength(24);
  });

  for (const [what, point] of invalid) {
    it(`rejects ${what} as a recipient key and as an envelope ephemeral key`, () => {
      expectCode(() => wrapKeyForRecipient(point, TK, SERIAL, nodeRng), 'PUBLIC_KEY_INVALID');
      const envelope = { ephemeralPublicKey: point, wrappedKey: new Uint8Array(24) };
      expectCode(() => unwrapKeyAsRecipient(MTMS.privateKey, envelope, SERIAL), 'PUBLIC_KEY_INVALID');
      if (point.length === 65) {
        expectCode(() => decodeKeyEnvelope(concatBytes(new Uint8Array([KEY_ENVELOPE_VERSION]), point, new Uint8Array(24))), 'PUBLIC_KEY_INVALID');
      }
    });
  }
});

describe('key envelope encoding and argument checks', () => {
  const envelope = wrapKeyForRecipient(MTMS.publicKey, TK, SERIAL, seededRng('encoding'));

  it('encodes as version || ephemeral public key || wrapped key, and decodes back', () => {
    const bytes = encodeKeyEnvelope(envelope);
    expect(bytes[0]).toBe(0x01);
    expect(toHex(bytes.subarray(1, 66))).toBe(toHex(envelope.ephemeralPublicKey));
    expect(toHex(bytes.subarray(66))).toBe(toHex(envelope.wrappedKey));
    const decoded = decodeKeyEnvelope(bytes);
    expect(toHex(decoded.ephemeralPublicKey)).toBe(toHex(envelope.ephemeralPublicKey));
    expect(toHex(decoded.wrappedKey)).toBe(toHex(envelope.wrappedKey));
  });

  it('rejects an unknown version with KEY_ENVELOPE_UNSUPPORTED', () => {
    for (const version of [0x00, 0x02, 0xff]) {
      const bytes = encodeKeyEnvelope(envelope);
      bytes[0] = version;
      expectCode(() => decodeKeyEnvelope(bytes), 'KEY_ENVELOPE_UNSUPPORTED');
    }
  });

  it('rejects truncated, extended and empty envelopes with BAD_LENGTH', () => {
    const bytes = encodeKeyEnvelope(envelope);
    for (const length of [1, 40, 66, 89, 91, 97, 107]) {
      const resized = new Uint8Array(length);
      resized.set(bytes.subarray(0, Math.min(length, bytes.length)));
      expectCode(() => decodeKeyEnvelope(resized), 'BAD_LENGTH');
    }
    expectCode(() => decodeKeyEnvelope(new Uint8Array(0)), 'BAD_LENGTH');
    expectCode(() => encodeKeyEnvelope({ ...envelope, wrappedKey: new Uint8Array(16) }), 'BAD_LENGTH');
    expectCode(() => unwrapKeyAsRecipient(MTMS.privateKey, { ...envelope, wrappedKey: new Uint8Array(48) }, SERIAL), 'BAD_LENGTH');
  });

  it('transports AES keys only: other lengths fail with KEY_LENGTH', () => {
    for (const length of [0, 8, 15, 17, 33, 64]) {
      expectCode(() => wrapKeyForRecipient(MTMS.publicKey, new Uint8Array(length), SERIAL, nodeRng), 'KEY_LENGTH');
    }
  });

  it('requires a context of 1 to 255 bytes (BAD_LENGTH)', () => {
    for (const context of [new Uint8Array(0), new Uint8Array(256)]) {
      expectCode(() => wrapKeyForRecipient(MTMS.publicKey, TK, context, nodeRng), 'BAD_LENGTH');
      expectCode(() => unwrapKeyAsRecipient(MTMS.privateKey, envelope, context), 'BAD_LENGTH');
    }
    const longest = new Uint8Array(255).fill(0x41);
    const wrapped = wrapKeyForRecipient(MTMS.publicKey, TK, longest, nodeRng);
    expect(toHex(unwrapKeyAsRecipient(MTMS.privateKey, wrapped, longest))).toBe(toHex(TK));
  });

  it('rejects bad recipient private keys: wrong length KEY_LENGTH, scalar 0 or >= n BAD_ARGUMENT', () => {
    expectCode(() => unwrapKeyAsRecipient(new Uint8Array(31), envelope, SERIAL), 'KEY_LENGTH');
    expectCode(() => unwrapKeyAsRecipient(new Uint8Array(33), envelope, SERIAL), 'KEY_LENGTH');
    expectCode(() => unwrapKeyAsRecipient(new Uint8Array(32), envelope, SERIAL), 'BAD_ARGUMENT');
    const n = fromHex('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
    expectCode(() => unwrapKeyAsRecipient(n, envelope, SERIAL), 'BAD_ARGUMENT');
    expectCode(() => unwrapKeyAsRecipient(new Uint8Array(32).fill(0xff), envelope, SERIAL), 'BAD_ARGUMENT');
  });

  it('rejects a missing envelope with BAD_ARGUMENT', () => {
    expectCode(() => unwrapKeyAsRecipient(MTMS.privateKey, null as unknown as never, SERIAL), 'BAD_ARGUMENT');
  });
});
