/**
 * Test doubles for the board's serial line: Moddable's ESP32 Serial transmit FIFO (128 bytes;
 * write() throws "output full" past its room, modules/io/serial/esp32/serial.c) and timers driven
 * by hand, for SerialTransmitter and SerialLink (firmware/hal/moddable).
 */
import type { Scheduler } from '../../../firmware/hal/moddable/inputQueue';

export const FIFO = 128;

/** The ESP32 transmit FIFO as Moddable's Serial exposes it: write() beyond the room throws. */
export class FakeUart {
  readonly sent: number[] = [];
  inFifo = 0;
  write(bytes: Uint8Array): void {
    if (bytes.length > FIFO - this.inFifo) throw new Error('output full');
    this.inFifo += bytes.length;
    this.sent.push(...bytes);
  }
  /** The line sends `n` bytes (all by default); returns the room onWritable would report. */
  drain(n = this.inFifo): number {
    this.inFifo -= Math.min(n, this.inFifo);
    return FIFO - this.inFifo;
  }
}

/** Timers fired by hand; `advance` fires those due, in order. */
export function manualClock(): Scheduler & { advance(ms: number): void; pending: number } {
  let now = 0;
  const timers = new Map<() => void, number>();
  return {
    get pending() {
      return timers.size;
    },
    after(ms, fn) {
      timers.set(fn, now + ms);
      return () => timers.delete(fn);
    },
    advance(ms) {
      now += ms;
      for (const [fn, due] of [...timers].sort((a, b) => a[1] - b[1])) {
        if (due <= now && timers.delete(fn)) fn();
      }
    },
  };
}

/** Lets every pending promise job run (the terminal core answers in microtasks). */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
