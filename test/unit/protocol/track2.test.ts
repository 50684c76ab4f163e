/**
 * Track 2 (shared/track2.ts; ISO/IEC 7813, ISO 8583 field 35; SPEC C6): the PAN, expiry and service
 * code of a swipe; anything else is CARD_DATA_INVALID with no digit of the track in the message (X1).
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { readTrack2 } from '../../../shared/track2';

const refusal = (track: string | Uint8Array): string => {
  try {
    readTrack2(typeof track === 'string' ? asciiToBytes(track) : track);
  } catch (e) {
    if (!isPaypadError(e, 'CARD_DATA_INVALID')) throw e;
    expect(e.message).not.toMatch(/\d{6}/);
    return e.code;
  }
  return 'accepted';
};

describe('C6: track 2 of the paying card', () => {
  it('C6: reads PAN, expiry (YYMM) and service code, with or without discretionary data', () => {
    expect(readTrack2(asciiToBytes('6222021000000000017=30121011234'))).toEqual({ pan: '6222021000000000017', expiry: '3012', serviceCode: '101' });
    expect(readTrack2(asciiToBytes('4111111000000003=2401201'))).toEqual({ pan: '4111111000000003', expiry: '2401', serviceCode: '201' });
  });

  it('refuses malformed and oversized tracks (CARD_DATA_INVALID), never quoting the digits', () => {
    for (const bad of [
      '',
      '6222021000000000017',
      '6222021000000000017=3012',
      '6222021000000000017=3013101',
      '6222021000000000017=30121A1',
      '62220210=0000000017=3012101',
      '1234567=3012101',
      '62220210000000000171234=3012101',
      `6222021000000000017=3012101${'0'.repeat(11)}`,
    ]) {
      expect(refusal(bad), bad).toBe('CARD_DATA_INVALID');
    }
    expect(refusal('not bytes' as unknown as Uint8Array)).toBe('CARD_DATA_INVALID');
  });
});
