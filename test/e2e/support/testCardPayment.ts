/**
 * A mobile payment from an emulated terminal (firmware/core/terminal) with one of the simulated
 * bank's test cards, as `paypad terminal pay --card NAME` swipes it: the payee looked up through
 * POSP, then the card's track 2 and the PIN handed to payByMobile, the track wiped afterwards.
 */
import { asciiToBytes } from '../../../shared/bytes';
import type { Terminal } from '../../../firmware/core/terminal';
import type { MobilePayResponse } from '../../../shared/protocol/transactions';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';

export type TestCardName = keyof typeof TEST_CARDS;

/** The rest of track 2 after the expiry (service code and discretionary data) of an emulated swipe. */
const TRACK2_TAIL = '1011234';

export async function payWithTestCard(terminal: Terminal, payeeMobile: string, card: TestCardName, amount: number, pin: string = TEST_PIN): Promise<MobilePayResponse> {
  const { pan, expiry } = TEST_CARDS[card];
  const { lookupId } = await terminal.lookupPayee(payeeMobile);
  const track2 = asciiToBytes(`${pan}=${expiry}${TRACK2_TAIL}`);
  try {
    return await terminal.payByMobile({ lookupId, amount, currency: 'CNY', track2, pin });
  } finally {
    track2.fill(0);
  }
}
