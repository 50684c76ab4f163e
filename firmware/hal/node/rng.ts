/**
 * HAL Rng for the emulated terminal: the operating system's CSPRNG through node:crypto
 * randomFillSync (getrandom(2) on Linux), under the same contract as the device's
 * esp_fill_random binding (firmware/hal/rng.ts): 1 to RNG_MAX_BYTES bytes, RNG_FAILED on failure.
 */
import { randomFillSync } from 'node:crypto';
import { PaypadError } from 'shared/errors';
import { RNG_MAX_BYTES, type Rng } from '../rng';

export function createNodeRng(): Rng {
  return (length: number): Uint8Array => {
    if (!Number.isInteger(length) || length < 1 || length > RNG_MAX_BYTES) {
      throw new PaypadError('BAD_ARGUMENT', `rng: length must be an integer from 1 to ${RNG_MAX_BYTES}`);
    }
    try {
      return randomFillSync(new Uint8Array(length));
    } catch {
      throw new PaypadError('RNG_FAILED', 'rng: the operating system random source failed');
    }
  };
}
