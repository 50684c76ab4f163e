/**
 * Track 2 of a payment card's magnetic stripe, ISO/IEC 7813:2006 §6 (track 2 equivalent data in
 * ISO 8583 field 35): PAN (up to 19 digits), the field separator '=', the expiration date YYMM,
 * the service code (3 digits) and discretionary data, at most 37 characters between the start
 * sentinel and the end sentinel. The terminal reads the PAN from it for the PIN block (ISO 9564-1
 * format 4 binds the PAN); POSP reads PAN and expiry from it for the 0200.
 *
 * Track data comes and goes as bytes (the card reader HAL's form), so the caller can wipe it; the
 * fields read out are strings, which the caller keeps only for the one transaction. No message
 * here carries a digit of the track (X1). Runs in XS and Node: no Node APIs, no tables.
 *
 * Example: readTrack2(asciiToBytes('6222021000000000017=30121011234')) is
 * { pan: '6222021000000000017', expiry: '3012', serviceCode: '101' }.
 */
import { PaypadError } from './errors';
import { isPanShaped } from './pan';

/** ISO/IEC 7813:2006: 40 characters on the stripe, less the two sentinels and the LRC. */
export const TRACK2_MAX_CHARS = 37;

const SEPARATOR = 0x3d; // '='
const EXPIRY_DIGITS = 4;
const SERVICE_CODE_DIGITS = 3;

export interface Track2 {
  readonly pan: string;
  /** YYMM, ISO 8583 field 14. */
  readonly expiry: string;
  readonly serviceCode: string;
}

/** The fields of track 2 as ASCII bytes; CARD_DATA_INVALID for anything else. */
export function readTrack2(track: Uint8Array): Track2 {
  if (!(track instanceof Uint8Array) || track.length > TRACK2_MAX_CHARS) {
    throw invalid(`expected at most ${TRACK2_MAX_CHARS} characters`);
  }
  const separator = track.indexOf(SEPARATOR);
  if (separator < 0) throw invalid("no field separator '='");
  for (let i = 0; i < track.length; i++) {
    if (i !== separator && (track[i] < 0x30 || track[i] > 0x39)) throw invalid('expected digits around one field separator');
  }
  const pan = digitsOf(track, 0, separator);
  if (!isPanShaped(pan)) throw invalid('the primary account number must be 8 to 19 digits');
  if (track.length < separator + 1 + EXPIRY_DIGITS + SERVICE_CODE_DIGITS) throw invalid('expected an expiration date and a service code after the separator');
  const expiry = digitsOf(track, separator + 1, separator + 1 + EXPIRY_DIGITS);
  const month = Number(expiry.slice(2));
  if (month < 1 || month > 12) throw invalid('the expiration date is not YYMM');
  return { pan, expiry, serviceCode: digitsOf(track, separator + 1 + EXPIRY_DIGITS, separator + 1 + EXPIRY_DIGITS + SERVICE_CODE_DIGITS) };
}

function digitsOf(track: Uint8Array, from: number, to: number): string {
  let text = '';
  for (let i = from; i < to; i++) text += String.fromCharCode(track[i]);
  return text;
}

function invalid(problem: string): PaypadError {
  return new PaypadError('CARD_DATA_INVALID', `track 2: ${problem}`);
}
