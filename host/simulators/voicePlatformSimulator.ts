/**
 * A simulated voice platform (X5): plays a caller who dials the platform's number and keys digits
 * when asked. `call(from, keys)` runs the menu to its end with `keys` as everything the caller
 * will key, one string per gather ('' for a gather the caller lets time out), and returns the
 * transcript: every prompt said, and what was keyed, with card numbers masked (X1), so a test
 * reads the conversation a person would have had.
 */
import { PaypadError } from '../../shared/errors';
import type { VoiceCall, VoicePlatform } from '../voice/voicePlatform';
import { maskCardData } from './smsGatewaySimulator';

export interface CallTranscript {
  readonly from: string;
  /** "say: ...", "gather: ...", "keyed: ..." in order. */
  readonly lines: readonly string[];
}

const E164 = /^\+[1-9]\d{6,14}$/;
const DTMF = /^[0-9*#]*$/;

export class VoicePlatformSimulator implements VoicePlatform {
  #handler?: (call: VoiceCall) => Promise<void>;

  onCall(handler: (call: VoiceCall) => Promise<void>): void {
    this.#handler = handler;
  }

  /** VOICE_CALL_INVALID for a caller id that is not E.164 or keys that are not DTMF digits. */
  async call(from: string, keys: readonly string[]): Promise<CallTranscript> {
    if (typeof from !== 'string' || !E164.test(from)) throw new PaypadError('VOICE_CALL_INVALID', 'caller id: expected an E.164 number');
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' && DTMF.test(k) && k.length <= 32)) throw new PaypadError('VOICE_CALL_INVALID', 'keys: DTMF digits 0-9, * and #, at most 32 per gather');
    if (!this.#handler) throw new PaypadError('VOICE_CALL_INVALID', "nothing answers calls to the platform's number");
    const lines: string[] = [];
    const queue = [...keys];
    await this.#handler({
      from,
      say: async (text) => void lines.push(`say: ${text}`),
      gather: async (prompt, maxDigits) => {
        lines.push(`gather: ${prompt}`);
        const pressed = queue.shift() ?? '';
        const hash = pressed.indexOf('#');
        const digits = (hash >= 0 ? pressed.slice(0, hash) : pressed).slice(0, maxDigits);
        lines.push(`keyed: ${maskCardData(digits) || '(nothing)'}`);
        return digits;
      },
    });
    return { from, lines };
  }
}
