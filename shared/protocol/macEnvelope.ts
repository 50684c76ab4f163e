/**
 * The MAC'd envelope of terminal <-> KMS messages (X2; docs/key-loading.md "Terminal <-> KMS
 * messages"). A request carries the headers Paypad-Serial, Paypad-Seq, Paypad-Key ('TK' before
 * sign-on, 'MAK' after) and Paypad-Mac, the hex AES-CMAC (SP 800-38B, 16 bytes) of
 *
 *   "PAYPAD-MAC-1\n" METHOD "\n" path "\n" serial "\n" seq "\n" keyId "\n" || body bytes
 *
 * and a response carries Paypad-Mac over
 *
 *   "PAYPAD-MAC-1-RESPONSE\n" status "\n" serial "\n" seq "\n" || body bytes
 *
 * with the serial and sequence of the request it answers, so a response cannot be replayed as
 * the answer to another request. Every field before the body is checked to be printable ASCII
 * without a newline, so the encoding is injective: no two field lists give the same MAC input.
 *
 * The MAC itself is injected: the firmware computes it with a vault slot it cannot read, the host
 * with an HSM key handle. Both may be synchronous or asynchronous, so signing and verifying are
 * async. K_tkmac, the key before sign-on, is derived where TK lives: see tkMacKdfParams.
 */
import { asciiToBytes, concatBytes, constantTimeEqual, fromHex, toHex } from '../bytes';
import type { KdfParams } from '../crypto/kdf';
import { PaypadError } from '../errors';
import { serial as serialField } from './fields';
import { assertFreshSequence, formatSequence, parseSequence } from './sequence';
import { fail, oneOf, string } from './validate';

export const MAC_HEADERS = Object.freeze({ serial: 'Paypad-Serial', seq: 'Paypad-Seq', keyId: 'Paypad-Key', mac: 'Paypad-Mac' } as const);
export const REQUEST_MAC_TAG = 'PAYPAD-MAC-1';
export const RESPONSE_MAC_TAG = 'PAYPAD-MAC-1-RESPONSE';
export const MAC_BYTES = 16;
/** Largest body either side MACs or accepts; key-loading bodies are a few hundred bytes. */
export const MAX_BODY_BYTES = 16 * 1024;

/** K_tkmac = SP 800-108 KDF(TK, label, context = serial in ASCII), 16 bytes (crypto/kdf). */
export const TK_MAC_KDF_LABEL = 'paypad TK MAC';
export const TK_MAC_KEY_BYTES = 16;

export const MAC_KEY_IDS = Object.freeze(['TK', 'MAK'] as const);
export type MacKeyId = (typeof MAC_KEY_IDS)[number];

/** CMAC of `data` under the key the caller chose; must return MAC_BYTES bytes. */
export type MacFunction = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** Received HTTP headers, names in any case (Node lowercases them); a repeated header is refused. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface RequestMacFields {
  readonly method: string;
  /** The request target as sent: path and query, e.g. "/kms/v1/tmk". */
  readonly path: string;
  readonly serial: string;
  readonly seq: number;
  readonly keyId: MacKeyId;
}

export interface ResponseMacFields {
  readonly status: number;
  /** Serial and sequence of the request this answers. */
  readonly serial: string;
  readonly seq: number;
}

/** A request whose headers are well formed; its MAC is not verified yet (verifyRequest). */
export interface ReceivedRequest extends RequestMacFields {
  readonly body: Uint8Array;
  readonly mac: Uint8Array;
}

/**
 * The KDF parameters of K_tkmac for `serial`, for crypto/kdf deriveKeyCounterCmac. The vault and
 * the KMS HSM both derive with these, next to the TK they hold; the raw TK never comes here.
 */
export function tkMacKdfParams(serial: string): KdfParams {
  serialField(serial, 'serial');
  return { label: asciiToBytes(TK_MAC_KDF_LABEL), context: asciiToBytes(serial), lengthBytes: TK_MAC_KEY_BYTES };
}

const method = string({ min: 1, max: 16, pattern: /^[A-Z]+$/, describe: '1 to 16 of A-Z' });
const path = string({ min: 1, max: 512, pattern: /^\/[\x21-\x7E]*$/, describe: "1 to 512 printable ASCII characters without space, starting with '/'" });
const keyId = oneOf(...MAC_KEY_IDS);
const macHex = string({ min: 2 * MAC_BYTES, max: 2 * MAC_BYTES, pattern: /^[0-9A-Fa-f]+$/, describe: `${2 * MAC_BYTES} hex digits` });

const NEWLINE = new Uint8Array([0x0a]);

function macInput(lines: readonly string[], body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const line of lines) parts.push(asciiToBytes(line), NEWLINE);
  parts.push(body);
  return concatBytes(...parts);
}

function checkBody(body: Uint8Array, what: string): void {
  if (!(body instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', `${what}: expected bytes`);
  if (body.length > MAX_BODY_BYTES) fail(what, `${body.length} bytes exceed the limit of ${MAX_BODY_BYTES}`);
}

function checkRequestFields(fields: RequestMacFields): void {
  method(fields.method, 'request method');
  path(fields.path, 'request path');
  serialField(fields.serial, MAC_HEADERS.serial);
  formatSequence(fields.seq);
  keyId(fields.keyId, MAC_HEADERS.keyId);
}

function checkStatus(status: number): void {
  if (!Number.isInteger(status) || status < 100 || status > 599) fail('response status', 'expected an HTTP status from 100 to 599');
}

/** The exact bytes a request MAC covers. */
export function requestMacInput(fields: RequestMacFields, body: Uint8Array): Uint8Array {
  checkRequestFields(fields);
  checkBody(body, 'request body');
  return macInput([REQUEST_MAC_TAG, fields.method, fields.path, fields.serial, formatSequence(fields.seq), fields.keyId], body);
}

/** The exact bytes a response MAC covers. */
export function responseMacInput(fields: ResponseMacFields, body: Uint8Array): Uint8Array {
  checkStatus(fields.status);
  serialField(fields.serial, MAC_HEADERS.serial);
  checkBody(body, 'response body');
  return macInput([RESPONSE_MAC_TAG, String(fields.status), fields.serial, formatSequence(fields.seq)], body);
}

/** BAD_LENGTH unless `tag` is a whole MAC. */
function checkTag(tag: Uint8Array): Uint8Array {
  if (!(tag instanceof Uint8Array) || tag.length !== MAC_BYTES) {
    throw new PaypadError('BAD_LENGTH', `MAC function: expected ${MAC_BYTES} bytes`);
  }
  return tag;
}

async function computeMac(mac: MacFunction, data: Uint8Array): Promise<Uint8Array> {
  return checkTag(await mac(data));
}

/**
 * The four headers of a request whose MAC over requestMacInput(fields, body) is `tag`. For a
 * signer that MACs synchronously (the terminal's vault): no promise between the two, so the
 * device's stack holds one call chain, not an async one per layer. The caller persists `seq`
 * before sending.
 */
export function requestMacHeaders(fields: RequestMacFields, tag: Uint8Array): Record<string, string> {
  return {
    [MAC_HEADERS.serial]: fields.serial,
    [MAC_HEADERS.seq]: formatSequence(fields.seq),
    [MAC_HEADERS.keyId]: fields.keyId,
    [MAC_HEADERS.mac]: toHex(checkTag(tag)),
  };
}

/** The four headers of a request, MAC included. The caller persists `seq` before sending. */
export async function signRequest(fields: RequestMacFields, body: Uint8Array, mac: MacFunction): Promise<Record<string, string>> {
  return requestMacHeaders(fields, await computeMac(mac, requestMacInput(fields, body)));
}

/** The Paypad-Mac header of a response. */
export async function signResponse(fields: ResponseMacFields, body: Uint8Array, mac: MacFunction): Promise<Record<string, string>> {
  return { [MAC_HEADERS.mac]: toHex(await computeMac(mac, responseMacInput(fields, body))) };
}

function header(headers: HeaderMap, name: string): string {
  const lower = name.toLowerCase();
  let found: string | readonly string[] | undefined;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== lower || headers[key] === undefined) continue;
    if (found !== undefined) fail(name, 'header appears more than once');
    found = headers[key];
  }
  if (found === undefined) fail(name, 'header missing');
  if (typeof found !== 'string') fail(name, 'header appears more than once');
  return found;
}

/**
 * Step 1 of receiving a request: checks the headers and the body size (PROTOCOL_MALFORMED) and
 * returns the fields. The receiver then looks up the terminal by `serial`, refuses a `keyId` its
 * state does not allow, and calls verifyRequest with that key's MAC and the stored sequence.
 */
export function parseRequest(methodName: string, target: string, headers: HeaderMap, body: Uint8Array): ReceivedRequest {
  const fields: RequestMacFields = {
    method: methodName,
    path: target,
    serial: serialField(header(headers, MAC_HEADERS.serial), MAC_HEADERS.serial),
    seq: parseSequence(header(headers, MAC_HEADERS.seq), MAC_HEADERS.seq),
    keyId: keyId(header(headers, MAC_HEADERS.keyId), MAC_HEADERS.keyId),
  };
  const mac = fromHex(macHex(header(headers, MAC_HEADERS.mac), MAC_HEADERS.mac));
  checkRequestFields(fields);
  checkBody(body, 'request body');
  return { ...fields, body, mac };
}

/**
 * Step 2: MAC_MISMATCH unless the MAC verifies (constant time), then PROTOCOL_REPLAY unless the
 * sequence is above `lastSeen`. The MAC comes first so an unauthenticated sender learns nothing
 * about the stored sequence. Nothing is stored here: on success the caller advances the stored
 * sequence with a conditional update (last_seq < seq) and treats a lost race as a replay.
 */
export async function verifyRequest(request: ReceivedRequest, mac: MacFunction, lastSeen: number): Promise<void> {
  const expected = await computeMac(mac, requestMacInput(request, request.body));
  if (!constantTimeEqual(expected, request.mac)) throw new PaypadError('MAC_MISMATCH', 'request MAC does not verify');
  assertFreshSequence(request.seq, lastSeen);
}

/**
 * The MAC a response carries in Paypad-Mac. A response without one (for example the KMS refusing
 * a request it could not authenticate) is PROTOCOL_MALFORMED: its body may be shown as an
 * unauthenticated diagnostic, never acted on. The receiver verifies it over responseMacInput.
 */
export function responseMacOf(headers: HeaderMap): Uint8Array {
  return fromHex(macHex(header(headers, MAC_HEADERS.mac), MAC_HEADERS.mac));
}

/** Verifies a response to the request with `fields.serial` and `fields.seq` (see responseMacOf). */
export async function verifyResponse(fields: ResponseMacFields, headers: HeaderMap, body: Uint8Array, mac: MacFunction): Promise<void> {
  const received = responseMacOf(headers);
  const expected = await computeMac(mac, responseMacInput(fields, body));
  if (!constantTimeEqual(expected, received)) throw new PaypadError('MAC_MISMATCH', 'response MAC does not verify');
}
