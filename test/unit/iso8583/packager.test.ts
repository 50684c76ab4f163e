/**
 * The ISO 8583:1987 packager: published messages, round trips, and every kind of bad input
 * refused with a typed error and no partial message (C6, C8, X2: the acquirer link's messages).
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { FrameDecoder } from '../../../shared/protocol/localLink';
import { ACQUIRER_LINK_FIELDS, ISO87_FIELDS, type Iso8583Message, createPackager } from '../../../host/payments/iso8583/index';
import vectors from '../../vectors/iso8583.json';

const iso87 = createPackager(ISO87_FIELDS);
const link = createPackager(ACQUIRER_LINK_FIELDS);
const ascii = (text: string) => new TextEncoder().encode(text);
const code = (c: string) => expect.objectContaining({ name: 'PaypadError', code: c });

const [published0820, published0210] = vectors.messages;

/** A link message with a secondary bitmap, variable fields and a binary field. */
const sample: Iso8583Message = {
  mti: '0200',
  fields: {
    2: '6222021234567890128',
    3: '000000',
    4: '000000012345',
    11: '000042',
    35: '6222021234567890128=30122011234567890',
    41: 'TERM0001',
    48: 'D0112P0AE00E0000',
    52: fromHex('CC17F65586BFD0953010226C4FC5B3CA'),
    90: '020000004212061230450000000000000000000000',
  },
};

describe('ISO 8583:1987 packager, published messages', () => {
  it(`C8: unpacks the published 0820 (${published0820.source.split(':')[0]}) field for field, after its 2-byte length frame and 10-byte header`, () => {
    const [payload] = new FrameDecoder().push(fromHex(published0820.frameHex!));
    expect(payload.length).toBe(0x5b);
    const message = iso87.unpack(payload.subarray(published0820.headerBytes));
    expect(message.mti).toBe('0820');
    expect(message.fields).toEqual(Object.fromEntries(Object.entries(published0820.fields).map(([k, v]) => [Number(k), v])));
    expect(toHex(iso87.pack(message))).toBe(toHex(payload.subarray(published0820.headerBytes)));
  });

  it(`C8: unpacks the published 0210 (${published0210.source.split(':')[0]}) and packs it back byte for byte`, () => {
    const bytes = fromHex(published0210.messageHex!);
    const message = iso87.unpack(bytes);
    expect(message.mti).toBe('0210');
    expect(message.fields).toEqual(Object.fromEntries(Object.entries(published0210.fields).map(([k, v]) => [Number(k), v])));
    expect(toHex(iso87.pack(message))).toBe(published0210.messageHex);
  });

  it('C8: the acquirer-link profile refuses the published 0210 because it carries fields the link does not define (32, 54)', () => {
    expect(() => link.unpack(fromHex(published0210.messageHex!))).toThrow(code('ISO8583_MALFORMED'));
    expect(() => link.unpack(fromHex(published0210.messageHex!))).toThrow(/field 32 .* not defined/);
  });
});

describe('ISO 8583:1987 packager, round trips', () => {
  it('C8: packs MTI, binary bitmaps (secondary set for field 90), LL/LLL prefixes and raw binary field 52', () => {
    const bytes = link.pack(sample);
    expect(toHex(bytes.subarray(0, 4))).toBe(toHex(ascii('0200')));
    // Bits 1 (secondary), 2, 3, 4, 11, 35, 41, 48, 52; then 90 in the secondary bitmap.
    expect(toHex(bytes.subarray(4, 20))).toBe('F020000020811000' + '0000004000000000');
    expect(toHex(bytes.subarray(20, 41))).toBe(toHex(ascii('196222021234567890128')));
    const unpacked = link.unpack(bytes);
    expect(unpacked).toEqual(sample);
    expect(toHex(link.pack(unpacked))).toBe(toHex(bytes));
  });

  it('C8: a message with fields up to 64 only has no secondary bitmap', () => {
    const bytes = link.pack({ mti: '0800', fields: { 11: '000001', 70: undefined, 7: '1206123045' } });
    expect(bytes.length).toBe(4 + 8 + 6 + 10);
    expect(bytes[4] & 0x80).toBe(0);
  });

  it('C8: every field of the ISO87 table round-trips at its widest', () => {
    const widest: Record<number, string | Uint8Array> = {};
    for (const [field, spec] of ISO87_FIELDS) {
      const fill = { n: '9', an: 'Z', ans: '~', z: '=', xn: '1', b: '' }[spec.kind];
      widest[field] = spec.kind === 'b' ? new Uint8Array(spec.length).fill(0xa5) : spec.kind === 'xn' ? 'D' + fill.repeat(spec.length - 1) : fill.repeat(spec.length);
    }
    const message = { mti: '0100', fields: widest };
    expect(iso87.unpack(iso87.pack(message))).toEqual(message);
  });

  it('C8: random single-byte corruption of a packed message is refused, or reads as another message that packs to exactly those bytes', () => {
    const good = link.pack(sample);
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const bad = good.slice();
      bad[(i * 7919) % bad.length] ^= 1 + (i % 255);
      try {
        expect(toHex(link.pack(link.unpack(bad)))).toBe(toHex(bad));
      } catch (error) {
        if (!isPaypadError(error, 'ISO8583_MALFORMED')) throw error;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });
});

describe('ISO 8583:1987 packager refuses bad bytes with ISO8583_MALFORMED and no message', () => {
  const good = link.pack(sample);

  it('C8: truncated at every length', () => {
    for (let length = 0; length < good.length; length++) {
      expect(() => link.unpack(good.subarray(0, length)), `length ${length}`).toThrow(code('ISO8583_MALFORMED'));
    }
  });

  it('C8: trailing bytes after the last field', () => {
    expect(() => link.unpack(concatBytes(good, ascii('0')))).toThrow(/1 bytes after the last field/);
  });

  it('C8: an MTI that is not four digits of the 1987 version', () => {
    for (const mti of ['02A0', '1200', '2200']) {
      expect(() => link.unpack(concatBytes(ascii(mti), good.subarray(4)))).toThrow(code('ISO8583_MALFORMED'));
    }
  });

  it('C8: a secondary bitmap that marks no field', () => {
    const bytes = concatBytes(ascii('0800'), fromHex('A0000000000000000000000000000000'), ascii('000001'));
    expect(() => link.unpack(bytes)).toThrow(/secondary bitmap that marks no field/);
  });

  it('C8: a field the link does not define (track 1, field 45)', () => {
    const bytes = concatBytes(ascii('0200'), fromHex('0000000000080000'), ascii('05B1234'));
    expect(() => link.unpack(bytes)).toThrow(/field 45 is not defined/);
  });

  it('C8: a length prefix that is not digits, or longer than the field allows', () => {
    const pan = (prefix: string, digits: string) => concatBytes(ascii('0200'), fromHex('4000000000000000'), ascii(prefix + digits));
    expect(() => link.unpack(pan('1A', '1234567890'))).toThrow(/length prefix is not 2 ASCII digits/);
    expect(() => link.unpack(pan('20', '12345678901234567890'))).toThrow(/length 20 exceeds its maximum 19/);
    expect(link.unpack(pan('19', '1234567890123456789')).fields[2]).toBe('1234567890123456789');
  });

  it('C8: a value of the wrong kind (letters in n, a control byte in ans, a high byte in an, a bad track 2 character)', () => {
    const stan = (value: Uint8Array) => concatBytes(ascii('0800'), fromHex('0020000000000000'), value);
    expect(() => link.unpack(stan(ascii('00004X')))).toThrow(/field 11 .*: not n characters/);
    const tid = (value: Uint8Array) => concatBytes(ascii('0800'), fromHex('0000000000800000'), value);
    expect(() => link.unpack(tid(concatBytes(ascii('TERM000'), new Uint8Array([0x07]))))).toThrow(/not ans characters/);
    const rc = (value: Uint8Array) => concatBytes(ascii('0810'), fromHex('0000000002000000'), value);
    expect(() => link.unpack(rc(new Uint8Array([0x30, 0xb0])))).toThrow(/not an characters/);
    const track2 = concatBytes(ascii('0200'), fromHex('0000000020000000'), ascii('056222?'));
    expect(() => link.unpack(track2)).toThrow(/not z characters/);
  });

  it('C8: an error never quotes the value it refused (X1: PAN and track data)', () => {
    const bytes = concatBytes(ascii('0200'), fromHex('4000000000000000'), ascii('196222021234567890X28'));
    expect(() => link.unpack(bytes)).toThrow(code('ISO8583_MALFORMED'));
    try {
      link.unpack(bytes);
    } catch (error) {
      expect(String((error as Error).message)).not.toMatch(/622202|7890/);
    }
  });

  it('C8: input that is not bytes', () => {
    expect(() => link.unpack('0800' as unknown as Uint8Array)).toThrow(code('ISO8583_MALFORMED'));
  });
});

describe('ISO 8583:1987 packager refuses bad values with ISO8583_FIELD_INVALID', () => {
  const packWith = (fields: Record<number, unknown>, mti = '0200') => () => link.pack({ mti, fields: fields as Iso8583Message['fields'] });

  it('C8: unknown fields: 0, 1 (the bitmap is the packager\'s), 129, a non-integer key, one the link does not define', () => {
    for (const fields of [{ 0: '1' }, { 1: new Uint8Array(8) }, { 129: '1' }, { '2.5': '1' }, { 45: 'B123' }]) {
      expect(packWith(fields)).toThrow(code('ISO8583_FIELD_INVALID'));
    }
  });

  it('C8: wrong types, wrong fixed lengths, oversized variable fields and wrong characters', () => {
    expect(packWith({ 11: 42 })).toThrow(/field 11 .*: expected text/);
    expect(packWith({ 52: 'CC17F65586BFD095' })).toThrow(/field 52 .*: expected bytes/);
    expect(packWith({ 11: '42' })).toThrow(/field 11 .*: expected exactly 6 \(got 2\)/);
    expect(packWith({ 2: '1'.repeat(20) })).toThrow(/field 2 .*: expected at most 19 \(got 20\)/);
    expect(packWith({ 4: '00000000100A' })).toThrow(/field 4 .*: not n characters/);
    expect(packWith({ 39: '0-' }, '0210')).toThrow(/field 39 .*: not an characters/);
  });

  it('C8: field 52 carries a 16-byte ISO 9564 format 4 PIN block on the link, and refuses an 8-byte one', () => {
    expect(packWith({ 52: new Uint8Array(8) })).toThrow(/field 52 \(PIN DATA\): expected exactly 16 \(got 8\)/);
    expect(() => iso87.pack({ mti: '0200', fields: { 52: new Uint8Array(16) } })).toThrow(code('ISO8583_FIELD_INVALID'));
    expect(link.unpack(link.pack({ mti: '0200', fields: { 52: new Uint8Array(16).fill(7) } })).fields[52]).toEqual(new Uint8Array(16).fill(7));
  });

  it('C8: a bad MTI or a message that is not { mti, fields }', () => {
    expect(packWith({}, '200')).toThrow(/MTI/);
    expect(packWith({}, '1200')).toThrow(/MTI/);
    expect(() => link.pack(null as unknown as Iso8583Message)).toThrow(code('ISO8583_FIELD_INVALID'));
  });
});
