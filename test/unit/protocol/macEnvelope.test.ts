import { describe, expect, it } from 'vitest';
import { asciiToBytes, concatBytes, fromHex, toHex, utf8ToBytes } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { deriveKeyCounterCmac, kdfCounterCmacRaw } from '../../../shared/crypto/kdf';
import {
  type HeaderMap,
  type MacFunction,
  type RequestMacFields,
  MAX_BODY_BYTES,
  TK_MAC_KDF_LABEL,
  parseRequest,
  requestMacInput,
  responseMacInput,
  signRequest,
  signResponse,
  tkMacKdfParams,
  verifyRequest,
  verifyResponse,
} from '../../../shared/protocol/macEnvelope';

const code = (c: string) => expect.objectContaining({ code: c });
// RFC 4493 section 4 key: any AES-128 key serves; this one is recognisable in a trace.
const KEY = fromHex('2B7E151628AED2A6ABF7158809CF4F3C');
const OTHER_KEY = fromHex('000102030405060708090A0B0C0D0E0F');
const macUnder = (key: Uint8Array): MacFunction => (data) => aesCmac(key, data);
/** An HSM-style MAC: asynchronous, as a PKCS#11 call or a remote HSM would be. */
const asyncMacUnder = (key: Uint8Array): MacFunction => async (data) => aesCmac(key, data);

const FIELDS: RequestMacFields = { method: 'POST', path: '/kms/v1/tmk', serial: 'PP-000123', seq: 7, keyId: 'TK' };
const BODY = utf8ToBytes('{"v":1}');

/** What an HTTP server hands over: lowercase header names (Node). */
function lowercase(headers: Record<string, string>): HeaderMap {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

async function signed(fields = FIELDS, body = BODY): Promise<Record<string, string>> {
  return signRequest(fields, body, macUnder(KEY));
}

describe('MAC input layout (X2, docs/key-loading.md "Terminal <-> KMS messages")', () => {
  it('X2 the request MAC covers tag, method, path, serial, seq and key id, one per line, then the exact body', () => {
    const expected = concatBytes(new TextEncoder().encode('PAYPAD-MAC-1\nPOST\n/kms/v1/tmk\nPP-000123\n7\nTK\n'), BODY);
    expect(requestMacInput(FIELDS, BODY)).toEqual(expected);
  });

  it('X2 the response MAC covers tag, status, serial and the request seq, then the exact body', () => {
    const expected = concatBytes(new TextEncoder().encode('PAYPAD-MAC-1-RESPONSE\n200\nPP-000123\n7\n'), BODY);
    expect(responseMacInput({ status: 200, serial: 'PP-000123', seq: 7 }, BODY)).toEqual(expected);
  });

  it('X2 signRequest gives the four headers; Paypad-Mac is the uppercase hex AES-CMAC of the MAC input', async () => {
    const headers = await signed();
    expect(headers).toEqual({
      'Paypad-Serial': 'PP-000123',
      'Paypad-Seq': '7',
      'Paypad-Key': 'TK',
      'Paypad-Mac': toHex(aesCmac(KEY, requestMacInput(FIELDS, BODY))),
    });
    expect(headers['Paypad-Mac']).toMatch(/^[0-9A-F]{32}$/);
  });

  it.each([
    ['a method with lowercase', { method: 'post' }],
    ['a path without the leading slash', { path: 'kms/v1/tmk' }],
    ['a path with a newline', { path: '/kms\n/tmk' }],
    ['a path with a space', { path: '/kms v1' }],
    ['a lowercase serial', { serial: 'pp-000123' }],
    ['an unknown key id', { keyId: 'TMK' }],
  ])('X2 refuses to build a MAC input with %s (the encoding must stay injective)', (_, change) => {
    expect(() => requestMacInput({ ...FIELDS, ...change } as RequestMacFields, BODY)).toThrow(code('PROTOCOL_MALFORMED'));
  });

  it('X2 refuses a sequence 0 and a body above the limit', () => {
    expect(() => requestMacInput({ ...FIELDS, seq: 0 }, BODY)).toThrow(code('BAD_ARGUMENT'));
    expect(() => requestMacInput(FIELDS, new Uint8Array(MAX_BODY_BYTES + 1))).toThrow(code('PROTOCOL_MALFORMED'));
    expect(() => requestMacInput(FIELDS, new Uint8Array(MAX_BODY_BYTES))).not.toThrow();
  });
});

describe('request verification (X2: bad MAC, replay and malformed messages are refused with typed errors)', () => {
  it('X2 a signed request parses from lowercase headers and verifies, sync or async MAC, empty body included', async () => {
    const headers = await signed();
    const request = parseRequest('POST', '/kms/v1/tmk', lowercase(headers), BODY);
    expect(request).toMatchObject({ ...FIELDS, body: BODY });
    await expect(verifyRequest(request, macUnder(KEY), 6)).resolves.toBeUndefined();
    await expect(verifyRequest(request, asyncMacUnder(KEY), 0)).resolves.toBeUndefined();

    const get = { ...FIELDS, method: 'GET', seq: 8, keyId: 'MAK' as const };
    const empty = new Uint8Array(0);
    const getHeaders = await signRequest(get, empty, asyncMacUnder(KEY));
    await expect(verifyRequest(parseRequest('GET', get.path, getHeaders, empty), macUnder(KEY), 7)).resolves.toBeUndefined();
  });

  it('X2 every one-bit change of the MAC is MAC_MISMATCH', async () => {
    const headers = await signed();
    const mac = fromHex(headers['Paypad-Mac']);
    for (let bit = 0; bit < 128; bit++) {
      const bad = mac.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const request = parseRequest('POST', FIELDS.path, { ...headers, 'Paypad-Mac': toHex(bad) }, BODY);
      await expect(verifyRequest(request, macUnder(KEY), 0)).rejects.toThrow(code('MAC_MISMATCH'));
    }
  });

  it.each([
    ['the body', { body: utf8ToBytes('{"v":2}') }],
    ['the body, by one trailing byte', { body: utf8ToBytes('{"v":1} ') }],
    ['the method', { method: 'PUT' }],
    ['the path', { path: '/kms/v1/sign-on' }],
    ['the path, by a query', { path: '/kms/v1/tmk?x=1' }],
    ['the serial header', { headers: { 'Paypad-Serial': 'PP-000124' } }],
    ['the sequence header, to a higher number', { headers: { 'Paypad-Seq': '8' } }],
    ['the key id header', { headers: { 'Paypad-Key': 'MAK' } }],
  ])('X2 a request whose %s was changed in transit is MAC_MISMATCH', async (_, change: { body?: Uint8Array; method?: string; path?: string; headers?: Record<string, string> }) => {
    const headers = { ...(await signed()), ...change.headers };
    const request = parseRequest(change.method ?? FIELDS.method, change.path ?? FIELDS.path, headers, change.body ?? BODY);
    await expect(verifyRequest(request, macUnder(KEY), 0)).rejects.toThrow(code('MAC_MISMATCH'));
  });

  it('X2 a request MAC\'d under another key is MAC_MISMATCH', async () => {
    const request = parseRequest('POST', FIELDS.path, await signed(), BODY);
    await expect(verifyRequest(request, macUnder(OTHER_KEY), 0)).rejects.toThrow(code('MAC_MISMATCH'));
  });

  it('X2 a replayed (seq = last) or reordered (seq < last) authentic request is PROTOCOL_REPLAY', async () => {
    const request = parseRequest('POST', FIELDS.path, await signed(), BODY);
    await expect(verifyRequest(request, macUnder(KEY), 7)).rejects.toThrow(code('PROTOCOL_REPLAY'));
    await expect(verifyRequest(request, macUnder(KEY), 100)).rejects.toThrow(code('PROTOCOL_REPLAY'));
  });

  it('X2 the MAC is checked before the sequence: a forged replay learns only MAC_MISMATCH', async () => {
    const headers = await signed();
    const request = parseRequest('POST', FIELDS.path, headers, utf8ToBytes('{"v":9}'));
    await expect(verifyRequest(request, macUnder(KEY), 100)).rejects.toThrow(code('MAC_MISMATCH'));
  });

  it.each([
    ['Paypad-Serial missing', { 'Paypad-Serial': undefined }, 'Paypad-Serial: header missing'],
    ['Paypad-Seq missing', { 'Paypad-Seq': undefined }, 'Paypad-Seq: header missing'],
    ['Paypad-Key missing', { 'Paypad-Key': undefined }, 'Paypad-Key: header missing'],
    ['Paypad-Mac missing', { 'Paypad-Mac': undefined }, 'Paypad-Mac: header missing'],
    ['a serial too short', { 'Paypad-Serial': 'PP1' }, 'Paypad-Serial: '],
    ['a serial too long', { 'Paypad-Serial': 'P'.repeat(33) }, 'Paypad-Serial: '],
    ['a serial in lowercase', { 'Paypad-Serial': 'pp-000123' }, 'Paypad-Serial: '],
    ['a sequence with a leading zero', { 'Paypad-Seq': '07' }, 'Paypad-Seq: '],
    ['a sequence of 0', { 'Paypad-Seq': '0' }, 'Paypad-Seq: '],
    ['a negative sequence', { 'Paypad-Seq': '-7' }, 'Paypad-Seq: '],
    ['a sequence above 2^53 - 1', { 'Paypad-Seq': '9007199254740992' }, 'Paypad-Seq: '],
    ['a sequence joined from two headers', { 'Paypad-Seq': '7, 8' }, 'Paypad-Seq: '],
    ['a key id in lowercase', { 'Paypad-Key': 'tk' }, 'Paypad-Key: '],
    ['a key id for a key that is not a MAC key', { 'Paypad-Key': 'TMK' }, 'Paypad-Key: '],
    ['a truncated MAC', { 'Paypad-Mac': 'AB'.repeat(8) }, 'Paypad-Mac: '],
    ['a MAC with a non-hex digit', { 'Paypad-Mac': 'G'.repeat(32) }, 'Paypad-Mac: '],
  ])('X2 a request with %s is PROTOCOL_MALFORMED', async (_, change, message) => {
    const headers: Record<string, string | undefined> = { ...(await signed()), ...change };
    expect(() => parseRequest('POST', FIELDS.path, headers, BODY)).toThrow(
      expect.objectContaining({ code: 'PROTOCOL_MALFORMED', message: expect.stringContaining(message) }),
    );
  });

  it('X2 a header sent twice (as a list, or in two spellings) is PROTOCOL_MALFORMED', async () => {
    const headers = await signed();
    expect(() => parseRequest('POST', FIELDS.path, { ...headers, 'Paypad-Seq': ['7', '8'] }, BODY)).toThrow(code('PROTOCOL_MALFORMED'));
    expect(() => parseRequest('POST', FIELDS.path, { ...headers, 'paypad-seq': '8' }, BODY)).toThrow(
      expect.objectContaining({ code: 'PROTOCOL_MALFORMED', message: 'Paypad-Seq: header appears more than once' }),
    );
  });

  it('X2 an oversized body, a bad method or a bad path is PROTOCOL_MALFORMED before any MAC is computed', async () => {
    const headers = await signed();
    expect(() => parseRequest('POST', FIELDS.path, headers, new Uint8Array(MAX_BODY_BYTES + 1))).toThrow(code('PROTOCOL_MALFORMED'));
    expect(() => parseRequest('post', FIELDS.path, headers, BODY)).toThrow(code('PROTOCOL_MALFORMED'));
    expect(() => parseRequest('POST', 'x'.repeat(10), headers, BODY)).toThrow(code('PROTOCOL_MALFORMED'));
    expect(() => parseRequest('POST', `/${'x'.repeat(512)}`, headers, BODY)).toThrow(code('PROTOCOL_MALFORMED'));
  });

  it('a MAC function that does not return 16 bytes is BAD_LENGTH, not a silent mismatch', async () => {
    const short: MacFunction = (data) => aesCmac(KEY, data).slice(0, 8);
    await expect(signRequest(FIELDS, BODY, short)).rejects.toThrow(code('BAD_LENGTH'));
    const request = parseRequest('POST', FIELDS.path, await signed(), BODY);
    await expect(verifyRequest(request, short, 0)).rejects.toThrow(code('BAD_LENGTH'));
  });
});

describe('response verification (X2: responses are MAC\'d and bound to their request)', () => {
  const RESPONSE = { status: 200, serial: FIELDS.serial, seq: FIELDS.seq };
  const ANSWER = utf8ToBytes('{"v":1,"tmkBlock":"D0112K1AB00E0000","kcv":"08793E25AB"}');

  it('X2 a signed response verifies with the request\'s serial and seq, under lowercase headers too', async () => {
    const headers = await signResponse(RESPONSE, ANSWER, macUnder(KEY));
    expect(Object.keys(headers)).toEqual(['Paypad-Mac']);
    await expect(verifyResponse(RESPONSE, headers, ANSWER, macUnder(KEY))).resolves.toBeUndefined();
    await expect(verifyResponse(RESPONSE, lowercase(headers), ANSWER, asyncMacUnder(KEY))).resolves.toBeUndefined();
  });

  it.each([
    ['the status', { status: 500 }, ANSWER],
    ['the seq (an old response replayed for a newer request)', { seq: 8 }, ANSWER],
    ['the serial', { serial: 'PP-000124' }, ANSWER],
    ['the body', {}, utf8ToBytes('{"v":1,"tmkBlock":"D0112K1AB00E0000","kcv":"08793E25AC"}')],
  ])('X2 a response that differs in %s is MAC_MISMATCH', async (_, change, body) => {
    const headers = await signResponse(RESPONSE, ANSWER, macUnder(KEY));
    await expect(verifyResponse({ ...RESPONSE, ...change }, headers, body, macUnder(KEY))).rejects.toThrow(code('MAC_MISMATCH'));
  });

  it('X2 a response without Paypad-Mac, or with a malformed one, is PROTOCOL_MALFORMED', async () => {
    await expect(verifyResponse(RESPONSE, {}, ANSWER, macUnder(KEY))).rejects.toThrow(code('PROTOCOL_MALFORMED'));
    await expect(verifyResponse(RESPONSE, { 'paypad-mac': 'XYZ' }, ANSWER, macUnder(KEY))).rejects.toThrow(code('PROTOCOL_MALFORMED'));
    await expect(verifyResponse({ ...RESPONSE, status: 99 }, {}, ANSWER, macUnder(KEY))).rejects.toThrow(code('PROTOCOL_MALFORMED'));
  });
});

describe('K_tkmac derivation parameters (X2 before sign-on; docs/key-loading.md "Keys")', () => {
  const TK = fromHex('3F419E1CB7079442AA37474C2EFBF8B8');

  it('X2 label "paypad TK MAC", context the serial in ASCII, 16 bytes: the fixed input SP 800-108r1 section 4 lays out', () => {
    const params = tkMacKdfParams('PP-000123');
    expect(params).toEqual({ label: asciiToBytes(TK_MAC_KDF_LABEL), context: asciiToBytes('PP-000123'), lengthBytes: 16 });
    // Pins the bytes vault and HSM feed the KDF: Label || 0x00 || Context || [L = 128]_32.
    const fixedInput = concatBytes(asciiToBytes('paypad TK MAC'), new Uint8Array([0]), asciiToBytes('PP-000123'), new Uint8Array([0, 0, 0, 128]));
    expect(deriveKeyCounterCmac(TK, params)).toEqual(kdfCounterCmacRaw(TK, fixedInput, 16));
  });

  it('X2 one TK gives a different K_tkmac per serial, so a request MAC\'d for one serial fails for another', async () => {
    const forA = deriveKeyCounterCmac(TK, tkMacKdfParams('PP-000123'));
    const forB = deriveKeyCounterCmac(TK, tkMacKdfParams('PP-000124'));
    expect(forA).not.toEqual(forB);
    const headers = await signRequest(FIELDS, BODY, macUnder(forA));
    const request = parseRequest('POST', FIELDS.path, headers, BODY);
    await expect(verifyRequest(request, macUnder(forA), 0)).resolves.toBeUndefined();
    await expect(verifyRequest(request, macUnder(forB), 0)).rejects.toThrow(code('MAC_MISMATCH'));
  });

  it('refuses a malformed serial before any derivation', () => {
    expect(() => tkMacKdfParams('pp-1')).toThrow(code('PROTOCOL_MALFORMED'));
  });
});
