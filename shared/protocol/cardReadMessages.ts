/**
 * The secure card reader's channel to the payment gateway (E4; docs/card-readers.md): JSON text
 * frames on a WebSocket the reader opens to the gateway over TLS.
 *
 *   reader -> gateway  hello        { v, type, readerId, heartbeatMs }     once, on connecting
 *                      heartbeat    { v, type }                             every heartbeatMs
 *                      card-read    { v, type, readId, ksn, track2, pinBlock?, panLast4, mac }
 *                      read-failed  { v, type, readId, reason }             timeout, unreadable, busy ...
 *   gateway -> reader  read         { v, type, readId, pin, timeoutMs }     swipe (and PIN) for one read
 *
 * A card read is AES DUKPT (ANSI X9.24-3-2017) protected under one KSN: track 2 enciphered under
 * the transaction's data-encrypt key (shared/crypto/cardData: IV || AES-CBC, ISO/IEC 9797-1
 * padding 2), the PIN (when asked for) as an ISO 9564-1 format 4 block under its PIN-encryption
 * key, and an AES-CMAC under its MAC-generation key over cardReadMacInput: the gateway verifies
 * the MAC before anything is deciphered, and the read id it chose binds the read to one request,
 * so a recorded read cannot be played into another checkout. Only the last four PAN digits travel
 * in clear, for the page to show.
 *
 * Runs in XS and Node: no Node APIs; schemas are module constants built from frozen closures.
 */
import { asciiToBytes, fromHex, toHex, utf8ToBytes } from '../bytes';
import { PaypadError } from '../errors';
import { decodeJson, hex, integer, object, oneOf, optional, string, version } from './validate';

export const CARD_READ_VERSION = 1;
/** The gateway's read id: 16 random bytes, uppercase hex. */
export const CARD_READ_ID_BYTES = 16;
/** Largest frame either side accepts. */
export const CARD_READER_FRAME_MAX = 1024;
/** What the MAC input starts with, so no other paypad MAC can pass for a card read's. */
const CARD_READ_MAC_CONTEXT = 'paypad card read 1';
/** A PIN block (ISO 9564-1 format 4) is one AES block. */
const PIN_BLOCK_BYTES = 16;
const KSN_BYTES = 12;

export type CardReadFailure = 'timeout' | 'unreadable' | 'busy' | 'no-keys' | 'no-pin-pad' | 'cancelled';

/** What the reader returns for one read: ciphertext, the KSN and a MAC; the last four digits in clear. */
export interface EncryptedCardRead {
  readonly readId: string;
  readonly ksn: Uint8Array;
  /** IV || AES-CBC of track 2 (without sentinels) under the DUKPT data-encrypt key. */
  readonly track2: Uint8Array;
  /** ISO 9564-1 format 4 PIN block under the DUKPT PIN-encryption key, when a PIN was asked for. */
  readonly pinBlock?: Uint8Array;
  readonly panLast4: string;
  /** AES-CMAC (16 bytes) under the DUKPT MAC-generation key over cardReadMacInput. */
  readonly mac: Uint8Array;
}

const readId = hex(CARD_READ_ID_BYTES, CARD_READ_ID_BYTES);
const helloSchema = object({
  v: version(CARD_READ_VERSION),
  type: oneOf('hello'),
  readerId: string({ min: 4, max: 32, pattern: /^[A-Za-z0-9-]+$/, describe: '4 to 32 of A-Z a-z 0-9 -' }),
  heartbeatMs: integer(100, 60_000),
});
const heartbeatSchema = object({ v: version(CARD_READ_VERSION), type: oneOf('heartbeat') });
const cardReadSchema = object({
  v: version(CARD_READ_VERSION),
  type: oneOf('card-read'),
  readId,
  ksn: hex(KSN_BYTES, KSN_BYTES),
  // IV and 1 to 5 AES blocks (shared/crypto/cardData's limits).
  track2: hex(32, 96),
  pinBlock: optional(hex(PIN_BLOCK_BYTES, PIN_BLOCK_BYTES)),
  panLast4: string({ min: 4, max: 4, pattern: /^[0-9]{4}$/, describe: '4 digits' }),
  mac: hex(16, 16),
});
const readFailedSchema = object({
  v: version(CARD_READ_VERSION),
  type: oneOf('read-failed'),
  readId,
  reason: oneOf('timeout', 'unreadable', 'busy', 'no-keys', 'no-pin-pad', 'cancelled'),
});
const readRequestSchema = object({
  v: version(CARD_READ_VERSION),
  type: oneOf('read'),
  readId,
  pin: oneOf(true, false),
  timeoutMs: integer(1_000, 300_000),
});

export type ReaderHello = { readonly type: 'hello'; readonly readerId: string; readonly heartbeatMs: number };
export type ReaderMessage =
  | ReaderHello
  | { readonly type: 'heartbeat' }
  | ({ readonly type: 'card-read' } & EncryptedCardRead)
  | { readonly type: 'read-failed'; readonly readId: string; readonly reason: CardReadFailure };
export interface CardReadRequest {
  readonly type: 'read';
  readonly readId: string;
  /** Ask for the PIN on the reader's keypad after the swipe. */
  readonly pin: boolean;
  readonly timeoutMs: number;
}

/** The bytes the reader MACs: context, read id, KSN, PIN block (or none), last four, then the track (the one variable field, last). */
export function cardReadMacInput(read: Omit<EncryptedCardRead, 'mac'>): Uint8Array {
  const context = asciiToBytes(CARD_READ_MAC_CONTEXT);
  const id = fromHex(read.readId, 'readId');
  const pin = read.pinBlock ?? new Uint8Array(0);
  if (id.length !== CARD_READ_ID_BYTES || read.ksn.length !== KSN_BYTES || (pin.length !== 0 && pin.length !== PIN_BLOCK_BYTES) || !/^[0-9]{4}$/.test(read.panLast4)) {
    throw new PaypadError('PROTOCOL_MALFORMED', 'card read: read id, KSN, PIN block or last four of the wrong size');
  }
  const out = new Uint8Array(context.length + id.length + KSN_BYTES + 1 + pin.length + 4 + read.track2.length);
  let at = 0;
  out.set(context, at);
  at += context.length;
  out.set(id, at);
  at += id.length;
  out.set(read.ksn, at);
  at += KSN_BYTES;
  out[at++] = pin.length;
  out.set(pin, at);
  at += pin.length;
  out.set(asciiToBytes(read.panLast4), at);
  at += 4;
  out.set(read.track2, at);
  return out;
}

export function encodeReaderMessage(message: ReaderMessage): string {
  switch (message.type) {
    case 'card-read': {
      const frame: Record<string, unknown> = { v: CARD_READ_VERSION, type: message.type, readId: message.readId, ksn: toHex(message.ksn), track2: toHex(message.track2) };
      if (message.pinBlock !== undefined) frame.pinBlock = toHex(message.pinBlock);
      frame.panLast4 = message.panLast4;
      frame.mac = toHex(message.mac);
      return JSON.stringify(frame);
    }
    default:
      return JSON.stringify({ v: CARD_READ_VERSION, ...message });
  }
}

/** One reader frame, validated; PROTOCOL_MALFORMED (naming the field, never its value) otherwise. */
export function parseReaderMessage(text: string): ReaderMessage {
  const bytes = typeof text === 'string' ? utf8ToBytes(text) : new Uint8Array(0);
  const type = typeOf(bytes);
  switch (type) {
    case 'hello': {
      const m = decodeJson(bytes, CARD_READER_FRAME_MAX, helloSchema, 'hello');
      return { type: 'hello', readerId: m.readerId, heartbeatMs: m.heartbeatMs };
    }
    case 'heartbeat':
      decodeJson(bytes, CARD_READER_FRAME_MAX, heartbeatSchema, 'heartbeat');
      return { type: 'heartbeat' };
    case 'card-read': {
      const m = decodeJson(bytes, CARD_READER_FRAME_MAX, cardReadSchema, 'cardRead');
      const read = { type: 'card-read' as const, readId: m.readId, ksn: fromHex(m.ksn), track2: fromHex(m.track2), panLast4: m.panLast4, mac: fromHex(m.mac) };
      return m.pinBlock === undefined ? read : { ...read, pinBlock: fromHex(m.pinBlock) };
    }
    case 'read-failed': {
      const m = decodeJson(bytes, CARD_READER_FRAME_MAX, readFailedSchema, 'readFailed');
      return { type: 'read-failed', readId: m.readId, reason: m.reason };
    }
    default:
      throw new PaypadError('PROTOCOL_MALFORMED', 'card reader frame: expected type hello, heartbeat, card-read or read-failed');
  }
}

export function encodeCardReadRequest(request: CardReadRequest): string {
  return JSON.stringify({ v: CARD_READ_VERSION, type: 'read', readId: request.readId, pin: request.pin, timeoutMs: request.timeoutMs });
}

export function parseCardReadRequest(text: string): CardReadRequest {
  const m = decodeJson(typeof text === 'string' ? utf8ToBytes(text) : new Uint8Array(0), CARD_READER_FRAME_MAX, readRequestSchema, 'read');
  return { type: 'read', readId: m.readId, pin: m.pin, timeoutMs: m.timeoutMs };
}

/** The frame's type field, read before its schema is chosen (the schemas refuse unknown fields). */
function typeOf(bytes: Uint8Array): string | undefined {
  if (bytes.length > CARD_READER_FRAME_MAX) return undefined;
  const frame = decodeJson(bytes, CARD_READER_FRAME_MAX, (value) => value, 'card reader frame');
  return typeof frame === 'object' && frame !== null && typeof (frame as { type?: unknown }).type === 'string' ? (frame as { type: string }).type : undefined;
}
