import { describe, expect, it } from 'vitest';
import { MAX_SEQUENCE, assertFreshSequence, formatSequence, nextSequence, parseSequence } from '../../../shared/protocol/sequence';

const code = (c: string) => expect.objectContaining({ code: c });

describe('sequence numbers (X2: strictly increasing, one text per number)', () => {
  it.each([
    ['1', 1],
    ['42', 42],
    ['9007199254740991', MAX_SEQUENCE],
  ])('X2 parses %s', (text, seq) => {
    expect(parseSequence(text, 'Paypad-Seq')).toBe(seq);
    expect(formatSequence(seq)).toBe(text);
  });

  it.each(['', '0', '00', '01', '+1', '-1', '1.0', '1e3', ' 1', '1 ', '0x10', '١', '9007199254740992', '99999999999999999', 'NaN'])(
    'X2 refuses the sequence text %j with PROTOCOL_MALFORMED',
    (text) => {
      expect(() => parseSequence(text, 'Paypad-Seq')).toThrow(code('PROTOCOL_MALFORMED'));
    },
  );

  it('X2 refuses a sequence that is not a string', () => {
    expect(() => parseSequence(5, 'Paypad-Seq')).toThrow(code('PROTOCOL_MALFORMED'));
  });

  it('X2 formats only safe integers from 1', () => {
    for (const bad of [0, -1, 1.5, MAX_SEQUENCE + 1, Number.NaN]) expect(() => formatSequence(bad)).toThrow(code('BAD_ARGUMENT'));
  });

  it('X2 the next number follows the last, 0 meaning none used (after a new TK, A13)', () => {
    expect(nextSequence(0)).toBe(1);
    expect(nextSequence(41)).toBe(42);
    expect(() => nextSequence(MAX_SEQUENCE)).toThrow(code('BAD_ARGUMENT'));
    expect(() => nextSequence(-1)).toThrow(code('BAD_ARGUMENT'));
  });

  it('X2 a sequence at or below the last seen is PROTOCOL_REPLAY; above it is fresh', () => {
    expect(() => assertFreshSequence(1, 0)).not.toThrow();
    expect(() => assertFreshSequence(10, 5)).not.toThrow();
    expect(() => assertFreshSequence(5, 5)).toThrow(code('PROTOCOL_REPLAY'));
    expect(() => assertFreshSequence(4, 5)).toThrow(code('PROTOCOL_REPLAY'));
    expect(() => assertFreshSequence(1, -1)).toThrow(code('BAD_ARGUMENT'));
    expect(() => assertFreshSequence(0, 0)).toThrow(code('BAD_ARGUMENT'));
  });
});
