/**
 * What the `paypad phone` commands share (phone.ts: bills, phoneOrders.ts: gateway orders): the
 * client on this directory's element and state, JSON on stdout, and the card number and PIN read
 * from standard input or a terminal with echo off, never from a flag (a flag shows in `ps` and in
 * the shell's history).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createPhoneClient, type PhoneClient } from '../../shared/client/phoneClient';
import { PaypadError } from '../../shared/errors';
import type { BoundCard } from '../../shared/protocol/phoneClient';
import { UsageError } from '../args';
import { fileStateStore, openFileElement } from './phoneElement';
import { fetchTransport } from './phoneTransport';

export const COMMON_HELP = `  --home DIR       the client's directory: element key and state (default ~/.paypad/phone)
  --url URL        the host (default http://PAYPAD_HOST:PAYPAD_PORT, i.e. http://127.0.0.1:8780)`;
export const COMMON_FLAGS = { home: { type: 'string' }, url: { type: 'string' } } as const;

export function hostUrl(flag: string | undefined): string {
  const url = flag ?? `http://${process.env.PAYPAD_HOST || '127.0.0.1'}:${process.env.PAYPAD_PORT || '8780'}`;
  if (!/^https?:\/\/[^/]+$/.test(url)) throw new UsageError(`--url must be http(s)://host:port, got '${url.slice(0, 80)}'`);
  return url;
}

export async function phone(flags: { home?: string; url?: string }, create = false): Promise<{ client: PhoneClient; url: string }> {
  const home = flags.home ?? join(homedir(), '.paypad', 'phone');
  const url = hostUrl(flags.url);
  const element = await openFileElement(home, create);
  return { client: createPhoneClient({ element, store: fileStateStore(home), transport: fetchTransport(url) }), url };
}

export function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** One line of standard input (a pipe), its bytes wiped after; at most `max` characters. */
export async function stdinLine(max: number): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(0x0a) || chunks.reduce((n, c) => n + c.length, 0) > max) break;
  }
  const data = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  const line = data.toString('utf8').split('\n')[0].replace(/\r$/, '');
  data.fill(0);
  return line;
}

export function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => rl.question(`${question} `, (answer) => {
    rl.close();
    resolve(answer.trim());
  }));
}

/** Keyed with echo off, '*' per digit, Enter ends; Ctrl-C cancels. */
export function pinFromTty(): Promise<string> {
  const input = process.stdin;
  input.setRawMode(true);
  process.stderr.write('PIN (Enter when done): ');
  return new Promise((resolve, reject) => {
    let pin = '';
    input.resume();
    const onData = (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte >= 0x30 && byte <= 0x39) {
          pin += String.fromCharCode(byte);
          process.stderr.write('*');
        } else if (byte === 0x7f || byte === 0x08) {
          pin = '';
          process.stderr.write('\nPIN cleared, key it again: ');
        } else if (byte === 0x0d || byte === 0x0a || byte === 0x03) {
          chunk.fill(0);
          input.off('data', onData);
          input.setRawMode(false);
          input.pause();
          process.stderr.write('\n');
          if (byte === 0x03) reject(new PaypadError('OPERATOR_CANCELLED', 'the PIN entry was cancelled; nothing was paid'));
          else resolve(pin);
          return;
        }
      }
      chunk.fill(0);
    };
    input.on('data', onData);
  });
}

export function pickCard(all: readonly BoundCard[], wanted: string): BoundCard {
  const card = all.find((c) => c.cardRef === wanted.toUpperCase() || c.maskedPan === wanted || (/^\d{4}$/.test(wanted) && c.maskedPan.endsWith(wanted)));
  if (!card) throw new UsageError(`--card: no bound card is ${wanted.slice(0, 32)} (give its last four digits, masked number or reference; see paypad phone cards)`);
  return card;
}

/** Asks which bound card to pay with (a terminal). */
export async function askCard(bound: readonly BoundCard[]): Promise<BoundCard> {
  bound.forEach((c, i) => process.stderr.write(`  ${i + 1}. ${c.maskedPan}\n`));
  const card = bound[Number(await ask('card number from the list:')) - 1];
  if (!card) throw new PaypadError('OPERATOR_CANCELLED', 'no card chosen; nothing was paid');
  return card;
}
