import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, type Rng } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { deriveKeyBlockKeys, unwrapKeyBlock, wrapKeyBlock, type Tr31KeyPolicy } from '../../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../../shared/crypto/tr31Header';
import { referenceCmac, referenceDerive } from '../../support/tr31Reference';
import vectors from '../../vectors/tr31.json';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isPaypadError(e)) return e.code;
    throw e;
  }
  return 'no error';
}

/** An Rng that hands out `pad` once and fails the test if asked for anything else. */
function fixedPad(hex: string): Rng {
  const pad = fromHex(hex);
  return (length) => {
    expect(length).toBe(pad.length);
    return pad.slice();
  };
}

const zeroRng: Rng = (length) => new Uint8Array(length);
const a74 = vectors.wrap[0];
const a74Kbpk = fromHex(a74.kbpk);
const a74Key = fromHex(a74.key);
const p0Encrypt: Tr31KeyPolicy = { usage: 'P0', modesOfUse: ['E', 'B'] };

/** The policy a vector's own header allows. */
function policyOf(block: string): Tr31KeyPolicy {
  const { header } = parseKeyBlockHeader(block);
  return { usage: header.keyUsage, modesOfUse: [header.modeOfUse], algorithm: header.algorithm };
}

describe('TR-31 version D: published vectors (test/vectors/tr31.json)', () => {
  it.each(vectors.derivation)('derives KBEK and KBMK: $name', (v) => {
    const { kbek, kbmk } = deriveKeyBlockKeys(fromHex(v.kbpk));
    expect(toHex(kbek)).toBe(v.kbek);
    expect(toHex(kbmk)).toBe(v.kbmk);
  });

  it.each(vectors.wrap)('unwraps $name', (v) => {
    const { key, header } = unwrapKeyBlock(fromHex(v.kbpk), v.block, policyOf(v.block));
    expect(toHex(key)).toBe(v.key);
    expect(header).toEqual(parseKeyBlockHeader(v.block).header);
    if ('kcv' in v) expect(toHex(keyCheckValue(key))).toBe(v.kcv);
  });

  it.each(vectors.wrap)('wraps $name byte for byte with its padding fixed', (v) => {
    const opts = 'maskedKeyLength' in v ? { maskedKeyLength: v.maskedKeyLength } : {};
    const { header, headerLength } = parseKeyBlockHeader(v.block);
    const fromString = wrapKeyBlock(fromHex(v.kbpk), v.block.slice(0, headerLength), fromHex(v.key), fixedPad(v.pad), opts);
    expect(fromString).toBe(v.block);
    const fromObject = wrapKeyBlock(fromHex(v.kbpk), header, fromHex(v.key), fixedPad(v.pad), opts);
    expect(fromObject).toBe(v.block);
  });

  it.each(vectors.rejected)('rejects $name with $code', (v) => {
    expect(codeOf(() => unwrapKeyBlock(fromHex(v.kbpk), v.block, policyOf(v.block)))).toBe(v.code);
  });

  it('computes the MAC over header and CLEAR payload and uses it as the CBC IV (TR-31:2018 A.7.4)', () => {
    // Rebuilt from the parts with the reference primitives: the layout, not just the output, matches.
    const clear = Buffer.concat([Buffer.from([0x00, 0x80]), Buffer.from(a74.key, 'hex'), Buffer.from(a74.pad, 'hex')]);
    const kbpk = Buffer.from(a74.kbpk, 'hex');
    const mac = referenceCmac(referenceDerive(kbpk, 'mac'), Buffer.concat([Buffer.from('D0112P0AE00E0000'), clear]));
    expect(a74.block.endsWith(mac.toString('hex').toUpperCase())).toBe(true);
  });
});

describe('TR-31 wrap: key length masking and validation', () => {
  it('masks an AES key to 32 bytes by default (TR-31:2018 §A.3)', () => {
    const block = wrapKeyBlock(a74Kbpk, { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E' }, a74Key, zeroRng);
    expect(block.length).toBe(16 + 2 * 48 + 32);
    expect(block.slice(1, 5)).toBe('0144');
    expect(toHex(unwrapKeyBlock(a74Kbpk, block, p0Encrypt).key)).toBe(a74.key);
  });

  it('hides the key length: AES-128, -192 and -256 keys give blocks of one length', () => {
    const lengths = [16, 24, 32].map(
      (n) => wrapKeyBlock(a74Kbpk, { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'N' }, new Uint8Array(n).fill(7), zeroRng).length,
    );
    expect(new Set(lengths)).toEqual(new Set([144]));
  });

  it('masks a TDES key to 24 bytes by default and a variable-length key not at all', () => {
    const tdes = wrapKeyBlock(a74Kbpk, { keyUsage: 'P0', algorithm: 'T', modeOfUse: 'E', exportability: 'E' }, new Uint8Array(16), zeroRng);
    expect(tdes.length).toBe(16 + 2 * 32 + 32); // 2 + 24 -> 32
    const hmac = wrapKeyBlock(a74Kbpk, { keyUsage: 'M7', algorithm: 'H', modeOfUse: 'C', exportability: 'N' }, new Uint8Array(40), zeroRng);
    expect(hmac.length).toBe(16 + 2 * 48 + 32); // 2 + 40 -> 48
  });

  it('lets the caller choose the masked length, and asks the rng for exactly the padding', () => {
    const asked: number[] = [];
    const rng: Rng = (n) => (asked.push(n), new Uint8Array(n));
    const block = wrapKeyBlock(a74Kbpk, 'D0000P0AE00E0000', a74Key, rng, { maskedKeyLength: 16 });
    expect(block.length).toBe(112);
    expect(asked).toEqual([14]);
    wrapKeyBlock(a74Kbpk, 'D0000P0AE00E0000', a74Key, rng, { maskedKeyLength: 64 });
    expect(asked[1]).toBe(80 - 2 - 16); // 2 + 64 rounds up to 80
  });

  it.each([
    ['an AES header with a 5-byte key', 'A', 5, 'TR31_KEY_LENGTH'],
    ['an AES header with a 20-byte key', 'A', 20, 'TR31_KEY_LENGTH'],
    ['a TDES header with an 8-byte key', 'T', 8, 'TR31_KEY_LENGTH'],
    ['a DES header with a 16-byte key', 'D', 16, 'TR31_KEY_LENGTH'],
    ['an HMAC header with an empty key', 'H', 0, 'TR31_KEY_LENGTH'],
  ])('refuses %s', (_what, algorithm, length, code) => {
    const init = { keyUsage: 'K0', algorithm, modeOfUse: 'B', exportability: 'E' };
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, init, new Uint8Array(length), zeroRng))).toBe(code);
  });

  it('refuses bad arguments', () => {
    const header = 'D0000P0AE00E0000';
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, header, a74Key, zeroRng, { maskedKeyLength: 8 }))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, header, a74Key, zeroRng, { maskedKeyLength: 16.5 }))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, header, a74Key, () => new Uint8Array(3)))).toBe('BAD_LENGTH');
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, header, 'key' as unknown as Uint8Array, zeroRng))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => wrapKeyBlock(new Uint8Array(15), header, a74Key, zeroRng))).toBe('KEY_LENGTH');
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, header + 'XX', a74Key, zeroRng))).toBe('TR31_MALFORMED');
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, 'D0000P0AE00X0000', a74Key, zeroRng))).toBe('TR31_MALFORMED');
  });

  it('refuses to build versions other than D (B is planned for TDES, A and C are not)', () => {
    for (const v of ['A', 'B', 'C']) {
      expect(codeOf(() => wrapKeyBlock(a74Kbpk, `${v}0000P0TE00E0000`, new Uint8Array(16), zeroRng))).toBe('TR31_UNSUPPORTED');
    }
  });

  it('refuses a block longer than 9999 characters', () => {
    const init = { keyUsage: 'S0', algorithm: 'R', modeOfUse: 'S', exportability: 'N' };
    expect(codeOf(() => wrapKeyBlock(a74Kbpk, init, new Uint8Array(5000), zeroRng))).toBe('TR31_MALFORMED');
  });
});

describe('TR-31 unwrap: the caller states the usage it needs', () => {
  const block = a74.block; // P0, AES, mode E

  it('returns the key and header when usage, mode and algorithm allow it', () => {
    const { key, header } = unwrapKeyBlock(a74Kbpk, block, { usage: 'P0', modesOfUse: ['E', 'B'], algorithm: 'A' });
    expect(toHex(key)).toBe(a74.key);
    expect(header.keyUsage).toBe('P0');
  });

  it.each([
    ['another usage', { usage: 'M6', modesOfUse: ['C'] }],
    ['a mode the block does not allow', { usage: 'P0', modesOfUse: ['D'] }],
    ['another algorithm', { usage: 'P0', modesOfUse: ['E'], algorithm: 'T' }],
  ])('refuses a block whose header does not allow %s: TR31_USAGE_NOT_ALLOWED', (_what, policy) => {
    expect(codeOf(() => unwrapKeyBlock(a74Kbpk, block, policy))).toBe('TR31_USAGE_NOT_ALLOWED');
  });

  it.each([
    ['no policy', undefined],
    ['a one-character usage', { usage: 'P', modesOfUse: ['E'] }],
    ['no modes of use', { usage: 'P0', modesOfUse: [] }],
  ])('refuses a call with %s', (_what, policy) => {
    expect(codeOf(() => unwrapKeyBlock(a74Kbpk, block, policy as unknown as Tr31KeyPolicy))).toBe('BAD_ARGUMENT');
  });

  it('verifies the MAC before the policy: a header altered to please the caller is tampering', () => {
    const altered = block.slice(0, 5) + 'K0' + block.slice(7);
    expect(codeOf(() => unwrapKeyBlock(a74Kbpk, altered, { usage: 'K0', modesOfUse: ['E'] }))).toBe('TR31_MAC_MISMATCH');
  });
});

describe('TR-31 unwrap: tampered, foreign and malformed blocks', () => {
  it('refuses a block under the wrong KBPK with TR31_MAC_MISMATCH', () => {
    const wrong = a74Kbpk.slice();
    wrong[31] ^= 1;
    expect(codeOf(() => unwrapKeyBlock(wrong, a74.block, p0Encrypt))).toBe('TR31_MAC_MISMATCH');
    expect(codeOf(() => unwrapKeyBlock(a74Kbpk.subarray(0, 16), a74.block, p0Encrypt))).toBe('TR31_MAC_MISMATCH');
  });

  /** Same version, length and header extent as the original, and hex after the header. */
  function stillWellFormed(flipped: string, original: string): boolean {
    const before = parseKeyBlockHeader(original);
    try {
      const after = parseKeyBlockHeader(flipped);
      return (
        after.header.versionId === 'D' &&
        after.declaredLength === before.declaredLength &&
        after.headerLength === before.headerLength &&
        /^[0-9A-F]*$/.test(flipped.slice(after.headerLength))
      );
    } catch {
      return false;
    }
  }

  /** Every single-bit flip of every character: none may unwrap; a still well-formed block must fail its MAC. */
  function flipEveryBit(kbpk: Uint8Array, block: string, policy: Tr31KeyPolicy): Record<string, number> {
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < block.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = block.slice(0, i) + String.fromCharCode(block.charCodeAt(i) ^ (1 << bit)) + block.slice(i + 1);
        const code = codeOf(() => unwrapKeyBlock(kbpk, flipped, policy));
        outcomes[code] = (outcomes[code] ?? 0) + 1;
        if (stillWellFormed(flipped, block)) expect(code, `flip of bit ${bit} at ${i}`).toBe('TR31_MAC_MISMATCH');
        else expect(['TR31_MAC_MISMATCH', 'TR31_MALFORMED', 'TR31_UNSUPPORTED'], `flip of bit ${bit} at ${i}`).toContain(code);
      }
    }
    return outcomes;
  }

  it('rejects every single-bit flip of the A.7.4 block', () => {
    const outcomes = flipEveryBit(a74Kbpk, a74.block, p0Encrypt);
    expect(outcomes['no error']).toBeUndefined();
    expect(outcomes.TR31_MAC_MISMATCH).toBeGreaterThan(a74.block.length); // most flips land in hex that stays hex
  });

  it('rejects every single-bit flip of a block with optional blocks (KS, PB)', () => {
    const v = vectors.wrap.find((w) => w.name === 'paysec AES-192 KBPK, KS and PB')!;
    const outcomes = flipEveryBit(fromHex(v.kbpk), v.block, policyOf(v.block));
    expect(outcomes['no error']).toBeUndefined();
    expect(outcomes.TR31_MAC_MISMATCH).toBeGreaterThan(0);
  });

  it.each([
    ['truncated by one block', a74.block.slice(0, -32)],
    ['one character short', a74.block.slice(0, -1)],
    ['one character long', a74.block + '0'],
    ['whose length field disagrees with its length', 'D0113' + a74.block.slice(5)],
    ['lowercase hex', a74.block.slice(0, 16) + a74.block.slice(16).toLowerCase()],
    ['a non-hex character in the MAC', a74.block.slice(0, -1) + 'G'],
    ['no payload at all', 'D0048P0AE00E0000' + a74.block.slice(-32)],
    ['a payload that is not whole AES blocks', 'D0104P0AE00E0000' + a74.block.slice(24)],
    ['empty', ''],
    ['a header only', 'D0016P0AE00E0000'],
  ])('refuses a block %s with TR31_MALFORMED', (_what, block) => {
    expect(codeOf(() => unwrapKeyBlock(a74Kbpk, block, p0Encrypt))).toBe('TR31_MALFORMED');
  });

  /** A block that authenticates but carries `payload` as built here, to test what is read after the MAC. */
  function authenticBlock(payload: Buffer): string {
    const header = 'D' + String(16 + 2 * payload.length + 32).padStart(4, '0') + 'P0AE00E0000';
    const kbpk = Buffer.from(a74.kbpk, 'hex');
    const mac = referenceCmac(referenceDerive(kbpk, 'mac'), Buffer.concat([Buffer.from(header), payload]));
    const kbek = referenceDerive(kbpk, 'encryption');
    const encrypted = toHex(aesCbcReference(kbek, mac, payload));
    return header + encrypted + mac.toString('hex').toUpperCase();
  }

  it.each([
    ['a zero key length', Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(30)])],
    ['a key length that is not whole bytes', Buffer.concat([Buffer.from([0, 0x81]), Buffer.alloc(30)])],
    ['a key length beyond the payload', Buffer.concat([Buffer.from([0x01, 0x00]), Buffer.alloc(30)])],
  ])('refuses an authentic block with %s: TR31_MALFORMED', (_what, payload) => {
    const block = authenticBlock(payload);
    expect(codeOf(() => unwrapKeyBlock(a74Kbpk, block, p0Encrypt))).toBe('TR31_MALFORMED');
  });

  it('refuses an authentic AES block whose key has 5 bytes: TR31_KEY_LENGTH', () => {
    const block = authenticBlock(Buffer.concat([Buffer.from([0, 40]), Buffer.alloc(30, 9)]));
    expect(codeOf(() => unwrapKeyBlock(a74Kbpk, block, p0Encrypt))).toBe('TR31_KEY_LENGTH');
  });

  it('accepts the authentic block the helper builds when its payload is right (so the cases above test what they say)', () => {
    const block = authenticBlock(Buffer.concat([Buffer.from([0, 128]), Buffer.from(a74.key, 'hex'), Buffer.alloc(14)]));
    expect(toHex(unwrapKeyBlock(a74Kbpk, block, p0Encrypt).key)).toBe(a74.key);
  });
});

function aesCbcReference(key: Buffer, iv: Buffer, data: Buffer): Uint8Array {
  const c = createCipheriv(`aes-${key.length * 8}-cbc`, key, iv).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}
