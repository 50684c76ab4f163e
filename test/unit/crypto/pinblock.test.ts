import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Rng, fromHex, toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { decipherPinBlockIso4, encipherPinBlockIso4, translatePinBlockIso4, withPinFieldIso4 } from '../../../shared/crypto/pinblock';

interface PinBlockVector {
  name: string;
  source: string;
  key: string;
  pan: string;
  pin: string;
  block: string;
  randomFill: string;
}
const vectors: PinBlockVector[] = JSON.parse(readFileSync(new URL('../../vectors/pinblock.json', import.meta.url), 'utf8')).vectors;

const KEY = fromHex('C1D0F8FB4958670DBA40AB1F3752EF0D');
const PAN = '432198765432109870';

/** An RNG that hands out exactly the given bytes, and records every request. */
function scriptedRng(bytes: Uint8Array): Rng & { requests: number[] } {
  const requests: number[] = [];
  const rng = (length: number) => {
    requests.push(length);
    return bytes.slice(0, length);
  };
  return Object.assign(rng, { requests });
}
const nodeRng: Rng = (length) => new Uint8Array(randomBytes(length));

function expectCode(fn: () => unknown, code: string): Error {
  try {
    fn();
  } catch (e) {
    expect(isPaypadError(e), `expected a PaypadError, got ${String(e)}`).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return e as Error;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

// Independent of the module under test: the format 4 fields built from the ISO 9564-1 layout
// with node:crypto AES, so the tests check the layout itself and not just self-consistency.
function aesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Uint8Array {
  const name = `aes-${key.length * 8}-ecb`;
  const c = decrypt ? createDecipheriv(name, key, null) : createCipheriv(name, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}
function panFieldHex(pan: string): string {
  const m = pan.length > 12 ? pan.length - 12 : 0;
  return (m.toString(16) + pan.padStart(12, '0')).padEnd(32, '0');
}
function encipherPlainField(key: Uint8Array, plainFieldHex: string, pan: string): Uint8Array {
  const intermediate = aesEcb(key, fromHex(plainFieldHex));
  const pf = fromHex(panFieldHex(pan));
  return aesEcb(key, intermediate.map((b, i) => b ^ pf[i]));
}
function decipherToPlainFieldHex(key: Uint8Array, block: Uint8Array, pan: string): string {
  const pf = fromHex(panFieldHex(pan));
  const chained = aesEcb(key, block, true).map((b, i) => b ^ pf[i]);
  return toHex(aesEcb(key, chained, true));
}

describe('ISO 9564-1 PIN block format 4 (A12: PINs travel only as PIN blocks under PIK)', () => {
  for (const v of vectors) {
    it(`deciphers the published vector: ${v.name}`, () => {
      expect(decipherPinBlockIso4(fromHex(v.key), fromHex(v.block), v.pan)).toBe(v.pin);
    });

    it(`reproduces the published block from its random fill through the injected RNG: ${v.name}`, () => {
      const rng = scriptedRng(fromHex(v.randomFill));
      expect(toHex(encipherPinBlockIso4(fromHex(v.key), v.pin, v.pan, rng))).toBe(v.block);
      expect(rng.requests).toEqual([8]);
    });
  }

  it('lays out the plain PIN field as 4 | N | PIN | A-fill | 8 RNG bytes (checked with node:crypto)', () => {
    const fill = fromHex('0123456789ABCDEF');
    const block = encipherPinBlockIso4(KEY, '987654321', PAN, scriptedRng(fill));
    expect(decipherToPlainFieldHex(KEY, block, PAN)).toBe('49987654321AAAAA0123456789ABCDEF');
  });

  it('round-trips every PIN length 4..12 and PAN lengths 1..19', () => {
    for (let pinLength = 4; pinLength <= 12; pinLength++) {
      for (const panLength of [1, 5, 11, 12, 13, 16, 19]) {
        const pin = '9081726354120'.slice(0, pinLength);
        const pan = '5413330089604111999'.slice(0, panLength);
        const block = encipherPinBlockIso4(KEY, pin, pan, nodeRng);
        expect(decipherPinBlockIso4(KEY, block, pan)).toBe(pin);
      }
    }
  });

  it('works with AES-192 and AES-256 PIN keys', () => {
    for (const length of [24, 32]) {
      const key = new Uint8Array(randomBytes(length));
      const block = encipherPinBlockIso4(key, '2468', PAN, nodeRng);
      expect(decipherPinBlockIso4(key, block, PAN)).toBe('2468');
    }
  });

  it('uses the injected RNG: the same RNG output gives the same block, another gives another', () => {
    const a = encipherPinBlockIso4(KEY, '1234', PAN, scriptedRng(fromHex('1111111111111111')));
    const b = encipherPinBlockIso4(KEY, '1234', PAN, scriptedRng(fromHex('1111111111111111')));
    const c = encipherPinBlockIso4(KEY, '1234', PAN, scriptedRng(fromHex('1111111111111112')));
    expect(toHex(a)).toBe(toHex(b));
    expect(toHex(a)).not.toBe(toHex(c));
  });

  it('never repeats a block or a fill for the same PIN and PAN with a real RNG', () => {
    const blocks = new Set<string>();
    const fills = new Set<string>();
    for (let i = 0; i < 32; i++) {
      const block = encipherPinBlockIso4(KEY, '1234', PAN, nodeRng);
      blocks.add(toHex(block));
      fills.add(decipherToPlainFieldHex(KEY, block, PAN).slice(16));
    }
    expect(blocks.size).toBe(32);
    expect(fills.size).toBe(32);
  });

  it('binds the block to the PAN: every PAN digit counts, a shorter PAN is zero-padded to 12 digits', () => {
    const rng = () => scriptedRng(fromHex('A5A5A5A5A5A5A5A5'));
    const block = encipherPinBlockIso4(KEY, '1234', PAN, rng());
    // format 4 keeps all 18 digits, unlike format 0/3 which drop the leading ones
    expect(toHex(encipherPinBlockIso4(KEY, '1234', '532198765432109870', rng()))).not.toBe(toHex(block));
    expectCode(() => decipherPinBlockIso4(KEY, block, '432198765432109871'), 'PIN_BLOCK_INVALID');
    // ISO 9564-1 format 4: a PAN of fewer than 12 digits is left-padded with zeros to 12 (M = 0)
    expect(toHex(encipherPinBlockIso4(KEY, '1234', '123456789', rng()))).toBe(
      toHex(encipherPinBlockIso4(KEY, '1234', '000123456789', rng())),
    );
    // ...while 13 digits carry M = 1, so a leading zero digit is not the same PAN
    expect(toHex(encipherPinBlockIso4(KEY, '1234', '0123456789012', rng()))).not.toBe(
      toHex(encipherPinBlockIso4(KEY, '1234', '123456789012', rng())),
    );
  });

  it('rejects a wrong key with PIN_BLOCK_INVALID', () => {
    const block = fromHex(vectors[0].block);
    expectCode(() => decipherPinBlockIso4(fromHex('00000000000000000000000000000000'), block, vectors[0].pan), 'PIN_BLOCK_INVALID');
  });

  describe('rejects a deciphered field that breaks the format with PIN_BLOCK_INVALID', () => {
    const cases: Array<[string, string]> = [
      ['control nibble 3 (format 3 data)', '341234AAAAAAAAAA0123456789ABCDEF'],
      ['control nibble 0', '041234AAAAAAAAAA0123456789ABCDEF'],
      ['PIN length 3', '43123AAAAAAAAAAA0123456789ABCDEF'],
      ['PIN length 13 (0xD)', '4D1234567890123A0123456789ABCDEF'],
      ['a non-digit PIN nibble', '4412B4AAAAAAAAAA0123456789ABCDEF'],
      ['a fill nibble that is not A', '441234AAAAAAAAAB0123456789ABCDEF'],
      ['a fill nibble that is F (format 0 fill)', '441234FFFFFFFFFF0123456789ABCDEF'],
    ];
    for (const [what, field] of cases) {
      it(what, () => {
        expectCode(() => decipherPinBlockIso4(KEY, encipherPlainField(KEY, field, PAN), PAN), 'PIN_BLOCK_INVALID');
      });
    }
    it('(control check) a well-formed field built the same way deciphers', () => {
      expect(decipherPinBlockIso4(KEY, encipherPlainField(KEY, '441234AAAAAAAAAA0123456789ABCDEF', PAN), PAN)).toBe('1234');
    });
  });

  it('rejects bad PINs with PIN_INVALID and never echoes them (X1)', () => {
    for (const pin of ['', '123', '1234567890123', '12a4', '12 34', '١٢٣٤', 1234 as unknown as string]) {
      const e = expectCode(() => encipherPinBlockIso4(KEY, pin, PAN, nodeRng), 'PIN_INVALID');
      if (typeof pin === 'string' && pin.length > 0) expect(e.message).not.toContain(pin);
    }
  });

  it('rejects bad PANs with PAN_INVALID on both sides and never echoes them (X1)', () => {
    const block = fromHex(vectors[0].block);
    for (const pan of ['', '41111111111111111111', '4111-1111-1111-1111', '4111111111111111 ', '41111x']) {
      const e = expectCode(() => encipherPinBlockIso4(KEY, '1234', pan, nodeRng), 'PAN_INVALID');
      if (pan.length > 0) expect(e.message).not.toContain(pan.trim());
      expectCode(() => decipherPinBlockIso4(KEY, block, pan), 'PAN_INVALID');
    }
  });

  it('never puts the PIN or PAN into a decipher error message (X1)', () => {
    const e = expectCode(() => decipherPinBlockIso4(KEY, fromHex(vectors[0].block), '4321987654321098'), 'PIN_BLOCK_INVALID');
    expect(e.message).not.toContain('1234');
    expect(e.message).not.toContain('4321987654321098');
  });

  it('rejects blocks that are not 16 bytes with BAD_LENGTH', () => {
    for (const length of [0, 8, 15, 17, 32]) {
      expectCode(() => decipherPinBlockIso4(KEY, new Uint8Array(length), PAN), 'BAD_LENGTH');
    }
  });

  it('rejects PIN keys that are not AES keys with KEY_LENGTH', () => {
    for (const length of [0, 8, 15, 17, 33]) {
      expectCode(() => encipherPinBlockIso4(new Uint8Array(length), '1234', PAN, nodeRng), 'KEY_LENGTH');
      expectCode(() => decipherPinBlockIso4(new Uint8Array(length), new Uint8Array(16), PAN), 'KEY_LENGTH');
    }
  });

  it('rejects an RNG that returns the wrong number of bytes with BAD_LENGTH', () => {
    expectCode(() => encipherPinBlockIso4(KEY, '1234', PAN, () => new Uint8Array(7)), 'BAD_LENGTH');
    expectCode(() => encipherPinBlockIso4(KEY, '1234', PAN, () => new Uint8Array(16)), 'BAD_LENGTH');
  });
});

describe('ISO 9564-1 format 4 PIN translation (C6: the PIN moves from the terminal PIK to the zone PIN key)', () => {
  const [ep2, dukpt] = vectors;
  const OTHER_KEY = fromHex(dukpt.key);

  it('re-enciphers the published ep2 block under another key: the same plain field, and back again byte for byte', () => {
    const translated = translatePinBlockIso4(fromHex(ep2.key), OTHER_KEY, fromHex(ep2.block), ep2.pan);
    expect(decipherToPlainFieldHex(OTHER_KEY, translated, ep2.pan)).toBe(`441234AAAAAAAAAA${ep2.randomFill}`);
    expect(toHex(translatePinBlockIso4(OTHER_KEY, fromHex(ep2.key), translated, ep2.pan))).toBe(ep2.block);
  });

  it('checks the source block for this PAN before anything is enciphered (PIN_BLOCK_INVALID)', () => {
    expectCode(() => translatePinBlockIso4(fromHex(ep2.key), OTHER_KEY, fromHex(ep2.block), '432198765432109871'), 'PIN_BLOCK_INVALID');
    expectCode(() => translatePinBlockIso4(OTHER_KEY, fromHex(ep2.key), fromHex(ep2.block), ep2.pan), 'PIN_BLOCK_INVALID');
    const tampered = fromHex(ep2.block);
    tampered[15] ^= 1;
    expectCode(() => translatePinBlockIso4(fromHex(ep2.key), OTHER_KEY, tampered, ep2.pan), 'PIN_BLOCK_INVALID');
  });

  it('refuses a destination that is not an AES key (KEY_LENGTH)', () => {
    expectCode(() => translatePinBlockIso4(fromHex(ep2.key), new Uint8Array(8), fromHex(ep2.block), ep2.pan), 'KEY_LENGTH');
  });

  it('hands a PIN verification function the checked plain field and PAN field, then wipes both', () => {
    let seen: Uint8Array[] = [];
    const copied = withPinFieldIso4(fromHex(ep2.key), fromHex(ep2.block), ep2.pan, (pinField, panField) => {
      seen = [pinField, panField];
      return toHex(pinField) + toHex(panField);
    });
    expect(copied).toBe(`441234AAAAAAAAAA${ep2.randomFill}${panFieldHex(ep2.pan)}`);
    expect(seen.every((field) => field.every((b) => b === 0))).toBe(true);
  });
});
