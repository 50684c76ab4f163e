/**
 * Serial card reader lines split into tracks (E4, C6). Track layouts follow ISO/IEC 7813:2006
 * §4 (track 1: %B PAN ^ NAME ^ YYMM service-code discretionary ?; track 2: ; PAN = YYMM
 * service-code discretionary ?). 4111111111111111 is the well-known Visa test PAN.
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes, bytesToAscii } from '../../../shared/bytes';
import { TRACK1_MAX, TRACK2_MAX } from '../../../firmware/hal/cardReader';
import { parseSwipeLine, wipeSwipe } from '../../../firmware/hal/moddable/swipeFrame';

const TRACK1 = 'B4111111111111111^CARDHOLDER/TEST^2912101000000000000';
const TRACK2 = '4111111111111111=29121010000000000';

function tracks(line: string): { status: string; track1?: string; track2?: string } {
  const swipe = parseSwipeLine(asciiToBytes(line));
  if (swipe.status !== 'read') return { status: swipe.status };
  return {
    status: swipe.status,
    ...(swipe.track1 && { track1: bytesToAscii(swipe.track1) }),
    ...(swipe.track2 && { track2: bytesToAscii(swipe.track2) }),
  };
}

describe('swipe line parsing (E4)', () => {
  it('E4: reads both tracks without sentinels', () => {
    expect(tracks(`%${TRACK1}?;${TRACK2}?`)).toEqual({ status: 'read', track1: TRACK1, track2: TRACK2 });
  });

  it('E4: keeps a good track when the other is missing or reported as a read error (E)', () => {
    expect(tracks(`;${TRACK2}?`)).toEqual({ status: 'read', track2: TRACK2 });
    expect(tracks(`%E?;${TRACK2}?`)).toEqual({ status: 'read', track2: TRACK2 });
    expect(tracks(`%${TRACK1}?;E?`)).toEqual({ status: 'read', track1: TRACK1 });
  });

  it('E4: finds track 2 after track 1 even when track 1 contains ";"', () => {
    const withSemicolon = 'B4111111111111111^TEST;NAME^2912101';
    expect(tracks(`%${withSemicolon}?;${TRACK2}?`)).toEqual({ status: 'read', track1: withSemicolon, track2: TRACK2 });
  });

  it('E4: a swipe with no readable track is unreadable, so the core can ask again', () => {
    for (const line of ['%E?;E?', '', 'noise', '%?;?', `;${TRACK2}`, `%${TRACK1}`]) {
      expect(tracks(line), line).toEqual({ status: 'unreadable' });
    }
  });

  it('E4: rejects misread tracks: too long, or characters outside the track\'s set', () => {
    expect(tracks(`;${'4'.repeat(TRACK2_MAX + 1)}?`)).toEqual({ status: 'unreadable' });
    expect(tracks(`;${'4'.repeat(TRACK2_MAX)}?`)).toEqual({ status: 'read', track2: '4'.repeat(TRACK2_MAX) });
    expect(tracks(`%${'B'.repeat(TRACK1_MAX + 1)}?`)).toEqual({ status: 'unreadable' });
    expect(tracks(';4111A11111111111=2912?')).toEqual({ status: 'unreadable' }); // letter in track 2
    expect(tracks('%b4111111111111111^x^29?')).toEqual({ status: 'unreadable' }); // lower case is not 6-bit
  });

  it('X1: returned tracks are copies, and wipeSwipe zeroes them', () => {
    const line = asciiToBytes(`;${TRACK2}?`);
    const swipe = parseSwipeLine(line);
    line.fill(0);
    expect(swipe.status === 'read' && bytesToAscii(swipe.track2!)).toBe(TRACK2);
    wipeSwipe(swipe);
    expect(swipe.status === 'read' && swipe.track2!.every((b) => b === 0)).toBe(true);
  });
});
