/**
 * The MAC'd envelope of phone client messages (SPEC D4: every message is MAC'd; docs/bill-payments.md
 * "The phone client protocol"). After enrolment a request carries the headers Paypad-Phone,
 * Paypad-Seq and Paypad-Mac, the hex AES-CMAC (SP 800-38B) under K_mac of
 *
 *   "PAYPAD-PHONE-1\n" METHOD "\n" path "\n" phoneId "\n" seq "\n" || body bytes
 *
 * a response the Paypad-Mac header over
 *
 *   "PAYPAD-PHONE-1-RESPONSE\n" status "\n" phoneId "\n" seq "\n" || body bytes
 *
 * (the sequence of the request it answers, so no answer can be replayed as another's), and each
 * frame the platform pushes the MAC over
 *
 *   "PAYPAD-PHONE-1-PUSH\n" phoneId "\n" hello "\n" || body bytes
 *
 * where `hello` is the sequence of the hello that opened the connection, and the body's own
 * counter `n` rises by one per frame, so a frame from another connection or an earlier one is refused.
 * The push channel's hello is a request MAC with METHOD "GET", the push path and an empty body.
 *
 * The sequence is strictly increasing per phone (shared/protocol/sequence): the platform keeps the
 * last one it accepted and refuses anything not above it (PROTOCOL_REPLAY), after the MAC verified
 * (MAC_MISMATCH), so a tampered, replayed or reordered message changes nothing.
 */
import { asciiToBytes, concatBytes, constantTimeEqual, fromHex, toHex, utf8ToBytes } from '../bytes';
import { PaypadError } from '../errors';
import { type HeaderMap, MAC_BYTES, type MacFunction } from './macEnvelope';
import { phoneId as phoneIdField } from './phoneClient';
import { formatSequence, parseSequence } from './sequence';
import { fail, hex, string } from './validate';

export const PHONE_MAC_HEADERS = Object.freeze({ phone: 'Paypad-Phone', seq: 'Paypad-Seq', mac: 'Paypad-Mac' } as const);
const REQUEST_TAG = 'PAYPAD-PHONE-1';
const RESPONSE_TAG = 'PAYPAD-PHONE-1-RESPONSE';
const PUSH_TAG = 'PAYPAD-PHONE-1-PUSH';
/** Phone messages are small JSON documents. */
export const PHONE_MAX_BODY_BYTES = 16 * 1024;

export interface PhoneRequestFields {
  readonly method: string;
  readonly path: string;
  readonly phoneId: string;
  readonly seq: number;
}

export interface ReceivedPhoneRequest extends PhoneRequestFields {
  readonly body: Uint8Array;
  readonly mac: Uint8Array;
}

const method = string({ min: 1, max: 16, pattern: /^[A-Z]+$/, describe: '1 to 16 of A-Z' });
const path = string({ min: 1, max: 512, pattern: /^\/[\x21-\x7E]*$/, describe: "1 to 512 printable ASCII characters without space, starting with '/'" });
const macHex = hex(MAC_BYTES, MAC_BYTES);
const NEWLINE = new Uint8Array([0x0a]);

function input(lines: readonly string[], body: Uint8Array): Uint8Array {
  if (!(body instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'message body: expected bytes');
  if (body.length > PHONE_MAX_BODY_BYTES) fail('message body', `${body.length} bytes exceed the limit of ${PHONE_MAX_BODY_BYTES}`);
  const parts: Uint8Array[] = [];
  for (const line of lines) parts.push(asciiToBytes(line), NEWLINE);
  parts.push(body);
  return concatBytes(...parts);
}

/** The exact bytes a request MAC covers. */
export function phoneRequestMacInput(fields: PhoneRequestFields, body: Uint8Array): Uint8Array {
  method(fields.method, 'method');
  path(fields.path, 'path');
  phoneIdField(fields.phoneId, PHONE_MAC_HEADERS.phone);
  return input([REQUEST_TAG, fields.method, fields.path, fields.phoneId, formatSequence(fields.seq)], body);
}

/** The exact bytes a response MAC covers. */
export function phoneResponseMacInput(status: number, phoneId: string, seq: number, body: Uint8Array): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 599) fail('response status', 'expected an HTTP status from 100 to 599');
  phoneIdField(phoneId, PHONE_MAC_HEADERS.phone);
  return input([RESPONSE_TAG, String(status), phoneId, formatSequence(seq)], body);
}

/** The exact bytes a push frame's MAC covers. */
export function phonePushMacInput(phoneId: string, hello: number, body: string): Uint8Array {
  phoneIdField(phoneId, PHONE_MAC_HEADERS.phone);
  return input([PUSH_TAG, phoneId, formatSequence(hello)], utf8ToBytes(body));
}

async function tagOf(mac: MacFunction, data: Uint8Array): Promise<Uint8Array> {
  const tag = await mac(data);
  if (!(tag instanceof Uint8Array) || tag.length !== MAC_BYTES) throw new PaypadError('BAD_LENGTH', `MAC function: expected ${MAC_BYTES} bytes`);
  return tag;
}

/** The three headers of a request. The caller persists `seq` before sending. */
export async function signPhoneRequest(fields: PhoneRequestFields, body: Uint8Array, mac: MacFunction): Promise<Record<string, string>> {
  const tag = await tagOf(mac, phoneRequestMacInput(fields, body));
  return { [PHONE_MAC_HEADERS.phone]: fields.phoneId, [PHONE_MAC_HEADERS.seq]: formatSequence(fields.seq), [PHONE_MAC_HEADERS.mac]: toHex(tag) };
}

/** The hex MAC of anything the three inputs above build. */
export async function phoneMacHex(mac: MacFunction, data: Uint8Array): Promise<string> {
  return toHex(await tagOf(mac, data));
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
 * Receiving: the headers' shapes (PROTOCOL_MALFORMED). The receiver then finds the phone's K_mac,
 * verifies the MAC over phoneRequestMacInput (in its HSM, constant time), and only then checks
 * the sequence (sequence.ts assertFreshSequence), so an unauthenticated sender learns nothing of it.
 */
export function parsePhoneRequest(methodName: string, target: string, headers: HeaderMap, body: Uint8Array): ReceivedPhoneRequest {
  const fields = {
    method: methodName,
    path: target,
    phoneId: phoneIdField(header(headers, PHONE_MAC_HEADERS.phone), PHONE_MAC_HEADERS.phone),
    seq: parseSequence(header(headers, PHONE_MAC_HEADERS.seq), PHONE_MAC_HEADERS.seq),
  };
  const mac = fromHex(macHex(header(headers, PHONE_MAC_HEADERS.mac), PHONE_MAC_HEADERS.mac));
  phoneRequestMacInput(fields, body);
  return { ...fields, body, mac };
}

/** MAC_MISMATCH unless `macHexValue` is the MAC of `data` under `mac`; constant time. */
export async function verifyPhoneMac(mac: MacFunction, data: Uint8Array, macHexValue: string, what: string): Promise<void> {
  const received = fromHex(macHex(macHexValue, what), what);
  if (!constantTimeEqual(await tagOf(mac, data), received)) throw new PaypadError('MAC_MISMATCH', `${what} does not verify`);
}
