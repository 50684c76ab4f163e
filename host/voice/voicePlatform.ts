/**
 * The voice platform (IVR) a payee calls (C2: updates by voice, CN101976403A [0038]). A call is
 * driven by the platform's menu: it says prompts and gathers the digits the caller keys (DTMF,
 * ITU-T Q.23), as a hosted voice API does with its say and gather verbs. A real adapter is such an
 * API; host/simulators/voicePlatformSimulator.ts stands in for it (X5).
 *
 * Card numbers may be keyed here (hosted IVR payment capture takes PANs by DTMF); PINs never are:
 * a phone is not a secure PIN entry device (PCI PIN).
 */
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

export interface VoicePlatform {
  /** The menu that answers each call to the platform's number. One handler; a second replaces the first. */
  onCall(handler: (call: VoiceCall) => Promise<void>): void;
}
