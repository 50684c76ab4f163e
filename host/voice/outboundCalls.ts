/**
 * Outbound calls from the platform's number, as a programmable-voice API places them: the
 * platform asks the provider to call an E.164 number, the provider reports the call's progress
 * (status callbacks), and once the callee answers the platform drives the call with say and
 * gather, the verbs such APIs offer. The voice PIN channel (host/gateway/voicePinCapture.ts) is
 * the user; a real adapter is the provider's REST API and webhooks, and
 * host/simulators/voicePlatformSimulator.ts stands in for it (X5).
 *
 * Keys arrive as DTMF (ITU-T Q.23) digits in bytes, not a string, so whoever receives them can
 * wipe them: a gather marked `sensitive` may carry a PIN, and the provider must not record it.
 *
 * Errors (PaypadError codes):
 *   VOICE_CALL_INVALID          a number that is not E.164, a gather out of range
 *   VOICE_PROVIDER_UNAVAILABLE  the provider did not take the call request
 *   VOICE_CALL_ENDED            say or gather on a call that is over (the callee hung up)
 */
import { PaypadError } from '../../shared/errors';

/** The states a provider reports, in the order a call passes them; the last five end a call. */
export const CALL_STATUSES = ['queued', 'ringing', 'in-progress', 'completed', 'busy', 'no-answer', 'failed', 'canceled'] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];
export const FINAL_CALL_STATUSES: readonly CallStatus[] = Object.freeze(['completed', 'busy', 'no-answer', 'failed', 'canceled']);
/** How a call that was never answered ended: 'canceled' is the platform's own hang-up while it rang. */
export type UnansweredStatus = 'busy' | 'no-answer' | 'failed' | 'canceled';

export interface CallStatusEvent {
  readonly callId: string;
  readonly status: CallStatus;
  readonly at: Date;
}

export interface PlaceCallRequest {
  /** The callee, E.164 ('+8613800138000'). */
  readonly to: string;
  /** How long it rings before the provider gives up with 'no-answer' (5-600 s). */
  readonly ringTimeoutSeconds: number;
  /** The status callback: every status the call passes, in order. */
  readonly onStatus?: (event: CallStatusEvent) => void;
}

export interface GatherRequest {
  /** Said first; keys pressed while it plays count (barge-in). */
  readonly prompt: string;
  /** 1-32: the gather ends when this many keys were pressed. */
  readonly maxDigits: number;
  /** The key that ends the gather early; it is not part of the result. */
  readonly finishOnKey: '#';
  /** Seconds of silence (before the first key or between keys) that end the gather (1-60). */
  readonly timeoutSeconds: number;
  /** The keys may be a PIN: the provider keeps no record of them (no transcript, no recording, no log). */
  readonly sensitive: boolean;
}

export interface GatherResult {
  /** The keys pressed (ASCII '0'-'9', '*'), without the finish key. The receiver wipes them. */
  readonly keys: Uint8Array;
  /** What ended the gather: the finish key, the digit limit, or silence (keys may then be empty). */
  readonly endedBy: 'finish-key' | 'max-digits' | 'timeout';
}

export interface OutboundCall {
  readonly callId: string;
  /** The last status reported. */
  readonly status: CallStatus;
  /** Resolves once the call is answered ('in-progress') or ends unanswered (the final status). */
  answered(): Promise<'in-progress' | UnansweredStatus>;
  say(text: string): Promise<void>;
  gather(request: GatherRequest): Promise<GatherResult>;
  /** Ends the call: 'completed' once answered, 'canceled' while it rings. Idempotent. */
  hangup(): Promise<void>;
}

export interface OutboundCalls {
  /** The platform's own number, the caller id every outbound call shows (E.164). */
  readonly number: string;
  placeCall(request: PlaceCallRequest): Promise<OutboundCall>;
}

const E164 = /^\+[1-9]\d{6,14}$/;
const MAX_PROMPT_CHARS = 1000;

export function isE164(value: unknown): value is string {
  return typeof value === 'string' && E164.test(value);
}

/** VOICE_CALL_INVALID unless the request is one a provider would accept. */
export function assertPlaceCallRequest(request: PlaceCallRequest): void {
  if (!isE164(request?.to)) throw new PaypadError('VOICE_CALL_INVALID', 'to: expected an E.164 number such as +8613800138000');
  const ring = request.ringTimeoutSeconds;
  if (!Number.isInteger(ring) || ring < 5 || ring > 600) throw new PaypadError('VOICE_CALL_INVALID', 'ringTimeoutSeconds: expected a whole number of seconds, 5 to 600');
  if (request.onStatus !== undefined && typeof request.onStatus !== 'function') throw new PaypadError('VOICE_CALL_INVALID', 'onStatus: expected a function');
}

/** VOICE_CALL_INVALID unless `text` can be said. */
export function assertPrompt(text: string, what: string): void {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_PROMPT_CHARS) {
    throw new PaypadError('VOICE_CALL_INVALID', `${what}: expected 1 to ${MAX_PROMPT_CHARS} characters to say`);
  }
}

/** VOICE_CALL_INVALID unless the gather is one a provider would accept. */
export function assertGatherRequest(request: GatherRequest): void {
  assertPrompt(request?.prompt, 'prompt');
  if (!Number.isInteger(request.maxDigits) || request.maxDigits < 1 || request.maxDigits > 32) throw new PaypadError('VOICE_CALL_INVALID', 'maxDigits: expected 1 to 32');
  if (request.finishOnKey !== '#') throw new PaypadError('VOICE_CALL_INVALID', "finishOnKey: expected '#'");
  if (!Number.isInteger(request.timeoutSeconds) || request.timeoutSeconds < 1 || request.timeoutSeconds > 60) throw new PaypadError('VOICE_CALL_INVALID', 'timeoutSeconds: expected 1 to 60');
  if (typeof request.sensitive !== 'boolean') throw new PaypadError('VOICE_CALL_INVALID', 'sensitive: expected true or false');
}
