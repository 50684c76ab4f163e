import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../../shared/bytes';
import {
  array,
  decodeJson,
  encodeJson,
  hex,
  integer,
  object,
  oneOf,
  optional,
  string,
  text,
  version,
} from '../../../shared/protocol/validate';

const malformed = (message: string | RegExp) => expect.objectContaining({ code: 'PROTOCOL_MALFORMED', message: expect.stringMatching(message) });

describe('schema helper (issue 3: one declaration, same validation on host and firmware)', () => {
  const shape = object({
    v: version(1),
    name: string({ min: 2, max: 4, pattern: /^[A-Z]+$/, describe: '2 to 4 of A-Z' }),
    note: optional(text(1, 5)),
    items: array(object({ n: integer(0, 9) }), 1, 2),
  });

  it('returns a new object holding only the declared fields, optional ones omitted when absent', () => {
    const input = { v: 1, name: 'AB', items: [{ n: 3 }] };
    const out = shape(input, 'm');
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    expect('note' in out).toBe(false);
    expect(shape({ ...input, note: 'hi' }, 'm').note).toBe('hi');
  });

  it.each([
    ['a missing field', { v: 1, items: [{ n: 1 }] }, /^m\.name: missing$/],
    ['an unknown field', { v: 1, name: 'AB', items: [{ n: 1 }], extra: true }, /^m\.extra: unknown field$/],
    ['an unknown field in a nested item', { v: 1, name: 'AB', items: [{ n: 1, x: 0 }] }, /^m\.items\[0\]\.x: unknown field$/],
    ['null for an optional field', { v: 1, name: 'AB', note: null, items: [{ n: 1 }] }, /^m\.note: expected a string$/],
    ['a wrong type', { v: 1, name: 7, items: [{ n: 1 }] }, /^m\.name: expected a string/],
    ['a string too short', { v: 1, name: 'A', items: [{ n: 1 }] }, /^m\.name: .*got 1 characters$/],
    ['a string too long', { v: 1, name: 'ABCDE', items: [{ n: 1 }] }, /^m\.name: .*got more than 4 characters$/],
    ['a character outside the pattern', { v: 1, name: 'Ab', items: [{ n: 1 }] }, /^m\.name: .*outside that set$/],
    ['too few items', { v: 1, name: 'AB', items: [] }, /^m\.items: expected 1 to 2 items, got 0$/],
    ['too many items', { v: 1, name: 'AB', items: [{ n: 1 }, { n: 2 }, { n: 3 }] }, /^m\.items: expected 1 to 2 items, got 3$/],
    ['an integer out of range', { v: 1, name: 'AB', items: [{ n: 10 }] }, /^m\.items\[0\]\.n: expected an integer from 0 to 9$/],
    ['a fraction', { v: 1, name: 'AB', items: [{ n: 1.5 }] }, /^m\.items\[0\]\.n: /],
    ['an array for an object', [], /^m: expected an object$/],
    ['null for an object', null, /^m: expected an object$/],
    ['a version that is not a number', { v: '1', name: 'AB', items: [{ n: 1 }] }, /^m\.v: expected the number 1$/],
  ])('refuses %s with PROTOCOL_MALFORMED naming the field path', (_, input, message) => {
    expect(() => shape(input, 'm')).toThrow(malformed(message));
  });

  it('reports another version number as PROTOCOL_UNSUPPORTED_VERSION before any unknown field of that version', () => {
    expect(() => shape({ v: 2, name: 'AB', items: [{ n: 1 }], newField: 1 }, 'm')).toThrow(
      expect.objectContaining({ code: 'PROTOCOL_UNSUPPORTED_VERSION', message: 'm.v: version 2 is not supported; this side speaks 1' }),
    );
  });

  it('refuses a "__proto__" key from JSON and does not let it reach the result', () => {
    const input = JSON.parse('{"v":1,"name":"AB","items":[{"n":1}],"__proto__":{"polluted":true}}');
    expect(() => shape(input, 'm')).toThrow(malformed(/^m\.__proto__: unknown field$/));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not echo a long or odd unknown field name (it is chosen by the sender)', () => {
    expect(() => shape({ v: 1, name: 'AB', items: [{ n: 1 }], ['x'.repeat(40)]: 1 }, 'm')).toThrow(malformed(/^m: unknown field$/));
    expect(() => shape({ v: 1, name: 'AB', items: [{ n: 1 }], 'a b': 1 }, 'm')).toThrow(malformed(/^m: unknown field$/));
  });

  it('never puts a received value in an error message (X1)', () => {
    const secret = 'C1D0F8FB4958670DBA40AB1F3752EF0D';
    for (const bad of [{ v: 1, name: secret, items: [{ n: 1 }] }, { v: 1, name: 'AB', note: secret, items: [{ n: 1 }] }]) {
      try {
        shape(bad, 'm');
        expect.unreachable();
      } catch (e) {
        expect((e as Error).message).not.toContain(secret);
      }
    }
  });

  it('counts text length in code points, as the device (UTF-8 strings) does', () => {
    const t = text(1, 3);
    expect(t('😀😀😀', 'x')).toBe('😀😀😀'); // 6 UTF-16 units, 3 code points
    expect(() => t('😀😀😀😀', 'x')).toThrow(malformed(/got more than 3$/));
    expect(() => t('', 'x')).toThrow(malformed(/got 0$/));
  });

  it.each([
    ['a newline', 'a\nb'],
    ['a NUL', 'a\u0000'],
    ['DEL', 'a\u007f'],
    ['a C1 control', 'a\u0085'],
    ['a lone surrogate', 'a\ud800'],
  ])('refuses %s in text for people', (_, value) => {
    expect(() => text(1, 10)(value, 'x')).toThrow(malformed(/^x: control character or lone surrogate at position 1$/));
  });

  it('hex: accepts either case, returns uppercase, refuses odd length, wrong size and non-hex digits', () => {
    const h = hex(2, 3);
    expect(h('abCD', 'k')).toBe('ABCD');
    expect(h('00112233'.slice(0, 6), 'k')).toBe('001122');
    expect(() => h('ABC', 'k')).toThrow(malformed(/^k: expected 4 to 6 hex digits \(whole bytes\), got 3 characters$/));
    expect(() => h('AB', 'k')).toThrow(malformed(/got 2 characters$/));
    expect(() => h('AABBCCDD', 'k')).toThrow(malformed(/got 8 characters$/));
    expect(() => h('ABCG', 'k')).toThrow(malformed(/not a hex digit$/));
    expect(() => h(1234, 'k')).toThrow(malformed(/^k: expected a string/));
    expect(() => hex(5, 5)('0011', 'kcv')).toThrow(malformed(/^kcv: expected 10 hex digits, got 4 characters$/));
  });

  it('oneOf accepts exactly the listed scalars', () => {
    const s = oneOf('TK', 'MAK');
    expect(s('MAK', 'k')).toBe('MAK');
    expect(() => s('mak', 'k')).toThrow(malformed(/^k: expected one of "TK", "MAK"$/));
    expect(() => oneOf(true)(1, 'c')).toThrow(malformed(/^c: expected true$/));
  });

  it('decodeJson: checks the size before decoding, then UTF-8, then JSON, then the schema', () => {
    const schema = object({ a: integer(0, 5) });
    expect(decodeJson(encodeJson({ a: 2 }), 100, schema, 'body')).toEqual({ a: 2 });
    expect(() => decodeJson(new Uint8Array(101), 100, schema, 'body')).toThrow(malformed(/^body: 101 bytes exceed the limit of 100$/));
    expect(() => decodeJson(new Uint8Array([0x7b, 0xff, 0x7d]), 100, schema, 'body')).toThrow(malformed(/^body: not valid UTF-8 JSON$/));
    expect(() => decodeJson(utf8ToBytes('{"a":2'), 100, schema, 'body')).toThrow(malformed(/^body: not valid UTF-8 JSON$/));
    expect(() => decodeJson(utf8ToBytes('{"a":9}'), 100, schema, 'body')).toThrow(malformed(/^body\.a: /));
  });
});
