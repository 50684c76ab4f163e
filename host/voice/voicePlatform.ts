/**
 * The voice platform (IVR) a payee calls (C2: updates by voice, CN101976403A [0038]). A call is
 * driven by the platform's menu: it says prompts and gathers the digits the caller keys (DTMF,
 * ITU-T Q.23), as a hosted voice API does with its say and gather verbs. A real adapter is such an
 * API; host/simulators/voicePlatformSimulator.ts stands in for it (X5).
 *
 * The same platform also calls out (outboundCalls.ts): the voice PIN channel calls the payer's
 * number and gathers a card PIN (E5, docs/voice-pin.md).
 *
 * Card numbers may be keyed into the menu (hosted IVR payment capture takes PANs by DTMF); PINs
 * never are. A phone is not a secure PIN entry device (PCI PIN): the one place a PIN is keyed by
 * voice is the outbound PIN channel, whose gathers are marked sensitive, whose digits become a PIN
 * block at once, and whose documentation names the PIN pad as the compliant alternative.
 */
import type { OutboundCalls } from './outboundCalls';

export interface VoiceCall {
  /** The caller's number as the network presents it (E.164); it can be spoofed, so it proves nothing by itself. */
  readonly from: string;
  say(text: string): Promise<void>;
  /**
   * Says `prompt`, then collects up to `maxDigits` keys, ended early by '#'. Resolves to the digits
   * without the '#', or '' when the caller keyed nothing before the timeout.
   */
  gather(prompt: string, maxDigits: number): Promise<string>;
}

export interface VoicePlatform extends OutboundCalls {
  /** The menu that answers each call to the platform's number. One handler; a second replaces the first. */
  onCall(handler: (call: VoiceCall) => Promise<void>): void;
}
