/** InputQueue's Scheduler on Moddable's `timer` module. */
import Timer from 'timer';
import type { Scheduler } from './inputQueue';

export const timerScheduler: Scheduler = Object.freeze({
  after(ms, fn) {
    // A one-shot timer is gone once it has fired: only a pending one is cleared.
    let pending = true;
    const timer = Timer.set(() => {
      pending = false;
      fn();
    }, ms);
    return () => {
      if (pending) Timer.clear(timer);
      pending = false;
    };
  },
});
