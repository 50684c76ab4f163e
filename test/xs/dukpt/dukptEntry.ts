/**
 * The device's side of AES DUKPT (shared/crypto/dukptTerminal) in XS, one command at a time, for
 * the device-budget test (test/xs/dukpt.budget.test.ts) and `npm run bench -- xs-dukpt`:
 *
 *   { cmd: 'load', initialKey, initialKeyId }      -> { counter }      fills the 32 registers
 *   { cmd: 'restore', state }                      -> { counter }
 *   { cmd: 'next', usage, keyType?, count }        -> { transactions: [{ ksn, key }] }
 *   { cmd: 'state' }                               -> { state }
 *
 * Hex in and out, ASCII JSON (the device runtime has no TextEncoder). Keys cross this test seam
 * only so that the test can compare them with the host's derivation.
 * Runs in XS: no Node APIs.
 */
import { fromHex, toHex } from '../../../shared/bytes';
import type { DukptKeyType, DukptKeyUsage } from '../../../shared/crypto/dukpt';
import { DukptTerminal } from '../../../shared/crypto/dukptTerminal';
import { isPaypadError } from '../../../shared/errors';

interface Command {
  cmd: 'load' | 'restore' | 'next' | 'state';
  initialKey?: string;
  initialKeyId?: string;
  state?: string;
  usage?: DukptKeyUsage;
  keyType?: DukptKeyType;
  count?: number;
}

let terminal: DukptTerminal | undefined;

function run(c: Command): unknown {
  if (c.cmd === 'load') {
    terminal = DukptTerminal.load(fromHex(c.initialKey ?? '', 'initialKey'), fromHex(c.initialKeyId ?? '', 'initialKeyId'));
    return { counter: terminal.counter };
  }
  if (c.cmd === 'restore') {
    terminal = DukptTerminal.restore(fromHex(c.state ?? '', 'state'));
    return { counter: terminal.counter };
  }
  if (terminal === undefined) throw new Error('no DUKPT state loaded');
  if (c.cmd === 'state') return { state: toHex(terminal.encodeState()) };
  const transactions: { ksn: string; key: string }[] = [];
  for (let i = 0; i < (c.count ?? 1); i++) {
    const { ksn, key } = terminal.nextTransaction(c.usage as DukptKeyUsage, c.keyType);
    transactions.push({ ksn: toHex(ksn), key: toHex(key) });
  }
  return { transactions };
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
