/**
 * The board's device root key (docs/key-loading.md "Keys"): the HAL secret that seals every key
 * vault slot at rest (firmware/core/keyVault). 32 bytes from the hardware RNG (AES-256, as the
 * emulator's root.key), kept in NVS through HAL Storage, which is Moddable's `preference` with an
 * ArrayBuffer value, in a domain of its own that nothing else writes.
 *
 * Made once, at manufacture (the first boot, before the identity is stored), and only then:
 * making a new one later would silently orphan every sealed slot, so a terminal that holds an
 * identity but no root key fails with ROOT_KEY_INVALID instead (the emulator's rule, hal/node/
 * rootKey.ts). A power cut between making the key and storing the identity leaves a key and no
 * identity; the next first boot keeps that key.
 *
 * NVS is plaintext unless the build turns on flash and NVS encryption (docs/firmware.md
 * "Production builds"): without them anyone with the board and a serial cable reads this key.
 * Pure over Storage and Rng, so the rule is tested in Node.
 */
import { randomBytes, type Rng } from 'shared/bytes';
import { PaypadError } from 'shared/errors';
import type { Storage } from '../storage';

/** The preference domain and key; NVS names, at most 15 characters. */
export const ROOT_KEY_NAMESPACE = 'rootkey';
export const ROOT_KEY_NAME = 'k';
export const ROOT_KEY_BYTES = 32;

/** The stored root key (a copy the caller wipes). ROOT_KEY_INVALID when missing or not 32 bytes. */
export function readDeviceRootKey(storage: Storage): Uint8Array {
  const key = storage.get(ROOT_KEY_NAMESPACE, ROOT_KEY_NAME);
  if (key === undefined) {
    throw new PaypadError('ROOT_KEY_INVALID', 'the device root key is missing from NVS: the sealed key vault cannot be opened; erase the flash and manufacture the terminal again');
  }
  if (key.length !== ROOT_KEY_BYTES) {
    key.fill(0);
    throw new PaypadError('ROOT_KEY_INVALID', `the device root key in NVS has the wrong size, expected ${ROOT_KEY_BYTES} bytes`);
  }
  return key;
}

/**
 * Manufacture: the stored root key, made from `rng` first if there is none. Only for a terminal
 * without an identity; the caller decides that (firmware/main.ts).
 */
export function ensureDeviceRootKey(storage: Storage, rng: Rng): Uint8Array {
  if (storage.get(ROOT_KEY_NAMESPACE, ROOT_KEY_NAME) === undefined) {
    const key = randomBytes(rng, ROOT_KEY_BYTES, 'the device root key');
    try {
      storage.set(ROOT_KEY_NAMESPACE, ROOT_KEY_NAME, key);
    } finally {
      key.fill(0);
    }
  }
  // Read back: what the vault will use is what NVS holds, not what was meant to be written.
  return readDeviceRootKey(storage);
}
