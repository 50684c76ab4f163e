/**
 * E4, the weaker mode: what a keyboard-wedge magstripe reader types into the checkout page, parsed
 * in the page (shared/cardSwipe). Good swipes: the test cards (host/simulators/testCards) written as
 * ISO/IEC 7813 tracks, the published VISA test track, with and without LRCs and the Enter. Bad reads
 * are CARD_SWIPE_INVALID and the message never repeats the card number.
 */
import { describe, expect, it } from 'vitest';
import { parseKeyboardSwipe } from '../../../shared/cardSwipe';
import { TEST_CARDS } from '../../../host/simulators/testCards';
import { expectCode } from '../hsm/hsmTestKit';

const track1 = (pan: string, name: string, expiry: string) => `%B${pan}^${name}^${expiry}1011234000000000?`;
const track2 = (pan: string, expiry: string) => `;${pan}=${expiry}1011234?`;

describe('E4: keyboard-wedge swipes parsed in the page', () => {
  it('E4: every test card swiped with both tracks and the Enter gives its number, expiry, service code, name and track 2', () => {
    for (const card of Object.values(TEST_CARDS)) {
      const swipe = parseKeyboardSwipe(`${track1(card.pan, 'TEST/CARDHOLDER', card.expiry)}${track2(card.pan, card.expiry)}\r\n`);
      expect(swipe).toEqual({ pan: card.pan, expiry: card.expiry, serviceCode: '101', holderName: 'TEST/CARDHOLDER', track2: `${card.pan}=${card.expiry}1011234` });
    }
  });

  it('E4: the published ISO/IEC 7813 example tracks; track 2 alone; a reader that sends LRCs', () => {
    // The VISA test card's tracks as printed in card-reader vendors' manuals.
    const visa = parseKeyboardSwipe('%B4111111111111111^TEST/VISA CARD^3012101000000000000000000000?;4111111111111111=30121010000000000000?\n');
    expect(visa).toMatchObject({ pan: '4111111111111111', expiry: '3012', serviceCode: '101', holderName: 'TEST/VISA CARD' });
    expect(parseKeyboardSwipe(track2(TEST_CARDS.visa.pan, '3012'))).toEqual({ pan: TEST_CARDS.visa.pan, expiry: '3012', serviceCode: '101', track2: `${TEST_CARDS.visa.pan}=30121011234` });
    const withLrc = parseKeyboardSwipe(`${track1(TEST_CARDS.unionPay.pan, 'ZHANG/SAN', '3012')}A${track2(TEST_CARDS.unionPay.pan, '3012')}7\r`);
    expect(withLrc.pan).toBe(TEST_CARDS.unionPay.pan);
    expect(parseKeyboardSwipe(track1(TEST_CARDS.masterCard.pan, 'HAN/MEIMEI', '3012'))).toEqual({ pan: TEST_CARDS.masterCard.pan, expiry: '3012', serviceCode: '101', holderName: 'HAN/MEIMEI' });
  });

  it('E4: bad reads are CARD_SWIPE_INVALID and name no digit of the card', async () => {
    const pan = TEST_CARDS.unionPay.pan;
    const bad = [
      '',
      '\r\n',
      'hello',
      '%E?;E?\n',
      `;${pan}=3012101`, // no end sentinel
      `%B${pan}^ZHANG/SAN^3012101?;E?`,
      `;${pan.slice(0, -1)}8=30121011234?`, // check digit
      `;${pan}=30131011234?`, // month 13
      `;${pan}30121011234?`, // no separator
      `%B${pan}ZHANG/SAN^30121011234?`, // track 1 without its first separator
      `${track1(pan, 'ZHANG/SAN', '3012')}${track2(TEST_CARDS.visa.pan, '3012')}`, // the tracks of two cards
      `${track2(pan, '3012')}${track2(pan, '3012')}`,
      `;${'1'.repeat(200)}?`,
    ];
    for (const typed of bad) {
      await expectCode(() => parseKeyboardSwipe(typed), 'CARD_SWIPE_INVALID');
      try {
        parseKeyboardSwipe(typed);
      } catch (e) {
        expect((e as Error).message).not.toContain(pan.slice(0, 8));
      }
    }
    await expectCode(() => parseKeyboardSwipe(42 as never), 'CARD_SWIPE_INVALID');
  });
});
