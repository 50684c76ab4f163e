import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asciiToBytes, concatBytes, fromHex, toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { aesCmac } from '../../../shared/crypto/cmac';
import {
  KDF_COUNTER_BITS,
  KDF_COUNTER_LOCATION,
  KDF_MAX_OUTPUT_BYTES,
  deriveKeyCounterCmac,
  kdfCounterCmacRaw,
} from '../../../shared/crypto/kdf';

interface CavpVector {
  name: string;
  L: number;
  KI: string;
  FixedInputData: string;
  KO: string;
}
const file = JSON.parse(readFileSync(new URL('../../vectors/kdf.json', import.meta.url), 'utf8'));
const vectors: CavpVector[] = file.vectors;

const KEY = fromHex('3F419E1CB7079442AA37474C2EFBF8B8');

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isPaypadError(e), `expected a PaypadError, got ${String(e)}`).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

/** The SP 800-108r1 §4 fixed input as documented in kdf.ts, built here by hand. */
function fixedInput(label: Uint8Array, context: Uint8Array, lengthBytes: number): Uint8Array {
  const bits = lengthBytes * 8;
  return concatBytes(label, new Uint8Array([0]), context, new Uint8Array([bits >>> 24, (bits >>> 16) & 255, (bits >>> 8) & 255, bits & 255]));
}

describe('SP 800-108r1 counter-mode KDF with AES-CMAC', () => {
  it('is configured as the CAVP vectors are: r = 8 bits, counter before the fixed input', () => {
    expect(KDF_COUNTER_BITS).toBe(8);
    expect(KDF_COUNTER_LOCATION).toBe('before-fixed');
    expect(KDF_MAX_OUTPUT_BYTES).toBe(255 * 16);
  });

  describe('NIST CAVP KBKDF vectors (KDFCTR_gen.rsp, CMAC, BEFORE_FIXED, RLEN=8_BITS)', () => {
    it('the vector file covers both key sizes and outputs that end mid-block', () => {
      expect(new Set(vectors.map((v) => v.KI.length / 2))).toEqual(new Set([16, 32]));
      expect(vectors.some((v) => v.L % 128 !== 0)).toBe(true);
    });
    for (const v of vectors) {
      it(v.name, () => {
        expect(toHex(kdfCounterCmacRaw(fromHex(v.KI), fromHex(v.FixedInputData), v.L / 8))).toBe(v.KO.toUpperCase());
      });
    }
  });

  it('puts the 8-bit counter first and counts from 1 to 255 across the whole output', () => {
    const fixed = asciiToBytes('counter layout');
    const out = kdfCounterCmacRaw(KEY, fixed, KDF_MAX_OUTPUT_BYTES);
    expect(toHex(out.subarray(0, 16))).toBe(toHex(aesCmac(KEY, concatBytes(new Uint8Array([1]), fixed))));
    expect(toHex(out.subarray(16, 32))).toBe(toHex(aesCmac(KEY, concatBytes(new Uint8Array([2]), fixed))));
    expect(toHex(out.subarray(254 * 16))).toBe(toHex(aesCmac(KEY, concatBytes(new Uint8Array([255]), fixed))));
  });

  it('truncates the last block to the requested length (L not a multiple of 128)', () => {
    const fixed = asciiToBytes('truncation');
    const full = kdfCounterCmacRaw(KEY, fixed, 32);
    expect(toHex(kdfCounterCmacRaw(KEY, fixed, 20))).toBe(toHex(full.subarray(0, 20)));
    expect(kdfCounterCmacRaw(KEY, fixed, 1)).toHaveLength(1);
  });

  it('derives over Label || 0x00 || Context || [L]_32, the documented fixed input', () => {
    const label = asciiToBytes('MAC');
    const context = asciiToBytes('PP0123456789');
    for (const lengthBytes of [16, 20, 32, 64]) {
      expect(toHex(deriveKeyCounterCmac(KEY, { label, context, lengthBytes }))).toBe(
        toHex(kdfCounterCmacRaw(KEY, fixedInput(label, context, lengthBytes), lengthBytes)),
      );
    }
  });

  it('binds the output length: a 16-byte key is not the prefix of a 32-byte key', () => {
    const params = { label: asciiToBytes('KEK'), context: asciiToBytes('PP1') };
    const short = deriveKeyCounterCmac(KEY, { ...params, lengthBytes: 16 });
    const long = deriveKeyCounterCmac(KEY, { ...params, lengthBytes: 32 });
    expect(toHex(long.subarray(0, 16))).not.toBe(toHex(short));
  });

  it('separates purposes and parties: another label, context or key gives another key', () => {
    const base = { label: asciiToBytes('MAC'), context: asciiToBytes('PP1'), lengthBytes: 16 };
    const reference = toHex(deriveKeyCounterCmac(KEY, base));
    expect(toHex(deriveKeyCounterCmac(KEY, { ...base, label: asciiToBytes('ENC') }))).not.toBe(reference);
    expect(toHex(deriveKeyCounterCmac(KEY, { ...base, context: asciiToBytes('PP2') }))).not.toBe(reference);
    expect(toHex(deriveKeyCounterCmac(KEY, { ...base, context: new Uint8Array(0) }))).not.toBe(reference);
    expect(toHex(deriveKeyCounterCmac(new Uint8Array(16), base))).not.toBe(reference);
    expect(toHex(deriveKeyCounterCmac(KEY, base))).toBe(reference);
  });

  it('accepts AES-192 and AES-256 key-derivation keys', () => {
    for (const length of [24, 32]) {
      expect(deriveKeyCounterCmac(new Uint8Array(length).fill(7), { label: asciiToBytes('X'), context: new Uint8Array(0), lengthBytes: 32 })).toHaveLength(32);
    }
  });

  it('rejects output lengths outside 1..4080 bytes with BAD_LENGTH', () => {
    const fixed = asciiToBytes('x');
    for (const lengthBytes of [0, -16, 1.5, Number.NaN, KDF_MAX_OUTPUT_BYTES + 1, 2 ** 32]) {
      expectCode(() => kdfCounterCmacRaw(KEY, fixed, lengthBytes), 'BAD_LENGTH');
      expectCode(() => deriveKeyCounterCmac(KEY, { label: fixed, context: fixed, lengthBytes }), 'BAD_LENGTH');
    }
  });

  it('rejects an empty label, or one containing 0x00 (it would make the separator ambiguous), with BAD_ARGUMENT', () => {
    const context = asciiToBytes('PP1');
    expectCode(() => deriveKeyCounterCmac(KEY, { label: new Uint8Array(0), context, lengthBytes: 16 }), 'BAD_ARGUMENT');
    expectCode(() => deriveKeyCounterCmac(KEY, { label: new Uint8Array([0x41, 0x00, 0x42]), context, lengthBytes: 16 }), 'BAD_ARGUMENT');
    expectCode(() => deriveKeyCounterCmac(KEY, { label: 'MAC' as unknown as Uint8Array, context, lengthBytes: 16 }), 'BAD_ARGUMENT');
    expectCode(() => deriveKeyCounterCmac(KEY, { label: context, context: 'PP1' as unknown as Uint8Array, lengthBytes: 16 }), 'BAD_ARGUMENT');
    expectCode(() => kdfCounterCmacRaw(KEY, null as unknown as Uint8Array, 16), 'BAD_ARGUMENT');
  });

  it('rejects key-derivation keys that are not AES keys with KEY_LENGTH', () => {
    for (const length of [0, 8, 16 + 1, 48]) {
      expectCode(() => kdfCounterCmacRaw(new Uint8Array(length), asciiToBytes('x'), 16), 'KEY_LENGTH');
    }
  });
});
