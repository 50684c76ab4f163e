/**
 * HAL Clock for the emulated terminal. The host's clock is already right, so wall time starts
 * set; set() moves the emulator's own view of it by an offset (the emulator has no business
 * changing the host's clock), which is what a device does when the host tells it the time.
 * Monotonic time is performance.now(), which the offset never touches.
 */
import { performance } from 'node:perf_hooks';
import { PaypadError } from 'shared/errors';
import { CLOCK_EARLIEST, CLOCK_LATEST, type Clock } from '../clock';

export function createNodeClock(): Clock {
  let offset = 0;
  const now = (): number => Date.now() + offset;
  return {
    now,
    monotonic: () => performance.now(),
    set(epochMs) {
      if (!Number.isFinite(epochMs) || epochMs < CLOCK_EARLIEST || epochMs > CLOCK_LATEST) {
        throw new PaypadError('BAD_ARGUMENT', 'clock: time outside 2025-2100, refusing to set it');
      }
      offset = epochMs - Date.now();
    },
    isSet: () => now() >= CLOCK_EARLIEST,
  };
}
