/**
 * Hal: everything the firmware core may touch outside its own memory.
 *
 * The core gets one of these and never imports a platform module (ARCHITECTURE §2). Three
 * builders exist: hal/moddable (board and simulator), hal/node (emulated terminal) and the
 * XS test bridge. Input devices are null on boards that have none (a bare dev kit, the
 * simulator), so the core can say "no keypad" instead of waiting forever.
 */
import type { CardReader } from './cardReader';
import type { Clock } from './clock';
import type { Display } from './display';
import type { Http } from './http';
import type { Keypad } from './keypad';
import type { Rng } from './rng';
import type { Storage } from './storage';
import type { Updater } from './updater';

export interface Hal {
  readonly storage: Storage;
  readonly rng: Rng;
  readonly http: Http;
  readonly clock: Clock;
  readonly display: Display;
  readonly keypad: Keypad | null;
  readonly cardReader: CardReader | null;
  readonly updater: Updater;
}

export type { CardReader, Clock, Display, Http, Keypad, Rng, Storage, Updater };
