import { describe, expect, it } from 'vitest';
import { isPaypadError } from '../../../shared/errors';
import {
  buildKeyBlockHeader,
  completeKeyBlockHeader,
  parseKeyBlockHeader,
  type Tr31HeaderInit,
} from '../../../shared/crypto/tr31Header';
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

const x9143_85 = vectors.wrap.find((v) => v.name.startsWith('X9.143:2021 8.5'))!.block;
const x9143_82 = vectors.wrap.find((v) => v.name.startsWith('X9.143:2021 8.2'))!.block;

describe('TR-31 header parsing: every field (X9.143:2021 §6.2 table 1)', () => {
  it('reads the fixed fields of the TR-31:2018 A.7.4 block', () => {
    const parsed = parseKeyBlockHeader(vectors.wrap[0].block);
    expect(parsed).toEqual({
      header: {
        versionId: 'D',
        keyUsage: 'P0',
        algorithm: 'A',
        modeOfUse: 'E',
        keyVersionNumber: '00',
        exportability: 'E',
        keyContext: '0',
        optionalBlocks: [],
      },
      headerLength: 16,
      declaredLength: 112,
    });
  });

  it('reads key version, exportability, key context and optional blocks (X9.143:2021 8.2)', () => {
    const { header, headerLength, declaredLength } = parseKeyBlockHeader(x9143_82);
    expect(header.keyUsage).toBe('C0');
    expect(header.modeOfUse).toBe('V');
    expect(header.keyVersionNumber).toBe('A1');
    expect(header.exportability).toBe('N');
    expect(header.optionalBlocks).toEqual([
      { id: 'KS', data: 'VM9A' },
      { id: 'TS', data: '2018-06-18T20:42:39.22' },
      { id: 'PB', data: '0000000000' },
    ]);
    expect(headerLength).toBe(64);
    expect(declaredLength).toBe(192);
  });

  it('reads the extended length form: 00, length of length in bytes, then the length (X9.143:2021 8.5)', () => {
    const { header, headerLength } = parseKeyBlockHeader(x9143_85);
    expect(header.optionalBlocks.map((b) => b.id)).toEqual(['CT', 'KP', 'TS', 'PB']);
    const ct = header.optionalBlocks[0];
    expect(ct.data.length).toBe(0x500 - 10); // 'CT' '00' '02' '0500' then the data
    expect(ct.data.startsWith('00MIID')).toBe(true);
    expect(header.optionalBlocks[1]).toEqual({ id: 'KP', data: '01D77F007724' });
    expect(header.optionalBlocks[2]).toEqual({ id: 'TS', data: '20200818221218Z' });
    expect(headerLength).toBe(1344);
  });

  it('reads an extended length used for a short block, and a one-byte length of length', () => {
    const { header } = parseKeyBlockHeader('D0048P0TE00N0200KS00011600604B120F9292PB0A000000');
    expect(header.optionalBlocks).toEqual([
      { id: 'KS', data: '00604B120F9292' },
      { id: 'PB', data: '000000' },
    ]);
  });

  it('reads headers of versions A, B and C (their block size is 8) without claiming to unwrap them', () => {
    expect(parseKeyBlockHeader('B0040P0TE00N0100KS1800604B120F9292800000').headerLength).toBe(40);
    expect(parseKeyBlockHeader(vectors.rejected[0].block).header.versionId).toBe('A');
  });

  it.each([
    ['shorter than 16 characters', 'D0112P0AE00E000', 'TR31_MALFORMED'],
    ['length not decimal', 'D01X2P0AE00E0000', 'TR31_MALFORMED'],
    ['key usage not alphanumeric', 'D0112P_AE00E0000', 'TR31_MALFORMED'],
    ['algorithm not alphanumeric', 'D0112P0*E00E0000', 'TR31_MALFORMED'],
    ['mode of use not alphanumeric', 'D0112P0A-00E0000', 'TR31_MALFORMED'],
    ['key version not alphanumeric', 'D0112P0AE0.E0000', 'TR31_MALFORMED'],
    ['exportability outside E, N, S', 'D0112P0AE00X0000', 'TR31_MALFORMED'],
    ['key context outside 0, 1, 2', 'D0112P0AE00E0030', 'TR31_MALFORMED'],
    ['reserved character not 0', 'D0112P0AE00E0001', 'TR31_MALFORMED'],
    ['optional block count not decimal', 'D0112P0AE00E0X00', 'TR31_MALFORMED'],
    ['control character in the header', 'D0112P0AE\u00010E0000', 'TR31_MALFORMED'],
    ['version not alphanumeric', '?0112P0AE00E0000', 'TR31_MALFORMED'],
    ['version X9.143 does not define', 'E0112P0AE00E0000', 'TR31_UNSUPPORTED'],
    ['optional block missing', 'D0112P0AE00E0100', 'TR31_MALFORMED'],
    ['optional block length not hex', 'D0032P0AE00E0100KS1Y000000000000', 'TR31_MALFORMED'],
    ['optional block length in lowercase hex', 'D0032P0AE00E0100KS0c000000000000', 'TR31_MALFORMED'],
    ['optional block shorter than its own id and length', 'D0032P0AE00E0100KS03000000000000', 'TR31_MALFORMED'],
    ['optional block running past the end', 'D0032P0AE00E0100KSFF000000000000', 'TR31_MALFORMED'],
    ['length of length zero', 'D0032P0AE00E0100KS00000000000000', 'TR31_MALFORMED'],
    ['length of length larger than 4 bytes', 'D0032P0AE00E0100KS00050000000000', 'TR31_MALFORMED'],
    ['optional block id not alphanumeric', 'D0032P0AE00E0100K#10000000000000', 'TR31_MALFORMED'],
    ['control character in optional block data', 'D0032P0AE00E0100KS10\u000300000000000', 'TR31_MALFORMED'],
    ['PB not the last optional block', 'D0032P0AE00E0200PB08ABCDKS080000', 'TR31_MALFORMED'],
    ['header not a multiple of 16 for version D', 'D0024P0AE00E0100KS080000', 'TR31_MALFORMED'],
  ])('rejects a header with %s', (_what, text, code) => {
    expect(codeOf(() => parseKeyBlockHeader(text))).toBe(code);
  });

  it('rejects what is not a string', () => {
    expect(codeOf(() => parseKeyBlockHeader(42 as unknown as string))).toBe('TR31_MALFORMED');
  });
});

describe('TR-31 header building', () => {
  const plain: Tr31HeaderInit = { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E' };

  it('fills the defaults of a plain version D block and writes the whole block length', () => {
    expect(buildKeyBlockHeader(plain, 96)).toBe('D0112P0AE00E0000');
    expect(completeKeyBlockHeader(plain)).toEqual({
      versionId: 'D',
      keyUsage: 'P0',
      algorithm: 'A',
      modeOfUse: 'E',
      keyVersionNumber: '00',
      exportability: 'E',
      keyContext: '0',
      optionalBlocks: [],
    });
  });

  it('writes key version, exportability and key context as given', () => {
    const h = { ...plain, keyVersionNumber: 'c1', exportability: 'S', keyContext: '2' };
    expect(buildKeyBlockHeader(h, 96)).toBe('D0112P0AEc1S0020');
  });

  it('pads optional blocks to a multiple of 16 with a PB block of zeros', () => {
    const text = buildKeyBlockHeader({ ...plain, optionalBlocks: [{ id: 'KS', data: '00604B120F9292800000' }] }, 96);
    expect(text).toBe('D0144P0AE00E0200KS1800604B120F9292800000PB080000');
  });

  it('makes the PB block a whole cipher block longer when fewer than 4 characters are missing', () => {
    const text = buildKeyBlockHeader({ ...plain, optionalBlocks: [{ id: 'T1', data: '1234567890' }] }, 0);
    expect(text.length).toBe(48);
    expect(text.slice(30)).toBe('PB12' + '0'.repeat(14));
  });

  it('replaces a PB block given by the caller with the one the header needs', () => {
    const blocks = [{ id: 'KS', data: '00604B120F9292' }, { id: 'PB', data: 'XYZ' }];
    expect(buildKeyBlockHeader({ ...plain, optionalBlocks: blocks }, 96)).toBe('D0144P0AE00E0200KS1200604B120F9292PB0E0000000000');
    const aligned = [{ id: 'KS', data: '00604B120F9292800000' }, { id: 'PB', data: '0000' }];
    expect(buildKeyBlockHeader({ ...plain, optionalBlocks: aligned }, 96)).toBe('D0144P0AE00E0200KS1800604B120F9292800000PB080000');
  });

  it('switches to the extended length form above 255 characters, and back again when parsed', () => {
    const short = 'x'.repeat(251);
    const long = 'y'.repeat(252);
    const text = buildKeyBlockHeader({ ...plain, optionalBlocks: [{ id: 'C1', data: short }, { id: 'C2', data: long }] }, 0);
    expect(text.slice(16, 20)).toBe('C1FF');
    expect(text.slice(16 + 255, 16 + 255 + 10)).toBe('C200020106'); // 10 + 252 = 0x106
    const parsed = parseKeyBlockHeader(text);
    expect(parsed.header.optionalBlocks.slice(0, 2)).toEqual([{ id: 'C1', data: short }, { id: 'C2', data: long }]);
    expect(parsed.headerLength).toBe(text.length);
  });

  it('round-trips every field through build and parse', () => {
    const h = {
      versionId: 'D',
      keyUsage: 'K1',
      algorithm: 'A',
      modeOfUse: 'B',
      keyVersionNumber: '12',
      exportability: 'N',
      keyContext: '1',
      optionalBlocks: [{ id: 'KP', data: '01D77F007724' }, { id: 'TS', data: '20200818221218Z' }, { id: 'PB', data: '000000000' }],
    };
    const text = buildKeyBlockHeader(h, 96);
    expect(parseKeyBlockHeader(text).header).toEqual(h);
  });

  it.each([
    ['version B header aligns to 8', { ...plain, versionId: 'B', algorithm: 'T', optionalBlocks: [{ id: 'KS', data: '00604B120F9292' }] }, 'B0120P0TE00E0200KS1200604B120F9292PB0600'],
  ])('%s', (_what, init, expected) => {
    expect(buildKeyBlockHeader(init, 80)).toBe(expected);
  });

  it.each([
    ['usage of one character', { ...plain, keyUsage: 'P' }, 'TR31_MALFORMED'],
    ['exportability outside E, N, S', { ...plain, exportability: 'X' }, 'TR31_MALFORMED'],
    ['key context 3', { ...plain, keyContext: '3' }, 'TR31_MALFORMED'],
    ['key version of three characters', { ...plain, keyVersionNumber: '001' }, 'TR31_MALFORMED'],
    ['optional block id of one character', { ...plain, optionalBlocks: [{ id: 'K', data: '' }] }, 'TR31_MALFORMED'],
    ['non-ASCII optional block data', { ...plain, optionalBlocks: [{ id: 'KS', data: 'é' }] }, 'TR31_MALFORMED'],
    ['PB in the middle', { ...plain, optionalBlocks: [{ id: 'PB', data: '' }, { id: 'KS', data: '' }] }, 'TR31_MALFORMED'],
    ['unknown version', { ...plain, versionId: 'Z' }, 'TR31_UNSUPPORTED'],
    ['100 optional blocks', { ...plain, optionalBlocks: Array.from({ length: 100 }, () => ({ id: 'T1', data: '0000' })) }, 'TR31_MALFORMED'],
    ['99 blocks that need a PB as the 100th', { ...plain, optionalBlocks: Array.from({ length: 99 }, () => ({ id: 'T1', data: '00' })) }, 'TR31_MALFORMED'],
    ['a block longer than 9999 characters in all', { ...plain, optionalBlocks: [{ id: 'T1', data: 'P'.repeat(9990) }] }, 'TR31_MALFORMED'],
  ])('refuses to build a header with %s', (_what, init, code) => {
    expect(codeOf(() => buildKeyBlockHeader(init as Tr31HeaderInit, 96))).toBe(code);
  });

  it('refuses a header that is not an object', () => {
    expect(codeOf(() => completeKeyBlockHeader(null as unknown as Tr31HeaderInit))).toBe('TR31_MALFORMED');
  });
});
