/**
 * E5: the voice PIN channel. The payer's phone is called, hears the merchant and the amount, keys
 * the PIN, and the payment flow gets a format 4 PIN block under the capture module's key, checked
 * here inside the HSM against the PIN the phone keyed (the test never deciphers it). Every other
 * ending is a typed outcome; a PIN the issuer refuses is tried again up to the issuer's limit.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { voicePinBlocks } from '../../../host/gateway/voicePinBlock';
import { createVoicePinCapture } from '../../../host/gateway/voicePinCapture';
import type { PinCaptureRequest, PinCaptureResult } from '../../../host/gateway/voicePinChannel';
import { systemRng } from '../../../host/hsm/index';
import { createLogger } from '../../../host/log';
import { TEST_CARDS } from '../../../host/simulators/testCards';
import { openVoicePinKit, type VoicePinKit } from './voicePinKit';

const MOBILE = '13800138000';
const PHONE = '+8613800138000';
const PAN = TEST_CARDS.unionPay.pan;
const PIN = '739154';
const ASK = 'gather: Paying 25.00 CNY to Tea House. Enter your card PIN then #. To cancel, press *.';

function request(overrides: Partial<PinCaptureRequest> = {}): PinCaptureRequest {
  return { reference: 'GO7Q4M2X9K3B5N8R1T6V0W2Y4Z', mobile: MOBILE, pan: PAN, amountMinor: 2500, currency: 'CNY', merchantName: 'Tea House', ...overrides };
}

function captured(result: PinCaptureResult): Extract<PinCaptureResult, { outcome: 'captured' }> {
  if (result.outcome !== 'captured') throw new Error(`expected a captured PIN, got ${result.outcome}`);
  return result;
}

describe('E5: the voice PIN channel', () => {
  let kit: VoicePinKit;
  beforeEach(async () => {
    kit = await openVoicePinKit();
  });
  afterEach(async () => {
    await kit.close();
  });

  it('E5: the phone is called from the platform number, told the merchant and amount, and the keyed PIN comes back as a format 4 block under the capture key', async () => {
    kit.voice.phone(PHONE, { answer: { afterSeconds: 4 }, steps: [`${PIN}#`] });
    const result = captured(await kit.channel.capturePin(request()));
    expect(result).toMatchObject({ reference: request().reference, attempt: 1, pinKeyKcv: kit.keys.pinKey.kcv });
    expect(result.pinBlock).toHaveLength(16);
    expect(await kit.holdsPin(result.pinBlock, PAN, PIN)).toBe(true);
    expect(await kit.holdsPin(result.pinBlock, PAN, '739155')).toBe(false);
    // Format 4 binds the block to the PAN: for another card it is not this PIN.
    await expect(kit.holdsPin(result.pinBlock, TEST_CARDS.visa.pan, PIN)).rejects.toMatchObject({ code: 'PIN_BLOCK_INVALID' });
    const [call] = kit.voice.outboundCalls(PHONE);
    expect(call).toMatchObject({ callId: result.callId, from: kit.voice.number, statuses: ['queued', 'ringing', 'in-progress', 'completed'] });
    expect(call.lines).toEqual([
      'say: This is paypad, calling about the payment you just started.',
      ASK,
      'keyed: (sensitive: not recorded)',
      'say: Thank you. Your PIN goes to your bank with the payment. Goodbye.',
    ]);
  });

  it('E5: a 12-digit PIN ended by the digit limit, and a PIN keyed after a wrong-length entry, are captured', async () => {
    kit.voice.phone(PHONE, { answer: { afterSeconds: 0 }, steps: ['123#', '482915730264'] });
    const result = captured(await kit.channel.capturePin(request()));
    expect(await kit.holdsPin(result.pinBlock, PAN, '482915730264')).toBe(true);
    expect(kit.voice.outboundCalls(PHONE)[0].lines.filter((l) => l.startsWith('gather:'))).toEqual([ASK, ASK.replace('gather: ', 'gather: Sorry, that was not a PIN. ')]);
  });

  it('E5: no answer, busy and unreachable end as not-answered with the provider status', async () => {
    for (const [answer, status] of [['never', 'no-answer'], ['busy', 'busy'], ['unreachable', 'failed']] as const) {
      kit.voice.phone(PHONE, { answer });
      const result = await kit.channel.capturePin(request({ reference: `REF-${answer}` }));
      expect(result).toMatchObject({ outcome: 'not-answered', callStatus: status, attempt: 1 });
    }
    // A phone that would answer only after the ring timeout rang out too.
    kit.voice.phone(PHONE, { answer: { afterSeconds: 31 } });
    expect(await kit.channel.capturePin(request({ reference: 'REF-late' }))).toMatchObject({ outcome: 'not-answered', callStatus: 'no-answer' });
  });

  it('E5: the call dropped mid-gather, even after some digits, is dropped; no PIN block leaves', async () => {
    kit.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: [{ hangUp: true, keysFirst: '7391' }] });
    const result = await kit.channel.capturePin(request());
    expect(result).toMatchObject({ outcome: 'dropped', attempt: 1 });
    expect(result).not.toHaveProperty('pinBlock');
    expect(kit.voice.outboundCalls(PHONE)[0].statuses.at(-1)).toBe('completed');
  });

  it('E5: a caller who keys nothing is asked again, then the call gives up with no-pin-keyed', async () => {
    kit.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: ['', '', ''] });
    const result = await kit.channel.capturePin(request());
    expect(result).toMatchObject({ outcome: 'no-pin-keyed', prompts: 3 });
    const lines = kit.voice.outboundCalls(PHONE)[0].lines;
    expect(lines.filter((l) => l.startsWith('gather:'))).toHaveLength(3);
    expect(lines.at(-1)).toBe('say: We did not receive a PIN, so the payment cannot go ahead. Goodbye.');
  });

  it("E5: '*' cancels: the payment is cancelled whatever digits came with it", async () => {
    kit.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: ['73*#'] });
    expect(await kit.channel.capturePin(request())).toMatchObject({ outcome: 'cancelled' });
    expect(kit.voice.outboundCalls(PHONE)[0].lines.at(-1)).toBe('say: The payment is cancelled. Goodbye.');
  });

  it('E5: the whole call runs past its deadline: timed-out, and the call is hung up', async () => {
    const slow = await openVoicePinKit({ callDeadlineMs: 40, gatherTimeoutSeconds: 60 });
    try {
      slow.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: ['', '', ''] });
      expect(await slow.channel.capturePin(request())).toMatchObject({ outcome: 'timed-out', attempt: 1 });
      expect(slow.voice.outboundCalls(PHONE)[0].statuses.at(-1)).toBe('completed');
    } finally {
      await slow.close();
    }
  });

  it('E5: after a wrong PIN (issuer 55) retry calls again, up to 3 PIN tries in all, then PIN_TRIES_EXCEEDED', async () => {
    kit.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: ['111111#'] });
    const first = captured(await kit.channel.capturePin(request()));
    expect(await kit.holdsPin(first.pinBlock, PAN, PIN)).toBe(false); // the issuer would answer 55
    kit.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: ['222222#'] });
    const second = captured(await kit.channel.retry(first.captureId));
    expect(second).toMatchObject({ captureId: first.captureId, attempt: 2 });
    kit.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: [`${PIN}#`] });
    const third = captured(await kit.channel.retry(first.captureId));
    expect(await kit.holdsPin(third.pinBlock, PAN, PIN)).toBe(true);
    expect(kit.voice.outboundCalls(PHONE)[1].lines[0]).toBe('say: This is paypad again. Your bank did not accept the PIN.');
    await expect(kit.channel.retry(first.captureId)).rejects.toMatchObject({ code: 'PIN_TRIES_EXCEEDED', limit: 3 });
    expect(kit.voice.outboundCalls(PHONE)).toHaveLength(3);
    kit.channel.release(first.captureId);
    await expect(kit.channel.retry(first.captureId)).rejects.toMatchObject({ code: 'VOICE_PIN_CAPTURE_NOT_FOUND' });
  });

  it('E7: a capture never released is forgotten, PAN and all, once its time is up', async () => {
    const brief = await openVoicePinKit({ captureTtlMs: 50 });
    try {
      brief.voice.phone(PHONE, { answer: 'busy' });
      const first = await brief.channel.capturePin(request());
      expect(await brief.channel.retry(first.captureId)).toMatchObject({ outcome: 'not-answered', attempt: 2 });
      await new Promise((r) => setTimeout(r, 80));
      await expect(brief.channel.retry(first.captureId)).rejects.toMatchObject({ code: 'VOICE_PIN_CAPTURE_NOT_FOUND' });
      expect(await brief.channel.capturePin(request())).toMatchObject({ attempt: 1 }); // the reference is free again
    } finally {
      await brief.close();
    }
  });

  it('E5: unanswered calls do not use PIN tries, but a number is called at most 5 times for one payment', async () => {
    kit.voice.phone(PHONE, { answer: 'busy' });
    const first = await kit.channel.capturePin(request());
    for (let i = 0; i < 4; i++) expect(await kit.channel.retry(first.captureId)).toMatchObject({ outcome: 'not-answered', attempt: i + 2 });
    await expect(kit.channel.retry(first.captureId)).rejects.toMatchObject({ code: 'PIN_TRIES_EXCEEDED', limit: 5 });
  });

  it('E5: refusals change nothing: a bad request calls no one; a second capture for a live reference is refused; the provider down is typed', async () => {
    const bad: [Partial<PinCaptureRequest>, string][] = [
      [{ reference: '' }, 'reference'],
      [{ mobile: '12345678901' }, 'mobile'],
      [{ pan: '6222021000000000018' }, 'pan'],
      [{ amountMinor: 0 }, 'amountMinor'],
      [{ currency: 'XXQ' }, 'currency'],
      [{ merchantName: 'Shop<script>' }, 'merchantName'],
    ];
    for (const [overrides, field] of bad) await expect(kit.channel.capturePin(request(overrides))).rejects.toMatchObject({ code: 'VOICE_PIN_REQUEST_INVALID', field });
    // Track data has no place in the request: an extra field is never read, and never said.
    kit.voice.phone(PHONE, { answer: { afterSeconds: 1 }, steps: [`${PIN}#`] });
    const result = await kit.channel.capturePin({ ...request(), track2: `${PAN}=30122011234500000000` } as PinCaptureRequest);
    expect(JSON.stringify(kit.voice.outboundCalls())).not.toContain('=3012');
    await expect(kit.channel.capturePin(request())).rejects.toMatchObject({ code: 'VOICE_PIN_CAPTURE_BUSY' });
    kit.channel.release(result.captureId);
    kit.voice.setAvailable(false);
    await expect(kit.channel.capturePin(request())).rejects.toMatchObject({ code: 'VOICE_PROVIDER_UNAVAILABLE' });
    kit.voice.setAvailable(true);
    expect(await kit.channel.capturePin(request())).toMatchObject({ outcome: 'captured', attempt: 1 });
    await expect(kit.channel.retry('VPnothing')).rejects.toMatchObject({ code: 'VOICE_PIN_CAPTURE_NOT_FOUND' });
    const deps = { voice: kit.voice, pinBlocks: voicePinBlocks(kit.hsm, kit.keys, systemRng), log: createLogger({ level: 'silent' }) };
    expect(() => createVoicePinCapture(deps, { prompts: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => createVoicePinCapture(deps, { issuerPinTries: 6, maxCalls: 5 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
