/**
 * E5 X1: the keyed digits are wiped on every path. A provider double hands the channel its keys in
 * a buffer the test keeps, so the test can look at that buffer afterwards: zeros once the PIN block
 * is made, zeros after a cancel, and zeros when the keys arrive after the call's deadline, in
 * which case no PIN block is made at all.
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes } from '../../../shared/bytes';
import { type VoicePinBlocks, voicePinBlocks } from '../../../host/gateway/voicePinBlock';
import { systemRng } from '../../../host/hsm/index';
import { createVoicePinCapture } from '../../../host/gateway/voicePinCapture';
import type { PinCaptureRequest } from '../../../host/gateway/voicePinChannel';
import { createLogger } from '../../../host/log';
import type { GatherResult, OutboundCall, OutboundCalls } from '../../../host/voice/outboundCalls';
import { TEST_CARDS } from '../../../host/simulators/testCards';
import { openVoicePinKit } from './voicePinKit';

const REQUEST: PinCaptureRequest = { reference: 'GO-WIPE-1', mobile: '13800138000', pan: TEST_CARDS.unionPay.pan, amountMinor: 2500, currency: 'CNY', merchantName: 'Tea House' };

/** A provider whose one call is answered at once and whose gather answers `keys` after `delayMs`. */
function providerKeying(keys: Uint8Array, delayMs: number): OutboundCalls {
  const call: OutboundCall = {
    callId: 'CA-DOUBLE',
    status: 'in-progress',
    answered: async () => 'in-progress',
    say: async () => undefined,
    gather: () => new Promise<GatherResult>((resolve) => setTimeout(() => resolve({ keys, endedBy: 'finish-key' }), delayMs)),
    hangup: async () => undefined,
  };
  return { number: '+861095500000', placeCall: async () => call };
}

function countingPinBlocks(): VoicePinBlocks & { calls: number } {
  const blocks = {
    pinKeyKcv: '0000000000',
    calls: 0,
    async encipherKeyedPin(_captureId: string, keys: Uint8Array) {
      blocks.calls++;
      keys.fill(0);
      return new Uint8Array(16);
    },
  };
  return blocks;
}

const log = createLogger({ level: 'silent' });
const isWiped = (bytes: Uint8Array) => bytes.every((b) => b === 0);

describe('E5 X1: keyed digits are wiped on every path', () => {
  it('E5 X1: digits that arrive after the deadline are wiped and never become a PIN block', async () => {
    const keys = asciiToBytes('482915');
    const pinBlocks = countingPinBlocks();
    const channel = createVoicePinCapture({ voice: providerKeying(keys, 40), pinBlocks, log }, { callDeadlineMs: 10 });
    expect(await channel.capturePin(REQUEST)).toMatchObject({ outcome: 'timed-out' });
    await new Promise((r) => setTimeout(r, 60));
    expect(isWiped(keys)).toBe(true);
    expect(pinBlocks.calls).toBe(0);
  });

  it("E5 X1: digits with '*' are wiped and the payment is cancelled", async () => {
    const keys = asciiToBytes('4829*');
    const pinBlocks = countingPinBlocks();
    const channel = createVoicePinCapture({ voice: providerKeying(keys, 0), pinBlocks, log });
    expect(await channel.capturePin(REQUEST)).toMatchObject({ outcome: 'cancelled' });
    expect(isWiped(keys)).toBe(true);
    expect(pinBlocks.calls).toBe(0);
  });

  it('E5 X1: the capture module wipes the digits it is given, whether they make a PIN block or are refused', async () => {
    const kit = await openVoicePinKit();
    try {
      const module = voicePinBlocks(kit.hsm, kit.keys, systemRng);
      const pin = asciiToBytes('482915');
      const block = await module.encipherKeyedPin('VP-WIPE-1', pin, REQUEST.pan);
      expect(isWiped(pin)).toBe(true);
      expect(await kit.holdsPin(block, REQUEST.pan, '482915')).toBe(true);
      const tooShort = asciiToBytes('482');
      await expect(module.encipherKeyedPin('VP-WIPE-2', tooShort, REQUEST.pan)).rejects.toMatchObject({ code: 'PIN_INVALID' });
      expect(isWiped(tooShort)).toBe(true);
    } finally {
      await kit.close();
    }
  });
});
