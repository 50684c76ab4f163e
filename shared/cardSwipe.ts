/**
 * What a keyboard-wedge magnetic-stripe reader types into the checkout page (E4, the weaker mode;
 * docs/card-readers.md): the reader acts as a USB keyboard and, on a swipe, types the tracks with
 * their sentinels into the focused input, then Enter:
 *
 *   %B6222021000000000017^ZHANG/SAN^30121011234000000?;6222021000000000017=30121011234?⏎
 *
 * Track 1 (ISO/IEC 7813:2006 §5, format code B): '%', 'B', the PAN (up to 19 digits), '^', the
 * holder's name (2 to 26 characters, SURNAME/GIVEN), '^', expiry YYMM, service code, discretionary
 * data, '?'. Track 2 (§6): ';', PAN, '=', YYMM, service code, discretionary data, '?'. Readers that
 * send the longitudinal redundancy check type it as one character after '?'; most wedge readers
 * leave it out, and the reader has checked it already, so one character after an end sentinel is
 * skipped and none is required. A track the reader could not decode comes as "%E?" or ";E?".
 *
 * The page sees the card data in clear in this mode: the PIN pad as a secure reader
 * (firmware/core/secureCardReader) is the mode that keeps it from the page. Any bad read is
 * CARD_SWIPE_INVALID, whose message names the problem but never a character of the track.
 * Runs in the browser, XS and Node: no platform APIs.
 */
import { asciiToBytes } from './bytes';
import { PaypadError, isPaypadError } from './errors';
import { isLuhnValid } from './pan';
import { readTrack2, TRACK2_MAX_CHARS } from './track2';

/** ISO/IEC 7813: 79 characters on track 1, less the two sentinels and the LRC. */
export const TRACK1_MAX_CHARS = 76;
/** Longest text accepted from the input: both tracks, sentinels, LRCs, the Enter. */
export const KEYBOARD_SWIPE_MAX_CHARS = 128;

export interface CardSwipe {
  readonly pan: string;
  /** YYMM. */
  readonly expiry: string;
  readonly serviceCode: string;
  /** SURNAME/GIVEN as on track 1, trimmed; absent when only track 2 was read. */
  readonly holderName?: string;
  /** Track 2 between its sentinels, for an authorisation (ISO 8583 field 35); absent when only track 1 was read. */
  readonly track2?: string;
}

/** The card in `typed` (what the reader typed, with or without its Enter); CARD_SWIPE_INVALID for a bad read. */
export function parseKeyboardSwipe(typed: string): CardSwipe {
  if (typeof typed !== 'string') throw invalid('expected the typed text');
  const text = typed.replace(/[\r\n]+$/, '');
  if (text.length === 0) throw invalid('nothing was typed');
  if (text.length > KEYBOARD_SWIPE_MAX_CHARS) throw invalid(`more than ${KEYBOARD_SWIPE_MAX_CHARS} characters: not one swipe`);
  let at = 0;
  let track1: string | undefined;
  let track2: string | undefined;
  if (text[at] === '%') {
    const end = text.indexOf('?', at + 1);
    if (end < 0) throw invalid('track 1 has no end sentinel');
    track1 = text.slice(at + 1, end);
    at = skipLrc(text, end + 1);
  }
  if (text[at] === ';') {
    const end = text.indexOf('?', at + 1);
    if (end < 0) throw invalid('track 2 has no end sentinel');
    track2 = text.slice(at + 1, end);
    at = skipLrc(text, end + 1);
  }
  if (at !== text.length) throw invalid(track1 === undefined && track2 === undefined ? 'no start sentinel (% or ;): not a card swipe' : 'unexpected characters after the tracks');
  if (track1 === 'E' || track2 === 'E') throw invalid('the reader could not read the stripe; swipe again');
  const one = track1 === undefined ? undefined : readTrack1(track1);
  const two = track2 === undefined ? undefined : readTrack2Text(track2);
  if (one && two && (one.pan !== two.pan || one.expiry !== two.expiry)) throw invalid('track 1 and track 2 disagree');
  const card = (two ?? one) as CardSwipe;
  if (!isLuhnValid(card.pan)) throw invalid('the card number fails its check digit');
  return {
    pan: card.pan,
    expiry: card.expiry,
    serviceCode: card.serviceCode,
    ...(one === undefined ? {} : { holderName: one.holderName }),
    ...(track2 === undefined ? {} : { track2 }),
  };
}

/** ISO/IEC 7813 §5.2 track 1 format B fields. */
function readTrack1(track: string): CardSwipe & { holderName: string } {
  if (track.length > TRACK1_MAX_CHARS) throw invalid(`track 1: more than ${TRACK1_MAX_CHARS} characters`);
  const fields = /^B([0-9]{8,19})\^([ -\x5d\x5f]{2,26})\^([0-9]{4})([0-9]{3})([ -\x5f]*)$/.exec(track);
  if (fields === null) throw invalid('track 1: not format B (B, number, ^, name, ^, expiry, service code)');
  const month = Number(fields[3].slice(2));
  if (month < 1 || month > 12) throw invalid('track 1: the expiration date is not YYMM');
  return { pan: fields[1], holderName: fields[2].trim(), expiry: fields[3], serviceCode: fields[4] };
}

function readTrack2Text(track: string): CardSwipe {
  if (track.length > TRACK2_MAX_CHARS || !/^[0-9=]+$/.test(track)) throw invalid(`track 2: expected up to ${TRACK2_MAX_CHARS} digits and '='`);
  try {
    return readTrack2(asciiToBytes(track));
  } catch (e) {
    if (isPaypadError(e, 'CARD_DATA_INVALID')) throw invalid(e.message);
    throw e;
  }
}

/** One LRC character may follow an end sentinel; it is never a sentinel itself. */
function skipLrc(text: string, at: number): number {
  return at < text.length && text[at] !== ';' && text[at] !== '%' && text[at] !== '?' ? at + 1 : at;
}

function invalid(problem: string): PaypadError {
  return new PaypadError('CARD_SWIPE_INVALID', `card swipe: ${problem}`);
}
