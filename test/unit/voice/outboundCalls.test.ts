/**
 * E5: the voice provider's outbound calls as the simulated provider plays them: status callbacks in
 * a provider's order, say and gather as the phone's holder answers them, the ways a call is not
 * answered or ends early, sensitive gathers kept out of the transcript, and typed refusals.
 */
import { describe, expect, it } from 'vitest';
import { bytesToAscii } from '../../../shared/bytes';
import { VoicePlatformSimulator } from '../../../host/simulators/voicePlatformSimulator';
import type { CallStatus, GatherRequest } from '../../../host/voice/outboundCalls';

const PHONE = '+8613800138000';
const ask = (overrides: Partial<GatherRequest> = {}): GatherRequest => ({ prompt: 'Enter the digits then #', maxDigits: 6, finishOnKey: '#', timeoutSeconds: 5, sensitive: false, ...overrides });

function simulator() {
  return new VoicePlatformSimulator({ msPerSecond: 1 });
}

async function place(voice: VoicePlatformSimulator, ringTimeoutSeconds = 30) {
  const statuses: CallStatus[] = [];
  const call = await voice.placeCall({ to: PHONE, ringTimeoutSeconds, onStatus: (e) => statuses.push(e.status) });
  return { call, statuses };
}

describe('E5: outbound calls on the simulated voice provider', () => {
  it('E5: an answered call reports queued, ringing, in-progress, completed; say and gather follow the phone holder', async () => {
    const voice = simulator();
    voice.phone(PHONE, { answer: { afterSeconds: 3 }, steps: ['123#', '9876543', '', '12'] });
    const { call, statuses } = await place(voice);
    expect(call.status).toBe('queued');
    expect(await call.answered()).toBe('in-progress');
    await call.say('Hello from the platform.');
    const finished = await call.gather(ask());
    expect([bytesToAscii(finished.keys), finished.endedBy]).toEqual(['123', 'finish-key']);
    const full = await call.gather(ask());
    expect([bytesToAscii(full.keys), full.endedBy]).toEqual(['987654', 'max-digits']);
    const silent = await call.gather(ask());
    expect([bytesToAscii(silent.keys), silent.endedBy]).toEqual(['', 'timeout']);
    const partial = await call.gather(ask());
    expect([bytesToAscii(partial.keys), partial.endedBy]).toEqual(['12', 'timeout']);
    await call.hangup();
    await call.hangup();
    expect(statuses).toEqual(['queued', 'ringing', 'in-progress', 'completed']);
    const [record] = voice.outboundCalls(PHONE);
    expect(record).toMatchObject({ callId: call.callId, from: voice.number, to: PHONE, statuses });
    expect(record.lines.slice(0, 3)).toEqual(['say: Hello from the platform.', 'gather: Enter the digits then #', 'keyed: 123']);
  });

  it('E5: busy, unreachable, ringing out (never, or later than the ring timeout) and the platform hanging up while it rings', async () => {
    const voice = simulator();
    voice.phone('+8613800138001', { answer: 'busy' });
    voice.phone('+8613800138002', { answer: 'never' });
    voice.phone('+8613800138003', { answer: { afterSeconds: 40 } });
    voice.phone('+8613800138004', { answer: 'unreachable' });
    const outcome = async (to: string) => {
      const statuses: CallStatus[] = [];
      const call = await voice.placeCall({ to, ringTimeoutSeconds: 20, onStatus: (e) => statuses.push(e.status) });
      return [await call.answered(), statuses];
    };
    expect(await outcome('+8613800138001')).toEqual(['busy', ['queued', 'ringing', 'busy']]);
    expect(await outcome('+8613800138002')).toEqual(['no-answer', ['queued', 'ringing', 'no-answer']]);
    expect(await outcome('+8613800138003')).toEqual(['no-answer', ['queued', 'ringing', 'no-answer']]);
    expect(await outcome('+8613800138004')).toEqual(['failed', ['queued', 'failed']]);
    expect(await outcome('+8613800138009')).toEqual(['failed', ['queued', 'failed']]); // no phone at that number

    voice.phone(PHONE, { answer: 'never' });
    const { call, statuses } = await place(voice, 600);
    await new Promise((r) => setTimeout(r, 20));
    await call.hangup();
    expect(await call.answered()).toBe('canceled');
    expect(statuses).toEqual(['queued', 'ringing', 'canceled']);
  });

  it('E5: the holder hangs up mid-gather: the gather fails with VOICE_CALL_ENDED, the call is completed, nothing more can be said', async () => {
    const voice = simulator();
    voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: [{ hangUp: true, keysFirst: '12' }] });
    const { call, statuses } = await place(voice);
    await call.answered();
    await expect(call.gather(ask())).rejects.toMatchObject({ code: 'VOICE_CALL_ENDED' });
    await expect(call.say('Are you there?')).rejects.toMatchObject({ code: 'VOICE_CALL_ENDED' });
    expect(statuses.at(-1)).toBe('completed');
    expect(voice.outboundCalls(PHONE)[0].lines).toEqual(['gather: Enter the digits then #', 'hung up']);
  });

  it('E5 X1: a sensitive gather leaves no keys in the transcript; an ordinary one shows card numbers masked', async () => {
    const voice = simulator();
    voice.phone(PHONE, { answer: { afterSeconds: 0 }, steps: ['739154#', '6222021234567890123#'] });
    const { call } = await place(voice);
    await call.answered();
    expect(bytesToAscii((await call.gather(ask({ sensitive: true }))).keys)).toBe('739154');
    await call.gather(ask({ maxDigits: 19 }));
    const lines = voice.outboundCalls(PHONE)[0].lines;
    expect(lines[1]).toBe('keyed: (sensitive: not recorded)');
    expect(lines[3]).toBe('keyed: 622202*********0123');
    expect(lines.join('\n')).not.toContain('739154');
  });

  it('E5: typed refusals: a number that is not E.164, a ring timeout or gather out of range, say before the answer, the provider down', async () => {
    const voice = simulator();
    await expect(voice.placeCall({ to: '13800138000', ringTimeoutSeconds: 30 })).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
    await expect(voice.placeCall({ to: PHONE, ringTimeoutSeconds: 4 })).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
    expect(voice.outboundCalls()).toHaveLength(0);
    voice.phone(PHONE, { answer: { afterSeconds: 5 } });
    const { call } = await place(voice);
    await expect(call.say('too early')).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
    await call.answered();
    await expect(call.gather(ask({ maxDigits: 0 }))).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
    await expect(call.gather(ask({ timeoutSeconds: 61 }))).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
    await expect(call.gather({ ...ask(), finishOnKey: '*' as '#' })).rejects.toMatchObject({ code: 'VOICE_CALL_INVALID' });
    expect(() => voice.phone(PHONE, { answer: { afterSeconds: -1 } })).toThrow(expect.objectContaining({ code: 'VOICE_CALL_INVALID' }));
    expect(() => voice.phone(PHONE, { answer: 'never', steps: ['12A'] })).toThrow(expect.objectContaining({ code: 'VOICE_CALL_INVALID' }));
    voice.setAvailable(false);
    await expect(voice.placeCall({ to: PHONE, ringTimeoutSeconds: 30 })).rejects.toMatchObject({ code: 'VOICE_PROVIDER_UNAVAILABLE' });
    expect(voice.outboundCalls()).toHaveLength(1);
  });

  it('C2: inbound calls to the platform number still run the menu', async () => {
    const voice = simulator();
    voice.onCall(async (call) => {
      const keys = await call.gather('Press 1', 1);
      await call.say(`You pressed ${keys}`);
    });
    expect((await voice.call('+8613800138000', ['1'])).lines).toEqual(['gather: Press 1', 'keyed: 1', 'say: You pressed 1']);
  });
});
