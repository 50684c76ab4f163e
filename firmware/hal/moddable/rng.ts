/**
 * The secure RNG, through XS FFI (documentation/xs/XS FFI.md in the Moddable SDK): the manifest's
 * "ffi" block declares `paypad_fill_random(void*, uint32_t) -> int32_t`, mcconfig generates the
 * glue and the `mc/ffi` module, and `new FFI()` exposes the C function. On the ESP32 it calls
 * esp_fill_random (hardware RNG, true random while Wi-Fi runs); in the simulator the host OS
 * CSPRNG (platform/paypad_platform.c).
 *
 * Not Moddable's `rng` module: it is an RC4 keystream seeded once from esp_random(), so every
 * output is a function of 32-bit seed material and RC4's known biases. Not Math.random: no
 * engine promises it is unpredictable.
 */
import FFI from 'mc/ffi';
import { PaypadError } from 'shared/errors';
import { RNG_MAX_BYTES, type Rng } from '../rng';

export function createRng(): Rng {
  const ffi = new FFI();
  return (length: number): Uint8Array => {
    if (!Number.isInteger(length) || length < 1 || length > RNG_MAX_BYTES) {
      throw new PaypadError('BAD_ARGUMENT', `rng: length must be an integer from 1 to ${RNG_MAX_BYTES}`);
    }
    // A fresh buffer: the glue passes the ArrayBuffer's data pointer with no bounds of its own
    // ("void*" arguments are unchecked), so the view and the buffer must coincide and `length`
    // must equal the buffer size.
    const bytes = new Uint8Array(length);
    if (ffi.paypad_fill_random(bytes.buffer, length) !== 0) {
      throw new PaypadError('RNG_FAILED', 'rng: the platform random source failed');
    }
    return bytes;
  };
}
