/**
 * C2 by voice: the menu on the platform's phone number (DTMF).
 *
 *   1  change the receiving card: key the new card number and #; the card is checked with its
 *      bank against the registered name, and a code is texted to the registered number
 *   2  key the code from that text: the change is made
 *
 * The caller id names the registration but proves nothing (it can be spoofed): the code texted to
 * the registered number is the proof, as on every channel. Names cannot be keyed on a phone pad,
 * so name changes are for the other channels. The menu never asks for a PIN.
 */
import { isPaypadError } from '../../../../shared/errors';
import { isMainlandMobileNumber } from '../../../../shared/mobileNumber';
import type { VoiceCall, VoicePlatform } from '../../../voice/voicePlatform';
import type { PayeeRegistry } from '../payeeRegistry';

const MAX_PAN_DIGITS = 19;

export function attachVoiceMenu(voice: VoicePlatform, deps: { payees: PayeeRegistry }): void {
  voice.onCall(async (call: VoiceCall) => {
    const mobile = call.from.startsWith('+86') ? call.from.slice(3) : '';
    if (!isMainlandMobileNumber(mobile) || !(await deps.payees.payee(mobile))) {
      await call.say('This number is not registered for mobile-number payments. Please call from your registered phone. Goodbye.');
      return;
    }
    const choice = await call.gather('To change your receiving card, press 1. To confirm a change with the code we texted you, press 2.', 1);
    try {
      if (choice === '1') {
        const pan = await call.gather('Key the new card number, then the hash key.', MAX_PAN_DIGITS);
        await deps.payees.startUpdate({ mobile, pan }, 'voice');
        await call.say('Your card was accepted by its bank. We have texted a code to your registered phone: call again and press 2, or reply to the text with the code. Goodbye.');
      } else if (choice === '2') {
        const pending = await deps.payees.pendingFor(mobile);
        if (!pending) return void (await call.say('There is no change waiting for a code on this number. Goodbye.'));
        const code = await call.gather('Key the six-digit code from our text.', 6);
        const payee = await deps.payees.confirm(pending, code);
        await call.say(`Your receiving card is now the card ending ${payee.maskedCard.slice(-4)}. Goodbye.`);
      } else {
        await call.say('No choice was made. Goodbye.');
      }
    } catch (e) {
      if (!isPaypadError(e) || e.code === 'INTERNAL' || e.code === 'DB_UNAVAILABLE') throw e;
      await call.say(`Sorry: ${e.message}. Goodbye.`);
    }
  });
}
