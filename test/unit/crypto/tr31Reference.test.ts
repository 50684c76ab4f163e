/**
 * shared/crypto/tr31.ts against the independent node:crypto implementation in
 * test/support/tr31Reference.ts: byte-identical blocks, and each unwraps the other's.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { unwrapKeyBlock, wrapKeyBlock, type Tr31HeaderInit } from '../../../shared/crypto/tr31';
import { referenceUnwrap, referenceWrap, type ReferenceHeaderFields } from '../../support/tr31Reference';
import vectors from '../../vectors/tr31.json';

/** mulberry32: a seeded generator, so a failing case can be replayed from its index. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

interface Case {
  kbpk: Buffer;
  key: Buffer;
  pad: Buffer;
  masked: number;
  maskDefault: boolean;
  fields: ReferenceHeaderFields;
}

function randomCase(index: number): Case {
  const r = seeded(0x7231 + index);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const text = (n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join('');
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

  const [algorithm, keyLength, maxLength] = pick([
    ['A', 16, 32], ['A', 24, 32], ['A', 32, 32], ['T', 16, 24], ['T', 24, 24], ['H', 1 + int(64), 0], ['R', 100 + int(200), 0],
  ] as const);
  const key = bytes(keyLength);
  // Half the cases take the default mask (the algorithm's longest key), the rest choose one.
  const maskDefault = r() < 0.5;
  const masked = maskDefault ? Math.max(maxLength, keyLength) : keyLength + pick([0, 0, 1, 8, 16, 40]);
  const blocks: Array<[string, string]> = [];
  for (let i = int(4); i > 0; i--) {
    let id = text(2, ALNUM);
    while (id === 'PB') id = text(2, ALNUM);
    // Lengths around the 255-character switch to the extended form included.
    blocks.push([id, text(pick([0, 5, 20, 250, 251, 252, 300]), printable)]);
  }
  const payloadLength = 16 * Math.ceil((2 + masked) / 16);
  return {
    kbpk: bytes(pick([16, 24, 32])),
    key,
    pad: bytes(payloadLength - 2 - keyLength),
    masked,
    maskDefault,
    fields: {
      usage: pick(['K0', 'K1', 'P0', 'M6', 'M3', 'D0', 'B0', 'S0', '5X']),
      algorithm,
      mode: pick(['E', 'D', 'B', 'C', 'G', 'V', 'N', 'S']),
      keyVersion: pick(['00', text(2, ALNUM), 'c1']),
      exportability: pick(['E', 'N', 'S']),
      context: pick(['0', '1', '2']),
      blocks,
    },
  };
}

function headerInit(f: ReferenceHeaderFields): Tr31HeaderInit {
  return {
    keyUsage: f.usage,
    algorithm: f.algorithm,
    modeOfUse: f.mode,
    keyVersionNumber: f.keyVersion,
    exportability: f.exportability,
    keyContext: f.context,
    optionalBlocks: f.blocks.map(([id, data]) => ({ id, data })),
  };
}

describe('TR-31 version D against an independent node:crypto implementation', () => {
  it('the reference itself reproduces TR-31:2018 A.7.4 and unwraps every published vector', () => {
    const v = vectors.wrap[0];
    const fields: ReferenceHeaderFields = { usage: 'P0', algorithm: 'A', mode: 'E', keyVersion: '00', exportability: 'E', context: '0', blocks: [] };
    expect(referenceWrap(Buffer.from(v.kbpk, 'hex'), fields, Buffer.from(v.key, 'hex'), Buffer.from(v.pad, 'hex'), 16)).toBe(v.block);
    for (const w of vectors.wrap) {
      expect(referenceUnwrap(Buffer.from(w.kbpk, 'hex'), w.block).key.toString('hex').toUpperCase(), w.name).toBe(w.key);
    }
  });

  const CASES = 300;
  it(`${CASES} random KBPKs, keys, headers, optional blocks and masks: same bytes, and each unwraps the other's`, () => {
    let extended = 0;
    let padded = 0;
    for (let i = 0; i < CASES; i++) {
      const c = randomCase(i);
      const label = `case ${i}`;
      const init = headerInit(c.fields);
      const opts = c.maskDefault ? {} : { maskedKeyLength: c.masked };
      const ours = wrapKeyBlock(new Uint8Array(c.kbpk), init, new Uint8Array(c.key), (n) => {
        expect(n, label).toBe(c.pad.length);
        return new Uint8Array(c.pad);
      }, opts);
      const theirs = referenceWrap(c.kbpk, c.fields, c.key, c.pad, c.masked);
      expect(ours, label).toBe(theirs);

      // Ours -> reference.
      const byReference = referenceUnwrap(c.kbpk, ours);
      expect(byReference.key.equals(c.key), label).toBe(true);

      // Reference -> ours, with the policy the header allows.
      const { key, header } = unwrapKeyBlock(new Uint8Array(c.kbpk), theirs, { usage: c.fields.usage, modesOfUse: [c.fields.mode], algorithm: c.fields.algorithm });
      expect(toHex(key), label).toBe(c.key.toString('hex').toUpperCase());
      expect(header.keyVersionNumber, label).toBe(c.fields.keyVersion);
      expect(header.exportability, label).toBe(c.fields.exportability);
      expect(header.keyContext, label).toBe(c.fields.context);
      expect(header.optionalBlocks.filter((b) => b.id !== 'PB').map((b) => [b.id, b.data]), label).toEqual(c.fields.blocks);

      if (c.fields.blocks.some(([, data]) => data.length > 251)) extended++;
      if (header.optionalBlocks.some((b) => b.id === 'PB')) padded++;
    }
    // The random cases did reach the forms they are meant to exercise.
    expect(extended).toBeGreaterThan(10);
    expect(padded).toBeGreaterThan(50);
  });
});
