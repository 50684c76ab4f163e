/**
 * A Keypad over key presses that a driver delivers (the board's key matrix scan, the simulator's
 * buttons): presses wait in a short queue for readKey(), secure mode empties it, and a second
 * reader is refused. Nothing here logs a key, in or out of secure mode.
 */
import { PaypadError } from 'shared/errors';
import type { Key, Keypad } from '../keypad';
import { InputQueue } from './inputQueue';
import { timerScheduler } from './timerScheduler';

/** Presses kept between two reads, for a fast typist; setSecure() empties the queue. */
const QUEUE = 4;
const MAX_WAIT_MS = 600_000;

export interface KeyPresses {
  readonly keypad: Keypad;
  /** The driver reports one press. */
  press(key: Key): void;
}

export function createKeyPresses(): KeyPresses {
  const presses = new InputQueue<Key>(QUEUE, timerScheduler);
  let secure = false;
  return {
    press: (key) => void presses.deliver(key),
    keypad: {
      get secure() {
        return secure;
      },
      setSecure(on: boolean) {
        secure = on;
        presses.clear();
      },
      readKey(timeoutMs: number) {
        if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_WAIT_MS) {
          return Promise.reject(new PaypadError('BAD_ARGUMENT', `keypad: timeout must be an integer from 1 to ${MAX_WAIT_MS} ms`));
        }
        if (presses.waiting) return Promise.reject(new PaypadError('DEVICE_BUSY', 'keypad: another reader is waiting'));
        return presses.read(timeoutMs);
      },
    },
  };
}
