/**
 * Splits one line from a serial magnetic-stripe reader into tracks.
 *
 * Serial (UART) readers send each swipe as one line of ASCII: track 1 between '%' and '?',
 * track 2 between ';' and '?' (LRCs after the end sentinels are dropped by most readers),
 * then CR and/or LF. A reader that cannot decode a track sends "E" as its data ("%E?", ";E?").
 *
 * Track 1 is ISO/IEC 7811-2 6-bit alphanumeric (0x20-0x5F); track 2 on a financial card is
 * digits and '=' (ISO/IEC 7813). A track with another character, or longer than ISO/IEC 7813
 * allows, was misread and is treated as absent. Pure, so it runs in the Node tests.
 */
import { TRACK1_MAX, TRACK2_MAX, type Swipe } from '../cardReader';

/** Longest line accepted from a reader: both tracks, sentinels, LRCs and some noise. */
export const SWIPE_LINE_MAX = 160;

const PERCENT = 0x25;
const SEMICOLON = 0x3b;
const QUESTION = 0x3f;
const E = 0x45;

/** The tracks in `line` (without CR/LF). Returned tracks are copies; the caller wipes `line`. */
export function parseSwipeLine(line: Uint8Array): Swipe {
  const first = findTrack(line, PERCENT, 0);
  const track1 = first && validTrack(line, first, TRACK1_MAX, isTrack1Char);
  // Track 1 may itself contain ';' (it is in the 6-bit set), so track 2 is searched after it.
  const second = findTrack(line, SEMICOLON, first ? first.end + 1 : 0);
  const track2 = second && validTrack(line, second, TRACK2_MAX, isTrack2Char);
  if (!track1 && !track2) return { status: 'unreadable' };
  const swipe: Swipe = { status: 'read' };
  if (track1) swipe.track1 = track1;
  if (track2) swipe.track2 = track2;
  return swipe;
}

/** Zeroes the track bytes of a swipe nobody will read. */
export function wipeSwipe(swipe: Swipe): void {
  if (swipe.status !== 'read') return;
  swipe.track1?.fill(0);
  swipe.track2?.fill(0);
}

interface Span {
  /** Index of the start sentinel. */
  start: number;
  /** Index of the end sentinel. */
  end: number;
}

function findTrack(line: Uint8Array, sentinel: number, from: number): Span | undefined {
  const start = line.indexOf(sentinel, from);
  if (start < 0) return undefined;
  const end = line.indexOf(QUESTION, start + 1);
  return end < 0 ? undefined : { start, end };
}

function validTrack(line: Uint8Array, span: Span, max: number, valid: (c: number) => boolean): Uint8Array | undefined {
  const length = span.end - span.start - 1;
  if (length === 0 || length > max) return undefined;
  if (length === 1 && line[span.start + 1] === E) return undefined;
  for (let i = span.start + 1; i < span.end; i++) if (!valid(line[i])) return undefined;
  return line.slice(span.start + 1, span.end);
}

/** ISO/IEC 7811-2 6-bit alphanumeric set. */
function isTrack1Char(c: number): boolean {
  return c >= 0x20 && c <= 0x5f;
}

/** ISO/IEC 7813 track 2 data: digits and the '=' field separator. */
function isTrack2Char(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x3d;
}
