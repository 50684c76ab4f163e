/**
 * The HAL rules every adapter shares: storage names and values within NVS limits, the input
 * queue that keypad and card reader wait on, and the key debouncer.
 */
import { describe, expect, it } from 'vitest';
import { STORAGE_NAME_MAX, STORAGE_VALUE_MAX, storageNameProblem, storageValueProblem } from '../../../firmware/hal/storage';
import { InputQueue, type Scheduler } from '../../../firmware/hal/moddable/inputQueue';
import { KeyDebouncer, NONE, SEVERAL } from '../../../firmware/hal/moddable/keyDebouncer';

describe('storage contract: NVS limits (A1 key slots live here)', () => {
  it('accepts 1-15 character names of letters, digits, _ - .', () => {
    for (const name of ['v', 'vault', 'slot.TK_1-a', 'x'.repeat(STORAGE_NAME_MAX)]) {
      expect(storageNameProblem('key', name)).toBeUndefined();
    }
  });

  it('rejects empty, 16-character, non-ASCII, spaced, slashed and non-string names', () => {
    for (const name of ['', 'x'.repeat(STORAGE_NAME_MAX + 1), 'clé', 'a b', 'a/b', 'a\u0000']) {
      expect(storageNameProblem('namespace', name), JSON.stringify(name)).toMatch(/^storage namespace: /);
    }
    expect(storageNameProblem('key', 42 as unknown as string)).toMatch(/non-empty string/);
  });

  it('accepts 1 to 4000 bytes, rejects empty, 4001 bytes and non-Uint8Array values', () => {
    expect(storageValueProblem(new Uint8Array(1))).toBeUndefined();
    expect(storageValueProblem(new Uint8Array(STORAGE_VALUE_MAX))).toBeUndefined();
    expect(storageValueProblem(new Uint8Array(0))).toMatch(/empty, use delete/);
    expect(storageValueProblem(new Uint8Array(STORAGE_VALUE_MAX + 1))).toMatch(/4001 bytes, at most 4000/);
    expect(storageValueProblem([1, 2] as unknown as Uint8Array)).toMatch(/expected Uint8Array/);
  });

  it('X1: problems name lengths, never value bytes', () => {
    const secret = new Uint8Array(STORAGE_VALUE_MAX + 1).fill(0xab);
    expect(storageValueProblem(secret)).not.toMatch(/ab|AB|171/);
  });
});

/** A scheduler driven by hand: run() fires every pending callback. */
function manualScheduler(): Scheduler & { pending: number; run(): void } {
  const timers = new Set<() => void>();
  return {
    get pending() {
      return timers.size;
    },
    after(_ms, fn) {
      timers.add(fn);
      return () => timers.delete(fn);
    },
    run() {
      for (const fn of [...timers]) {
        timers.delete(fn);
        fn();
      }
    },
  };
}

describe('input queue: one reader, a short queue, timeouts (keypad and card reader)', () => {
  it('hands an event to the waiting reader and cancels its timer', async () => {
    const scheduler = manualScheduler();
    const queue = new InputQueue<string>(2, scheduler);
    const read = queue.read(1000);
    expect(queue.waiting).toBe(true);
    expect(queue.deliver('5')).toBe(true);
    await expect(read).resolves.toBe('5');
    expect(queue.waiting).toBe(false);
    expect(scheduler.pending).toBe(0);
  });

  it('queues events up to its capacity, in order, and reports the dropped one', async () => {
    const queue = new InputQueue<string>(2, manualScheduler());
    expect(queue.deliver('1')).toBe(true);
    expect(queue.deliver('2')).toBe(true);
    expect(queue.deliver('3')).toBe(false);
    await expect(queue.read(1000)).resolves.toBe('1');
    await expect(queue.read(1000)).resolves.toBe('2');
  });

  it('capacity 0 keeps nothing for a later reader (a swipe nobody asked for)', () => {
    const queue = new InputQueue<string>(0, manualScheduler());
    expect(queue.deliver('swipe')).toBe(false);
    expect(queue.clear()).toEqual([]);
  });

  it('times out, and an event after the timeout is queued, not given to the old reader', async () => {
    const scheduler = manualScheduler();
    const queue = new InputQueue<string>(1, scheduler);
    const read = queue.read(50);
    scheduler.run();
    await expect(read).resolves.toBe('timeout');
    expect(queue.waiting).toBe(false);
    queue.deliver('7');
    await expect(queue.read(50)).resolves.toBe('7');
  });

  it('clear() empties the queue (secure-mode switch) and returns what it dropped', async () => {
    const scheduler = manualScheduler();
    const queue = new InputQueue<string>(4, scheduler);
    queue.deliver('1');
    queue.deliver('2');
    expect(queue.clear()).toEqual(['1', '2']);
    const read = queue.read(10);
    scheduler.run();
    await expect(read).resolves.toBe('timeout');
  });

  it('refuses a second concurrent reader (adapters turn this into DEVICE_BUSY)', () => {
    const queue = new InputQueue<string>(1, manualScheduler());
    void queue.read(1000);
    expect(() => queue.read(1000)).toThrow(/already waiting/);
  });
});

describe('key debouncer: one press per physical press', () => {
  const feed = (debouncer: KeyDebouncer, scans: number[]): number[] =>
    scans.map((s) => debouncer.feed(s)).filter((p): p is number => p !== undefined);

  it('reports a press after 3 identical scans, once, however long it is held', () => {
    const d = new KeyDebouncer(3);
    expect(feed(d, [NONE, NONE, NONE, 4, 4, 4, 4, 4, 4, 4])).toEqual([4]);
  });

  it('ignores contact bounce shorter than the stable window', () => {
    const d = new KeyDebouncer(3);
    expect(feed(d, [NONE, NONE, NONE, 4, NONE, 4, NONE, 4, 4, 4, NONE, 4, NONE, NONE, NONE])).toEqual([4]);
  });

  it('reports the same key again only after a release', () => {
    const d = new KeyDebouncer(2);
    expect(feed(d, [NONE, NONE, 1, 1, NONE, NONE, 1, 1])).toEqual([1, 1]);
  });

  it('rolling from one key to another without release reports nothing new', () => {
    const d = new KeyDebouncer(2);
    expect(feed(d, [NONE, NONE, 1, 1, 2, 2, 2, NONE, NONE, 2, 2])).toEqual([1, 2]);
  });

  it('two keys at once (a possible ghost) are no key', () => {
    const d = new KeyDebouncer(2);
    expect(feed(d, [NONE, NONE, SEVERAL, SEVERAL, SEVERAL, NONE, NONE])).toEqual([]);
  });

  it('a key held at power-up is not a press until it has been released', () => {
    const d = new KeyDebouncer(2);
    expect(feed(d, [3, 3, 3, 3, NONE, NONE, 3, 3])).toEqual([3]);
  });
});
