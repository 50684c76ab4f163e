/**
 * A key's components as its custodians enter them at a key ceremony (split knowledge, ANSI
 * X9.24-1:2017): each component with the check value from its custodian's form. Never a flag (a
 * flag shows in `ps` and in shell history). On a terminal each custodian keys their component with
 * echo off and then its check value; from a pipe, one line per component: `COMPONENT KCV` (hex).
 * The values are returned as bytes for the caller to use once and wipe.
 */
import { createInterface } from 'node:readline';
import { fromHex } from '../shared/bytes';
import { PaypadError } from '../shared/errors';
import type { KeyComponent } from '../host/hsm/hsm';
import { UsageError } from './args';

const HEX_DIGIT = /^[0-9A-Fa-f]$/;
const CTRL_C = 0x03;
const BACKSPACE = [0x7f, 0x08];
const ENTER = [0x0d, 0x0a];

/** `count` components: keyed at the terminal when standard input is one, else `count` lines read from it. */
export async function readKeyComponents(count: number): Promise<KeyComponent[]> {
  return process.stdin.isTTY ? keyedComponents(count) : pipedComponents(count);
}

/** The number of components from --components: 2 (the default) or 3. */
export function componentCount(flag: string | undefined): number {
  if (flag === undefined) return 2;
  if (flag !== '2' && flag !== '3') throw new UsageError('--components: 2 or 3 (a key is entered as two or three components)');
  return Number(flag);
}

async function pipedComponents(count: number): Promise<KeyComponent[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: process.stdin })) if (line.trim() !== '') lines.push(line.trim());
  if (lines.length !== count) throw new UsageError(`standard input: expected ${count} lines, one per component (COMPONENT KCV), got ${lines.length}`);
  return lines.map((line, i) => {
    const [value, kcv, extra] = line.split(/\s+/);
    if (kcv === undefined || extra !== undefined) throw new UsageError(`standard input, component ${i + 1}: expected the component and its check value, as hex, separated by a space`);
    return { value: componentBytes(value, i), kcv };
  });
}

async function keyedComponents(count: number): Promise<KeyComponent[]> {
  const components: KeyComponent[] = [];
  for (let i = 0; i < count; i++) {
    const value = componentBytes(await hiddenLine(`Custodian ${i + 1} of ${count}: key your component (hex, not shown), then Enter: `), i);
    components.push({ value, kcv: await visibleLine(`Custodian ${i + 1} of ${count}: its check value (10 hex digits): `) });
  }
  return components;
}

function componentBytes(hex: string, i: number): Uint8Array {
  try {
    return fromHex(hex, `component ${i + 1}`);
  } catch {
    // Never echo what was keyed: it is a share of the key.
    throw new UsageError(`component ${i + 1}: expected hex digits (an even number of 0-9 A-F)`);
  }
}

function visibleLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) =>
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer.trim());
    }),
  );
}

/** Keyed with echo off, '*' per hex digit; backspace removes one, Enter ends, Ctrl-C cancels. */
function hiddenLine(question: string): Promise<string> {
  const input = process.stdin;
  // Echo off before the question shows: what is keyed the moment it appears must not be echoed.
  input.setRawMode(true);
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    const digits: string[] = [];
    const end = (chunk: Buffer) => {
      chunk.fill(0);
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: Buffer) => {
      for (const byte of chunk) {
        const char = String.fromCharCode(byte);
        if (HEX_DIGIT.test(char)) {
          digits.push(char);
          process.stderr.write('*');
        } else if (BACKSPACE.includes(byte) && digits.length > 0) {
          digits.pop();
          process.stderr.write('\b \b');
        } else if (ENTER.includes(byte) || byte === CTRL_C) {
          end(chunk);
          if (byte === CTRL_C) reject(new PaypadError('OPERATOR_CANCELLED', 'the key ceremony was cancelled; nothing was stored'));
          else resolve(digits.splice(0).join(''));
          return;
        }
      }
      chunk.fill(0);
    };
    input.resume();
    input.on('data', onData);
  });
}
