/**
 * E5 X1: the capture module wipes the keyed digits it is given: the test keeps the buffer it hands
 * over and finds zeros, whether the digits became a PIN block or were refused as not a PIN.
 */
import { describe, expect, it } from 'vitest';
import { asciiToBytes } from '../../../shared/bytes';
import { voicePinBlocks } from '../../../host/gateway/voicePinBlock';
import { systemRng } from '../../../host/hsm/index';
import { TEST_CARDS } from '../../../host/simulators/testCards';
import { openVoicePinKit } from './voicePinKit';

const PAN = TEST_CARDS.unionPay.pan;

const isWiped = (bytes: Uint8Array) => bytes.every((b) => b === 0);

describe('E5 X1: keyed digits are wiped', () => {
  it('E5 X1: the capture module wipes the digits it is given, whether they make a PIN block or are refused', async () => {
    const kit = await openVoicePinKit();
    try {
      const module = voicePinBlocks(kit.hsm, kit.keys, systemRng);
      const pin = asciiToBytes('482915');
      const block = await module.encipherKeyedPin('VP-WIPE-1', pin, PAN);
      expect(isWiped(pin)).toBe(true);
      expect(await kit.holdsPin(block, PAN, '482915')).toBe(true);
      const tooShort = asciiToBytes('482');
      await expect(module.encipherKeyedPin('VP-WIPE-2', tooShort, PAN)).rejects.toMatchObject({ code: 'PIN_INVALID' });
      expect(isWiped(tooShort)).toBe(true);
    } finally {
      await kit.close();
    }
  });
});
