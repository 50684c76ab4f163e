/**
 * Flow control for writing to a UART through ECMA-419 Serial (`embedded:io/serial`).
 *
 * Moddable's ESP32 Serial writes straight into the hardware transmit FIFO (128 bytes) and throws
 * "output full" when asked to write more than the FIFO has room for (modules/io/serial/esp32/
 * serial.c, xs_serial_write). The room is only ever reported through onWritable(count): once
 * when the port opens, then after each write once the FIFO has drained below its threshold.
 *
 * So this keeps the bytes still to send and an account of the room last reported, less what was
 * written since. The FIFO only empties between reports, so the account never exceeds the real
 * room, and a write never fails for lack of it. Pure (the write function is passed in), so the
 * rule is tested in Node. The simulator's TCP link (host/localLink.ts) uses it too: the SDK's
 * socket write() likewise throws ("would block") past the room its onWritable reported.
 */
import { PaypadError } from 'shared/errors';

export class SerialTransmitter {
  readonly #write: (bytes: Uint8Array) => void;
  readonly #capacity: number;
  readonly #queue: Uint8Array[] = [];
  /** Bytes of the queue's first chunk already written. */
  #offset = 0;
  #queued = 0;
  /** Room in the FIFO, as last reported less what was written since. */
  #room = 0;

  /**
   * `write` hands bytes to the port (never more than the room reported); `capacity` bounds what
   * waits here, in bytes.
   */
  constructor(write: (bytes: Uint8Array) => void, capacity: number) {
    this.#write = write;
    this.#capacity = capacity;
  }

  /** Bytes waiting to be written. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Queues `bytes` (copied) and writes what fits now. LINK_OVERRUN, queueing nothing, when the
   * queue would exceed its capacity.
   */
  send(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#queued + bytes.length > this.#capacity) {
      throw new PaypadError('LINK_OVERRUN', `local link: ${this.#queued + bytes.length} bytes to send, at most ${this.#capacity} can wait`);
    }
    this.#queue.push(bytes.slice());
    this.#queued += bytes.length;
    this.#drain();
  }

  /** The port's onWritable: `room` bytes fit in the FIFO now. */
  writable(room: number): void {
    this.#room = Number.isInteger(room) && room > 0 ? room : 0;
    this.#drain();
  }

  #drain(): void {
    while (this.#room > 0 && this.#queue.length > 0) {
      const head = this.#queue[0];
      const n = Math.min(this.#room, head.length - this.#offset);
      try {
        this.#write(head.subarray(this.#offset, this.#offset + n));
      } catch (e) {
        // The peer got part of a frame at most; the rest cannot follow it, so nothing queued can.
        this.#queue.length = 0;
        this.#offset = this.#queued = this.#room = 0;
        throw e;
      }
      this.#room -= n;
      this.#offset += n;
      this.#queued -= n;
      if (this.#offset === head.length) {
        this.#queue.shift();
        this.#offset = 0;
      }
    }
  }
}
