/**
 * The payee's name (C1: the identity the patent asks for, at least the name) and how the POS shows
 * it to a payer (C5: "隐去其姓名第2位", the second character hidden, CN101976403A [0042]).
 *
 * Masking decisions (docs/mobile-payments.md "Masking"):
 * - A name in one run of characters (Han names, and Han transliterations joined by '·' such as
 *   买买提·艾力) has its second character, by Unicode code point, replaced with '*': 张三丰 -> 张*丰,
 *   张三 -> 张*. That is the patent's rule: the payer recognises the family name and the length.
 * - A name of several space-separated words (Latin script: "Li Lei", "John Smith") shows each
 *   word's first letter and hides the rest, one '*' per letter: "L* L**", "J*** S****". Hiding one
 *   letter of ten would hide nothing, and a directory that shows nearly whole names is a list to
 *   harvest (PayNow's complaint): the payer who knows the payee still recognises initials and shape.
 * - A one-character name is refused at registration (there would be nothing left to confirm);
 *   should one be stored anyway, it is shown as '*'.
 */
import { PaypadError } from '../../../shared/errors';

/** Characters (code points), after trimming and NFC normalisation. */
export const MIN_NAME_CHARS = 2;
export const MAX_NAME_CHARS = 40;
/** Letters and combining marks, with single spaces, '·' (U+00B7), '.', '-' and apostrophes between them. */
const NAME = /^[\p{L}\p{M}]+(?:[ ·.'\u2019-][\p{L}\p{M}]+)*\.?$/u;

/** The name as stored: NFC, trimmed, runs of spaces made one. PAYEE_REGISTRATION_INVALID for anything that is not a person's name. */
export function normalisePayeeName(name: unknown): string {
  if (typeof name !== 'string' || name.length > MAX_NAME_CHARS * 4) throw invalidName();
  const normal = name.normalize('NFC').trim().replace(/\s+/gu, ' ');
  const chars = Array.from(normal).length;
  if (chars < MIN_NAME_CHARS || chars > MAX_NAME_CHARS || !NAME.test(normal)) throw invalidName();
  return normal;
}

/** The name as the POS shows it to the payer (C5); see the module comment for the rules. */
export function maskPayeeName(name: string): string {
  const words = name.split(' ');
  if (words.length > 1) return words.map((w) => Array.from(w).map((c, i) => (i === 0 ? c : '*')).join('')).join(' ');
  const chars = Array.from(name);
  if (chars.length < 2) return '*';
  chars[1] = '*';
  return chars.join('');
}

function invalidName(): PaypadError {
  return new PaypadError('PAYEE_REGISTRATION_INVALID', `name: expected ${MIN_NAME_CHARS} to ${MAX_NAME_CHARS} letters, as on the payee's bank card (spaces, '·', '.', '-' and apostrophes between them)`);
}
