/**
 * Message sequence numbers (X2): strictly increasing per terminal and MAC key, persisted on both
 * sides. On the wire (header Paypad-Seq, and inside the MAC input) a sequence number is a decimal
 * string of a safe integer 1 .. 2^53 - 1 without sign or leading zero, so exactly one text
 * stands for each number and both runtimes hold it in a plain number. 0 means "none used yet":
 * the state after a new TK (repair, A13), because a new MAC key starts a new sequence.
 */
import { PaypadError } from '../errors';
import { fail } from './validate';

export const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;
// 2^53 - 1 has 16 digits; the range check after parsing catches 16-digit values above it.
const DECIMAL = /^[1-9][0-9]{0,15}$/;

/** The wire text -> the number; PROTOCOL_MALFORMED for anything but a canonical decimal in range. */
export function parseSequence(text: unknown, path: string): number {
  if (typeof text !== 'string' || !DECIMAL.test(text)) fail(path, 'expected a decimal sequence number without sign or leading zero');
  const seq = Number(text);
  if (seq > MAX_SEQUENCE) fail(path, `expected a sequence number at most ${MAX_SEQUENCE}`);
  return seq;
}

function assertSequence(seq: number, min: number, what: string): void {
  if (!Number.isSafeInteger(seq) || seq < min) {
    throw new PaypadError('BAD_ARGUMENT', `${what}: expected an integer from ${min} to ${MAX_SEQUENCE}`);
  }
}

/** The number -> its one wire text. */
export function formatSequence(seq: number): string {
  assertSequence(seq, 1, 'sequence number');
  return String(seq);
}

/**
 * The number a sender uses after `last` (0 when none was used). Persist it BEFORE sending: a
 * reused number is refused as a replay, a skipped one costs nothing.
 */
export function nextSequence(last: number): number {
  assertSequence(last, 0, 'last sequence number');
  if (last === MAX_SEQUENCE) throw new PaypadError('BAD_ARGUMENT', 'sequence numbers are exhausted: the MAC key must be replaced');
  return last + 1;
}

/**
 * PROTOCOL_REPLAY unless `seq` is above `lastSeen`: a replayed or reordered message changes
 * nothing. Check it only after the MAC verified, so an unauthenticated sender cannot probe the
 * stored sequence; the store must then advance with a conditional update (last_seq < seq) so two
 * host processes cannot both accept one number.
 */
export function assertFreshSequence(seq: number, lastSeen: number): void {
  assertSequence(seq, 1, 'sequence number');
  assertSequence(lastSeen, 0, 'last seen sequence number');
  if (seq <= lastSeen) throw new PaypadError('PROTOCOL_REPLAY', `sequence ${seq} is not above the last accepted ${lastSeen}: replayed or reordered`);
}
