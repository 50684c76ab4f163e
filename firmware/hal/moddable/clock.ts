/**
 * Clock over Moddable's `time` module: Date.now() for wall time, Time.set() to set it, and
 * Time.ticks for monotonic time.
 *
 * Time.ticks is a millisecond counter that may be 32 bits wide on a microcontroller (it wraps
 * after 49.7 days; a terminal runs for months). monotonic() extends it across wraps, which
 * works as long as it is read at least once per wrap period, so a daily timer reads it.
 */
import Time from 'time';
import Timer from 'timer';
import { PaypadError } from 'shared/errors';
import { CLOCK_EARLIEST, CLOCK_LATEST, type Clock } from '../clock';

const WRAP = 2 ** 32;
const DAY_MS = 86_400_000;

export function createClock(): Clock {
  let last = Time.ticks;
  let carried = 0;
  const monotonic = (): number => {
    const ticks = Time.ticks;
    if (ticks < last) carried += WRAP;
    last = ticks;
    return carried + ticks;
  };
  Timer.repeat(() => monotonic(), DAY_MS);

  return {
    now: () => Date.now(),
    monotonic,
    set(epochMs) {
      if (!Number.isFinite(epochMs) || epochMs < CLOCK_EARLIEST || epochMs > CLOCK_LATEST) {
        throw new PaypadError('BAD_ARGUMENT', 'clock: time outside 2025-2100, refusing to set it');
      }
      Time.set(Math.floor(epochMs / 1000));
    },
    isSet: () => Date.now() >= CLOCK_EARLIEST,
  };
}
