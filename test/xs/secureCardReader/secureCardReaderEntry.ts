/**
 * The secure card reader's key work (firmware/core/secureCardReader) in XS, one command at a time,
 * for test/xs/secureCardReader.budget.test.ts:
 *
 *   { cmd: 'load', initialKey, initialKeyId }       -> { counter }   key injection, state sealed in storage
 *   { cmd: 'read', readId, track2, pin? }           -> { frame }     one swipe sealed: the card-read frame
 *   { cmd: 'restart' }                              -> { counter }   a new reader over the same storage
 *
 * Storage is in memory (the device's NVS stand-in) and survives 'restart'; the root key and the
 * IV source are fixed test values. ASCII JSON in and out (the device runtime has no TextEncoder).
 * Runs in XS: no Node APIs.
 */
import { asciiToBytes, fromHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { encodeReaderMessage } from '../../../shared/protocol/cardReadMessages';
import { SecureCardReader } from '../../../firmware/core/secureCardReader';
import { MemoryStorage } from '../../support/memoryStorage';

interface Command {
  cmd: 'load' | 'read' | 'restart';
  initialKey?: string;
  initialKeyId?: string;
  readId?: string;
  track2?: string;
  pin?: string;
}

const storage = new MemoryStorage();
const ROOT_KEY = '000102030405060708090A0B0C0D0E0F';
let next = 1;
/** Test IVs: a counter's bytes (the device uses its hardware RNG). */
const rng = (length: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (next++ * 151) & 0xff;
  return out;
};
let reader = new SecureCardReader({ storage, rng, rootKey: fromHex(ROOT_KEY) });

function run(c: Command): unknown {
  if (c.cmd === 'load') return { counter: reader.loadInitialKey(fromHex(c.initialKey ?? '', 'initialKey'), fromHex(c.initialKeyId ?? '', 'initialKeyId')) };
  if (c.cmd === 'restart') {
    reader = new SecureCardReader({ storage, rng, rootKey: fromHex(ROOT_KEY) });
    return { counter: reader.counter() };
  }
  const read = reader.sealCardRead(c.readId ?? '', asciiToBytes(c.track2 ?? ''), c.pin);
  return { frame: encodeReaderMessage({ type: 'card-read', ...read }) };
}

function encode(value: unknown): ArrayBuffer {
  const text = JSON.stringify(value);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0x7f;
  return bytes.buffer;
}

function decode(message: ArrayBuffer): string {
  const bytes = new Uint8Array(message);
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

(globalThis as unknown as { handleCommand: (message: ArrayBuffer) => ArrayBuffer }).handleCommand = (message) => {
  try {
    return encode({ ok: run(JSON.parse(decode(message)) as Command) });
  } catch (e) {
    return encode(isPaypadError(e) ? { error: e.code, message: e.message } : { error: String(e) });
  }
};
