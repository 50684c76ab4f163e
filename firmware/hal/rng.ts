/**
 * Rng: the one source of key material, IVs and nonces on the terminal.
 *
 * The type is shared/bytes' `Rng` — `(length) => fresh Uint8Array` — so a HAL RNG can be handed
 * straight to the shared crypto functions that take one. This module adds the device contract:
 *
 * - Output comes from a cryptographically secure source. On the ESP32 that is the hardware RNG
 *   (`esp_fill_random`, bound through XS FFI); it is true random only while the RF subsystem
 *   (Wi-Fi/BT) runs, which it does in this firmware (ESP-IDF Programming Guide, "Random Number
 *   Generation"). Never Moddable's `rng` module (an RC4 keystream seeded once from esp_random)
 *   and never Math.random (not a security primitive in any engine).
 * - A failed read throws PaypadError('RNG_FAILED'); it never returns fewer or predictable bytes.
 * - `length` is an integer from 1 to RNG_MAX_BYTES, else PaypadError('BAD_ARGUMENT'). The cap
 *   keeps a wrong length from exhausting a ~150 KB heap; keys and IVs are at most 32 bytes.
 */
export type { Rng } from '../../shared/bytes';

/** Largest single request, in bytes. */
export const RNG_MAX_BYTES = 1024;
