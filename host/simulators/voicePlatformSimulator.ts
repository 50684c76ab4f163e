/**
 * A simulated voice platform (X5), both ways a programmable-voice provider is used:
 *
 * - inbound: plays a caller who dials the platform's number and keys digits when asked.
 *   `call(from, keys)` runs the menu to its end with `keys` as everything the caller will key, one
 *   string per gather ('' for a gather the caller lets time out), and returns the transcript.
 * - outbound (host/voice/outboundCalls.ts): `placeCall` rings a simulated phone registered with
 *   `phone(number, script)`. The script says whether it answers (after how many seconds), is
 *   busy, cannot be reached or rings out, and what its holder does at each gather: keys digits,
 *   keys nothing, or hangs up. Every status goes to the status callback as a provider's webhook
 *   would send it; `outboundCalls()` gives each call's statuses and transcript.
 *
 * Transcripts hold every prompt said and what was keyed, card numbers masked (X1); the keys of a
 * sensitive gather (a PIN) are not recorded at all, as a provider's PCI mode keeps no record of them.
 *
 * Time: the provider's seconds (ring timeout, answer delay, gather timeout) pass as `msPerSecond`
 * real milliseconds each (1000 by default), so a test can ring out a 30-second call in 30 ms.
 */
import { asciiToBytes } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import {
  assertGatherRequest,
  assertPlaceCallRequest,
  assertPrompt,
  type CallStatus,
  FINAL_CALL_STATUSES,
  type GatherRequest,
  type GatherResult,
  isE164,
  type OutboundCall,
  type PlaceCallRequest,
  type UnansweredStatus,
} from '../voice/outboundCalls';
import type { VoiceCall, VoicePlatform } from '../voice/voicePlatform';
import { maskCardData } from './smsGatewaySimulator';

export interface CallTranscript {
  readonly from: string;
  /** "say: ...", "gather: ...", "keyed: ..." in order. */
  readonly lines: readonly string[];
}

/** How the simulated phone takes a call: answered after some seconds, or busy, unreachable, or never picked up. */
export type PhoneAnswer = { readonly afterSeconds: number } | 'never' | 'busy' | 'unreachable';

/**
 * What the phone's holder does at one gather: keys these DTMF digits ('1234#'; '' keys nothing and
 * lets it time out), or hangs up, perhaps after keying some digits.
 */
export type PhoneStep = string | { readonly hangUp: true; readonly keysFirst?: string };

export interface PhoneScript {
  readonly answer: PhoneAnswer;
  /** One step per gather, in order; once they run out the holder keys nothing. */
  readonly steps?: readonly PhoneStep[];
}

export interface OutboundCallRecord {
  readonly callId: string;
  readonly from: string;
  readonly to: string;
  /** Every status reported, in order. */
  readonly statuses: readonly CallStatus[];
  /** "say: ...", "gather: ...", "keyed: ...", "hung up" in order. */
  readonly lines: readonly string[];
}

export interface VoicePlatformSimulatorOptions {
  /** The platform's number, the caller id of outbound calls. */
  readonly number?: string;
  /** Real milliseconds per provider second. */
  readonly msPerSecond?: number;
}

const DTMF = /^[0-9*#]*$/;
const DEFAULT_NUMBER = '+861095500000';
const MAX_KEYS_PER_STEP = 32;

export class VoicePlatformSimulator implements VoicePlatform {
  readonly number: string;
  readonly #msPerSecond: number;
  #handler?: (call: VoiceCall) => Promise<void>;
  readonly #phones = new Map<string, PhoneScript>();
  readonly #outbound: OutboundCallRecord[] = [];
  #available = true;
  #nextCall = 1;

  constructor(options: VoicePlatformSimulatorOptions = {}) {
    const number = options.number ?? DEFAULT_NUMBER;
    if (!isE164(number)) throw new PaypadError('VOICE_CALL_INVALID', "the platform's number: expected an E.164 number");
    const msPerSecond = options.msPerSecond ?? 1000;
    if (!(msPerSecond > 0 && msPerSecond <= 1000)) throw new PaypadError('VOICE_CALL_INVALID', 'msPerSecond: expected more than 0, at most 1000');
    this.number = number;
    this.#msPerSecond = msPerSecond;
  }

  onCall(handler: (call: VoiceCall) => Promise<void>): void {
    this.#handler = handler;
  }

  /** VOICE_CALL_INVALID for a caller id that is not E.164 or keys that are not DTMF digits. */
  async call(from: string, keys: readonly string[]): Promise<CallTranscript> {
    if (!isE164(from)) throw new PaypadError('VOICE_CALL_INVALID', 'caller id: expected an E.164 number');
    if (!Array.isArray(keys) || !keys.every(isKeys)) throw new PaypadError('VOICE_CALL_INVALID', 'keys: DTMF digits 0-9, * and #, at most 32 per gather');
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

  /** Registers (or replaces) the simulated phone at `number`. VOICE_CALL_INVALID for a script it cannot play. */
  phone(number: string, script: PhoneScript): void {
    if (!isE164(number)) throw new PaypadError('VOICE_CALL_INVALID', 'phone number: expected an E.164 number');
    const answer = script?.answer;
    const answers = answer === 'never' || answer === 'busy' || answer === 'unreachable' || (typeof answer === 'object' && answer !== null && Number.isFinite(answer.afterSeconds) && answer.afterSeconds >= 0);
    if (!answers) throw new PaypadError('VOICE_CALL_INVALID', "answer: expected { afterSeconds }, 'never', 'busy' or 'unreachable'");
    const steps = script.steps ?? [];
    const stepOk = (s: PhoneStep) => (typeof s === 'string' ? isKeys(s) : s?.hangUp === true && (s.keysFirst === undefined || isKeys(s.keysFirst)));
    if (!Array.isArray(steps) || !steps.every(stepOk)) throw new PaypadError('VOICE_CALL_INVALID', 'steps: DTMF keys (0-9, * and #, at most 32) or { hangUp: true } per gather');
    this.#phones.set(number, { answer, steps: [...steps] });
  }

  /** Makes the provider refuse every call request (VOICE_PROVIDER_UNAVAILABLE) until made available again. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  /** The outbound calls placed so far (to one number, or all), oldest first. */
  outboundCalls(to?: string): readonly OutboundCallRecord[] {
    return this.#outbound.filter((c) => to === undefined || c.to === to);
  }

  async placeCall(request: PlaceCallRequest): Promise<OutboundCall> {
    assertPlaceCallRequest(request);
    if (!this.#available) throw new PaypadError('VOICE_PROVIDER_UNAVAILABLE', 'the voice provider did not take the call request; try again later');
    const record = { callId: `CA${String(this.#nextCall++).padStart(8, '0')}`, from: this.number, to: request.to, statuses: [] as CallStatus[], lines: [] as string[] };
    this.#outbound.push(record);
    return new SimulatedCall(record, request, this.#phones.get(request.to), this.#msPerSecond);
  }
}

function isKeys(k: unknown): k is string {
  return typeof k === 'string' && DTMF.test(k) && k.length <= MAX_KEYS_PER_STEP;
}

interface CallRecordState {
  readonly callId: string;
  readonly statuses: CallStatus[];
  readonly lines: string[];
}

/** One outbound call as the provider plays it; the phone's script decides what the callee does. */
class SimulatedCall implements OutboundCall {
  readonly #record: CallRecordState;
  readonly #request: PlaceCallRequest;
  readonly #steps: PhoneStep[];
  readonly #msPerSecond: number;
  readonly #answered: Promise<'in-progress' | UnansweredStatus>;
  /** Ends the current wait (ringing, or silence in a gather) when the platform hangs up. */
  #interrupt: () => void = () => {};

  constructor(record: CallRecordState, request: PlaceCallRequest, phone: PhoneScript | undefined, msPerSecond: number) {
    this.#record = record;
    this.#request = request;
    this.#steps = [...(phone?.steps ?? [])];
    this.#msPerSecond = msPerSecond;
    this.#report('queued');
    this.#answered = this.#ring(phone);
  }

  get callId(): string {
    return this.#record.callId;
  }

  get status(): CallStatus {
    return this.#record.statuses.at(-1)!;
  }

  answered(): Promise<'in-progress' | UnansweredStatus> {
    return this.#answered;
  }

  async say(text: string): Promise<void> {
    assertPrompt(text, 'text');
    this.#assertInProgress();
    this.#record.lines.push(`say: ${text}`);
  }

  async gather(request: GatherRequest): Promise<GatherResult> {
    assertGatherRequest(request);
    this.#assertInProgress();
    const lines = this.#record.lines;
    lines.push(`gather: ${request.prompt}`);
    const step = this.#steps.shift() ?? '';
    if (typeof step !== 'string') {
      lines.push('hung up');
      this.#report('completed');
      throw new PaypadError('VOICE_CALL_ENDED', 'the callee hung up during the gather');
    }
    const hash = step.indexOf('#');
    const typed = hash >= 0 ? step.slice(0, hash) : step;
    const digits = typed.slice(0, request.maxDigits);
    const endedBy = hash >= 0 && typed.length <= request.maxDigits ? 'finish-key' : typed.length >= request.maxDigits ? 'max-digits' : 'timeout';
    // The provider waits out the silence after the last key before it gives up.
    if (endedBy === 'timeout' && !(await this.#wait(request.timeoutSeconds))) throw new PaypadError('VOICE_CALL_ENDED', 'the call ended during the gather');
    lines.push(`keyed: ${request.sensitive ? '(sensitive: not recorded)' : maskCardData(digits) || '(nothing)'}`);
    return { keys: asciiToBytes(digits), endedBy };
  }

  async hangup(): Promise<void> {
    const status = this.status;
    if (FINAL_CALL_STATUSES.includes(status)) return;
    this.#report(status === 'in-progress' ? 'completed' : 'canceled');
    this.#interrupt();
  }

  async #ring(phone: PhoneScript | undefined): Promise<'in-progress' | UnansweredStatus> {
    await this.#wait(0);
    if (this.status !== 'queued') return this.status as UnansweredStatus;
    if (!phone || phone.answer === 'unreachable') return this.#end('failed');
    this.#report('ringing');
    if (phone.answer === 'busy') return this.#end('busy');
    const ringTimeout = this.#request.ringTimeoutSeconds;
    const answerAfter = phone.answer === 'never' ? Infinity : phone.answer.afterSeconds;
    const picksUp = answerAfter <= ringTimeout;
    const rang = await this.#wait(picksUp ? answerAfter : ringTimeout);
    if (!rang) return this.status as UnansweredStatus;
    if (!picksUp) return this.#end('no-answer');
    this.#report('in-progress');
    return 'in-progress';
  }

  #end(status: UnansweredStatus): UnansweredStatus {
    this.#report(status);
    return status;
  }

  /** True when `seconds` passed; false when the platform hung up meanwhile. */
  #wait(seconds: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(true), seconds * this.#msPerSecond);
      this.#interrupt = () => {
        clearTimeout(timer);
        resolve(false);
      };
    });
  }

  #assertInProgress(): void {
    const status = this.status;
    if (status === 'in-progress') return;
    if (FINAL_CALL_STATUSES.includes(status)) throw new PaypadError('VOICE_CALL_ENDED', `the call is over (${status})`);
    throw new PaypadError('VOICE_CALL_INVALID', 'the call has not been answered yet');
  }

  #report(status: CallStatus): void {
    this.#record.statuses.push(status);
    try {
      this.#request.onStatus?.({ callId: this.#record.callId, status, at: new Date() });
    } catch {
      // A provider's status webhook that fails changes nothing about the call.
    }
  }
}
