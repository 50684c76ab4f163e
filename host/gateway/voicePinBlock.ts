/**
 * The voice PIN channel's PIN-capture module (E5): the one place a PIN keyed into a phone call is
 * in clear, and only inside `encipherKeyedPin`. The DTMF digits become an ISO 9564-1:2017 format 4
 * PIN block under the module's PIN key, held in the host's HSM, before the function returns.
 *
 * The HSM takes no clear PIN (host/hsm/hsm.ts: PIN blocks in, PIN blocks out), so the module does
 * what a PIN entry device does with the host's key hierarchy:
 *
 *   1. a fresh one-time AES key K_c for this capture, sent to the HSM in a key transport envelope
 *      (shared/crypto/keyTransport) for the module's intake key pair, under a context naming the
 *      capture, and kept there as P0 / mode D (decrypt only) / never exportable;
 *   2. the PIN block enciphered under K_c for the PAN (shared/crypto/pinblock), then K_c, the
 *      digits and every buffer wiped, before anything is awaited;
 *   3. the HSM translates the block from K_c to the module's PIN key (P0, mode B), the key the
 *      payment flow later translates from to the acquirer's zone PIN key.
 *
 * K_c protects one PIN block for the time of one HSM call and is never used again. The clear PIN
 * is never logged, stored, returned or said; the one thing a JS string cannot have (wiping) is why
 * the digits arrive as bytes and the string the PIN block encoder needs lives for one statement.
 */
import { asciiToBytes, bytesToAscii, type Rng, randomBytes, wipe } from '../../shared/bytes';
import { encipherPinBlockIso4 } from '../../shared/crypto/pinblock';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { PaypadError } from '../../shared/errors';
import type { Hsm, KeyAttributes, KeyHandle, KeyPair } from '../hsm/hsm';

export interface VoicePinKeys {
  /** The module's intake key pair (P-256): each capture's one-time key reaches the HSM under it. */
  readonly intake: KeyPair;
  /** The module's PIN key (P0, mode B, never exportable): every captured PIN block is under it. */
  readonly pinKey: KeyHandle;
}

export interface VoicePinBlocks {
  /** The check value of the PIN key the blocks are under, for the payment flow to match its handle. */
  readonly pinKeyKcv: string;
  /**
   * The format 4 block of the PIN in `keys` (4-12 ASCII digits) for `pan`, under the module's PIN
   * key. `keys` is wiped whatever happens. PIN_INVALID for keys that are not a PIN; PAN_INVALID.
   */
  encipherKeyedPin(captureId: string, keys: Uint8Array, pan: string): Promise<Uint8Array>;
}

const ONE_TIME_KEY_BYTES = 16;
const ONE_TIME_KEY_ATTRIBUTES: KeyAttributes = Object.freeze({ usage: 'P0', algorithm: 'A', modeOfUse: 'D', exportability: 'N' });
const CONTEXT_TAG = 'paypad voice PIN capture';
const PIN_MIN = 4;
const PIN_MAX = 12;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** The module's keys, made once in the HSM; the handles are ciphertext and may be kept in a row. */
export async function createVoicePinKeys(hsm: Hsm): Promise<VoicePinKeys> {
  const intake = await hsm.generateKeyPair('P-256');
  const pinKey = await hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'N', lengthBytes: 16 });
  return { intake, pinKey };
}

/** True when `keys` are 4 to 12 digits 0-9: what ISO 9564-1 allows for a PIN. */
export function isKeyedPin(keys: Uint8Array): boolean {
  if (!(keys instanceof Uint8Array) || keys.length < PIN_MIN || keys.length > PIN_MAX) return false;
  for (const k of keys) if (k < DIGIT_0 || k > DIGIT_9) return false;
  return true;
}

export function voicePinBlocks(hsm: Hsm, keys: VoicePinKeys, rng: Rng): VoicePinBlocks {
  return {
    pinKeyKcv: keys.pinKey.kcv,
    async encipherKeyedPin(captureId, keyed, pan) {
      const context = asciiToBytes(`${CONTEXT_TAG}|${captureId}`);
      let envelope: Uint8Array;
      let oneTimeBlock: Uint8Array;
      const oneTimeKey = randomBytes(rng, ONE_TIME_KEY_BYTES, 'the capture key');
      try {
        if (!isKeyedPin(keyed)) throw new PaypadError('PIN_INVALID', 'the keys are not a PIN: expected 4 to 12 digits');
        envelope = encodeKeyEnvelope(wrapKeyForRecipient(keys.intake.publicKey, oneTimeKey, context, rng));
        oneTimeBlock = encipherPinBlockIso4(oneTimeKey, bytesToAscii(keyed), pan, rng);
      } finally {
        wipe(oneTimeKey, keyed);
      }
      try {
        const capturedKey = await hsm.importTransportedKey(keys.intake.handle, envelope, context, ONE_TIME_KEY_ATTRIBUTES);
        return await hsm.translatePinBlock(capturedKey, keys.pinKey, oneTimeBlock, pan);
      } finally {
        wipe(oneTimeBlock, envelope);
      }
    },
  };
}
