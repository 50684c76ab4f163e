/**
 * The waiting rule shared by the keypad and the card reader: at most one reader waits; an event
 * goes to the waiting reader, else into a short queue, else it is dropped; a reader that waits
 * too long gets 'timeout'.
 *
 * Timers are passed in (Moddable's Timer on the device, fake timers in the Node tests), so the
 * rule is tested without hardware. Busy detection is the adapter's: it throws
 * PaypadError('DEVICE_BUSY') when `waiting` is true rather than this module importing errors.
 */
export interface Scheduler {
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export class InputQueue<T> {
  readonly #capacity: number;
  readonly #scheduler: Scheduler;
  readonly #queue: T[] = [];
  #reader: ((value: T | 'timeout') => void) | undefined;
  #cancelTimer: (() => void) | undefined;

  /** `capacity` events are kept while nobody waits; 0 keeps none. */
  constructor(capacity: number, scheduler: Scheduler) {
    this.#capacity = capacity;
    this.#scheduler = scheduler;
  }

  get waiting(): boolean {
    return this.#reader !== undefined;
  }

  /** The next event, or 'timeout'. The caller checks `waiting` first. */
  read(timeoutMs: number): Promise<T | 'timeout'> {
    if (this.#reader) throw new Error('InputQueue: already waiting');
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift() as T);
    return new Promise((resolve) => {
      this.#reader = resolve;
      this.#cancelTimer = this.#scheduler.after(timeoutMs, () => this.#settle('timeout'));
    });
  }

  /**
   * Hands `value` to the waiting reader or queues it. Returns false when it was dropped, so the
   * caller can wipe it.
   */
  deliver(value: T): boolean {
    if (this.#reader) {
      this.#settle(value);
      return true;
    }
    if (this.#queue.length >= this.#capacity) return false;
    this.#queue.push(value);
    return true;
  }

  /** Drops queued events (not the waiting reader) and returns them for wiping. */
  clear(): T[] {
    return this.#queue.splice(0, this.#queue.length);
  }

  #settle(value: T | 'timeout'): void {
    const reader = this.#reader;
    this.#cancelTimer?.();
    this.#reader = undefined;
    this.#cancelTimer = undefined;
    reader?.(value);
  }
}
