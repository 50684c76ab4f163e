/**
 * The emulated terminal's magnetic-stripe reader: a CardReader (firmware/hal/cardReader) whose
 * swipes are handed in by the program (the `paypad terminal reader` command, tests) instead of
 * coming from a read head. As on the device, a swipe made while nobody waits for one is
 * discarded, and its bytes wiped.
 */
import { PaypadError } from '../../../shared/errors';
import type { CardReader, Swipe } from '../cardReader';
import { wipeSwipe } from '../moddable/swipeFrame';

export interface EmulatedSwipeReader {
  readonly reader: CardReader;
  /** True while readSwipe waits: a swipe now is taken. */
  readonly waiting: boolean;
  /** Delivers `swipe` to the waiting readSwipe; returns false (and wipes it) when nobody waits. */
  swipe(swipe: Swipe): boolean;
  /** Called each time readSwipe starts waiting (the command swipes its card then). */
  onWaiting(listener: () => void): void;
}

export function createEmulatedSwipeReader(): EmulatedSwipeReader {
  let waiter: ((swipe: Swipe) => void) | undefined;
  const listeners: (() => void)[] = [];
  const reader: CardReader = {
    readSwipe(timeoutMs: number): Promise<Swipe> {
      if (waiter !== undefined) return Promise.reject(new PaypadError('DEVICE_BUSY', 'card reader: a swipe is already awaited'));
      return new Promise<Swipe>((resolve) => {
        const timer = setTimeout(() => finish({ status: 'timeout' }), timeoutMs);
        const finish = (swipe: Swipe) => {
          clearTimeout(timer);
          waiter = undefined;
          resolve(swipe);
        };
        waiter = finish;
        for (const listener of listeners) listener();
      });
    },
  };
  return {
    reader,
    get waiting() {
      return waiter !== undefined;
    },
    swipe(swipe) {
      if (waiter === undefined) {
        wipeSwipe(swipe);
        return false;
      }
      waiter(swipe);
      return true;
    },
    onWaiting(listener) {
      listeners.push(listener);
    },
  };
}
