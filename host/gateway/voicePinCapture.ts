/**
 * The voice PIN channel (E5; voicePinChannel.ts is the interface, docs/voice-pin.md the design):
 * one outbound call per attempt, from the platform's number to the payer's.
 *
 *   place call --answered?--no--> not-answered (busy, no-answer, failed)
 *        |yes
 *   say who calls; gather "Paying 25.00 CNY to <merchant>. Enter your card PIN then #"
 *        |-- '*' keyed ---------------------------> cancelled
 *        |-- nothing / not 4-12 digits -> re-prompt, up to `prompts` times -> no-pin-keyed
 *        |-- the callee hangs up ------------------> dropped
 *        \-- 4-12 digits: PIN block at once (voicePinBlock.ts), thank, hang up -> captured
 *   and over all of it a deadline: the call is hung up -> timed-out.
 *
 * Invariants: the keyed digits are wiped on every path, including a gather that answers after the
 * deadline; no log line, outcome or prompt holds them, the PAN or their lengths; a capture has at
 * most one call at a time, and never more PIN blocks than the issuer's PIN tries.
 */
import { randomUUID } from 'node:crypto';
import { wipe } from '../../shared/bytes';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { maskMobileNumber } from '../../shared/mobileNumber';
import type { Logger } from '../log';
import type { OutboundCall, OutboundCalls } from '../voice/outboundCalls';
import type { VoicePinBlocks } from './voicePinBlock';
import {
  checkPinCaptureRequest,
  PinCaptureBusy,
  PinCaptureNotFound,
  type PinCaptureRequest,
  type PinCaptureResult,
  PinTriesExceeded,
  spokenAmount,
  type VoicePinChannel,
} from './voicePinChannel';

export interface VoicePinCaptureOptions {
  /** How long the phone rings before the provider reports no-answer. */
  readonly ringTimeoutSeconds: number;
  /** Silence that ends one gather. */
  readonly gatherTimeoutSeconds: number;
  /** Prompts per call before giving up on a caller who keys nothing usable. */
  readonly prompts: number;
  /** The issuer's PIN try limit: PIN blocks handed over for one payment, retries included. */
  readonly issuerPinTries: number;
  /** Calls for one payment, unanswered ones included, so a number is not called without end. */
  readonly maxCalls: number;
  /** One call, from placing it to its outcome. */
  readonly callDeadlineMs: number;
  /** A capture not released is forgotten (with its PAN) this long after it started. */
  readonly captureTtlMs: number;
}

export const DEFAULT_VOICE_PIN_OPTIONS: VoicePinCaptureOptions = Object.freeze({
  ringTimeoutSeconds: 30,
  gatherTimeoutSeconds: 10,
  prompts: 3,
  issuerPinTries: 3,
  maxCalls: 5,
  callDeadlineMs: 180_000,
  captureTtlMs: 15 * 60_000,
});

export interface VoicePinCaptureDeps {
  readonly voice: OutboundCalls;
  readonly pinBlocks: VoicePinBlocks;
  readonly log: Logger;
}

interface Capture {
  readonly id: string;
  readonly request: ReturnType<typeof checkPinCaptureRequest>;
  /** Forgets the capture (and its PAN) once captureTtlMs has passed. */
  readonly expiry: NodeJS.Timeout;
  calls: number;
  pinsHandedOver: number;
  running: boolean;
}

const PIN_MAX_DIGITS = 12;
const CANCEL_KEY = 0x2a; // '*'

export function createVoicePinCapture(deps: VoicePinCaptureDeps, overrides: Partial<VoicePinCaptureOptions> = {}): VoicePinChannel {
  const options = { ...DEFAULT_VOICE_PIN_OPTIONS, ...overrides };
  assertOptions(options);
  const captures = new Map<string, Capture>();
  const log = deps.log.child({ component: 'voice-pin' });

  function forget(captureId: string): void {
    const capture = captures.get(captureId);
    if (!capture) return;
    clearTimeout(capture.expiry);
    captures.delete(captureId);
  }

  async function attempt(capture: Capture, retrying: boolean): Promise<PinCaptureResult> {
    if (capture.pinsHandedOver >= options.issuerPinTries) throw new PinTriesExceeded(options.issuerPinTries, 'PIN tries');
    if (capture.calls >= options.maxCalls) throw new PinTriesExceeded(options.maxCalls, 'calls');
    capture.running = true;
    try {
      const result = await callOnce(capture, retrying);
      if (result.outcome === 'captured') capture.pinsHandedOver++;
      log.info({ event: 'voice-pin.outcome', captureId: capture.id, reference: capture.request.reference, attempt: result.attempt, callId: result.callId, outcome: result.outcome, ...('callStatus' in result ? { callStatus: result.callStatus } : {}) });
      return result;
    } finally {
      capture.running = false;
    }
  }

  /** One call, raced against the deadline; the call is hung up whatever ends it. */
  async function callOnce(capture: Capture, retrying: boolean): Promise<PinCaptureResult> {
    const { request } = capture;
    const placed = await deps.voice.placeCall({
      to: request.mobileE164,
      ringTimeoutSeconds: options.ringTimeoutSeconds,
      onStatus: (e) => log.debug({ event: 'voice-pin.call-status', captureId: capture.id, callId: e.callId, status: e.status }),
    });
    capture.calls++;
    const facts = { captureId: capture.id, reference: request.reference, attempt: capture.calls, callId: placed.callId };
    log.info({ event: 'voice-pin.call', ...facts, to: maskMobileNumberOrE164(request.mobile) });
    const deadline = { passed: false };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<PinCaptureResult>((resolve) => {
      timer = setTimeout(() => {
        deadline.passed = true;
        resolve({ ...facts, outcome: 'timed-out' });
      }, options.callDeadlineMs);
    });
    const conversation = converse(placed, capture, retrying, deadline).then(
      (ending): PinCaptureResult => ({ ...facts, ...ending }),
      (e): PinCaptureResult => {
        if (isPaypadError(e, 'VOICE_CALL_ENDED')) return { ...facts, outcome: 'dropped' };
        throw e;
      },
    );
    try {
      return await Promise.race([conversation, timedOut]);
    } finally {
      clearTimeout(timer);
      await placed.hangup().catch(() => undefined);
      // A conversation still running after the deadline ends on the hang-up; what it brings is dropped.
      conversation.catch(() => undefined);
    }
  }

  type Ending = Exclude<PinCaptureResult, { outcome: 'timed-out' }> extends infer R ? (R extends unknown ? Omit<R, 'captureId' | 'reference' | 'attempt' | 'callId'> : never) : never;

  async function converse(call: OutboundCall, capture: Capture, retrying: boolean, deadline: { passed: boolean }): Promise<Ending> {
    const answer = await call.answered();
    if (answer !== 'in-progress') return { outcome: 'not-answered', callStatus: answer === 'canceled' ? 'no-answer' : answer };
    const { request } = capture;
    await call.say(retrying ? 'This is paypad again. Your bank did not accept the PIN.' : 'This is paypad, calling about the payment you just started.');
    const ask = `Paying ${spokenAmount(request.amountMinor, request.currency)} to ${request.merchantName}. Enter your card PIN then #. To cancel, press *.`;
    for (let prompt = 1; prompt <= options.prompts; prompt++) {
      const gathered = await call.gather({
        prompt: prompt === 1 ? ask : `Sorry, that was not a PIN. ${ask}`,
        maxDigits: PIN_MAX_DIGITS + 1,
        finishOnKey: '#',
        timeoutSeconds: options.gatherTimeoutSeconds,
        sensitive: true,
      });
      const keys = gathered.keys;
      if (deadline.passed) {
        wipe(keys);
        return { outcome: 'dropped' };
      }
      if (keys.includes(CANCEL_KEY)) {
        wipe(keys);
        await call.say('The payment is cancelled. Goodbye.').catch(() => undefined);
        return { outcome: 'cancelled' };
      }
      let pinBlock: Uint8Array;
      try {
        // encipherKeyedPin wipes the keys whatever it decides; PIN_INVALID means "ask again".
        pinBlock = await deps.pinBlocks.encipherKeyedPin(capture.id, keys, request.pan);
      } catch (e) {
        if (isPaypadError(e, 'PIN_INVALID')) continue;
        throw e;
      }
      await call.say('Thank you. Your PIN goes to your bank with the payment. Goodbye.').catch(() => undefined);
      return { outcome: 'captured', pinBlock, pinKeyKcv: deps.pinBlocks.pinKeyKcv };
    }
    await call.say('We did not receive a PIN, so the payment cannot go ahead. Goodbye.').catch(() => undefined);
    return { outcome: 'no-pin-keyed', prompts: options.prompts };
  }

  return {
    async capturePin(request: PinCaptureRequest) {
      const checked = checkPinCaptureRequest(request);
      for (const c of captures.values()) if (c.request.reference === checked.reference) throw new PinCaptureBusy(checked.reference);
      const id = `VP${randomUUID().replace(/-/g, '')}`;
      // A timer, not a sweep on the next request: an idle host must not keep a PAN past its time.
      const expiry = setTimeout(() => captures.delete(id), options.captureTtlMs);
      expiry.unref();
      const capture: Capture = { id, request: checked, expiry, calls: 0, pinsHandedOver: 0, running: false };
      captures.set(id, capture);
      try {
        return await attempt(capture, false);
      } catch (e) {
        if (capture.calls === 0) forget(id); // nothing was called: the request may come again
        throw e;
      }
    },

    async retry(captureId: string) {
      const capture = typeof captureId === 'string' ? captures.get(captureId) : undefined;
      if (!capture) throw new PinCaptureNotFound();
      if (capture.running) throw new PinCaptureBusy(capture.request.reference);
      return attempt(capture, capture.pinsHandedOver > 0);
    },

    release(captureId: string) {
      forget(captureId);
    },
  };
}

/** CONFIG_INVALID unless every setting is a whole number in its range. */
function assertOptions(options: VoicePinCaptureOptions): void {
  const ranges: Record<keyof VoicePinCaptureOptions, [number, number]> = {
    ringTimeoutSeconds: [5, 600],
    gatherTimeoutSeconds: [1, 60],
    prompts: [1, 5],
    issuerPinTries: [1, 10],
    maxCalls: [1, 10],
    callDeadlineMs: [1, 600_000],
    captureTtlMs: [1, 3_600_000],
  };
  for (const [name, [min, max]] of Object.entries(ranges) as [keyof VoicePinCaptureOptions, [number, number]][]) {
    const value = options[name];
    if (!Number.isInteger(value) || value < min || value > max) throw new PaypadError('CONFIG_INVALID', `voice PIN ${name}: expected a whole number from ${min} to ${max}`);
  }
  if (options.maxCalls < options.issuerPinTries) throw new PaypadError('CONFIG_INVALID', 'voice PIN maxCalls: expected at least issuerPinTries');
}

function maskMobileNumberOrE164(mobile: string): string {
  return /^\d{11}$/.test(mobile) ? maskMobileNumber(mobile) : `${mobile.slice(0, -8)}****${mobile.slice(-4)}`;
}
