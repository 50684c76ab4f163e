/**
 * Turns raw keypad matrix scans into key presses.
 *
 * Mechanical contacts bounce for a few milliseconds, so a position counts as pressed only after
 * `stableScans` identical scans, and a press is reported once, on the transition from "no key"
 * to a key. Holding a key, or rolling from one key to the next without releasing, reports
 * nothing more until the matrix is released: a held key must not enter a PIN digit twice.
 * Pure, so it runs in the Node tests.
 */

/** A scan result: the pressed position (row * columns + column), NONE, or SEVERAL. */
export const NONE = -1;
/** Two or more keys at once: in an unprotected matrix this can be a ghost, so it is no key. */
export const SEVERAL = -2;

export class KeyDebouncer {
  readonly #stableScans: number;
  #candidate = NONE;
  #count = 0;
  // A key already down at power-up (stuck, or leaned on) is not a press: wait for a release.
  #released = false;

  constructor(stableScans: number) {
    this.#stableScans = stableScans;
  }

  /** Feeds one scan; returns the position when it becomes a new press, else undefined. */
  feed(scan: number): number | undefined {
    if (scan === this.#candidate) {
      if (this.#count < this.#stableScans) this.#count++;
    } else {
      this.#candidate = scan;
      this.#count = 1;
    }
    if (this.#count !== this.#stableScans) return undefined;
    this.#count++; // report each stable state once
    if (scan === NONE) {
      this.#released = true;
      return undefined;
    }
    if (scan === SEVERAL || !this.#released) return undefined;
    this.#released = false;
    return scan;
  }
}
