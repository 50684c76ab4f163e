/**
 * The local link's sessions on a serial line (shared/protocol/localLink; A2, A10, A13).
 *
 * Over TCP (the emulator, hal/node/localLinkServer) every connection gets a fresh session and a
 * session that loses framing closes its connection. A UART has no connections: the cable stays,
 * the operating terminal's program comes and goes, and a frame cut short (a program stopped
 * mid-write, noise) would leave the next request misframed for good. So a quiet line is the
 * boundary: after QUIET_MS without a byte, and with nothing left to answer, the session is
 * dropped and the next byte starts a new one, as Modbus RTU frames by silent intervals. The
 * operating terminal sends a request and waits for its answer, so a pause between requests is
 * the normal case, and a fresh session that holds no partial frame is the same as the old one.
 * A session that closed (a length prefix over MAX_FRAME_BYTES) ignores bytes until then.
 *
 * A peer that sends faster than the terminal answers is not waited for (the UART has no flow
 * control here): past BACKLOG_MAX unanswered bytes, input is dropped until the line is quiet.
 * Pure (sessions, transmit and timers are passed in), so the rules are tested in Node.
 */
import { MAX_FRAME_BYTES } from 'shared/protocol/localLink';
import type { Scheduler } from './inputQueue';

/** Where a session writes its answers (structurally localLinkService's LinkStream). */
export interface LinkStream {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** One session (structurally localLinkService's LocalLinkSession). */
export interface LinkConnection {
  receive(chunk: Uint8Array): Promise<void>;
}

/** Silence that ends a session: 40 character times even at 1200 baud, far more at 115200. */
export const QUIET_MS = 500;
/** Two largest frames with their length prefixes: a request being answered and the next one. */
export const BACKLOG_MAX = 2 * (MAX_FRAME_BYTES + 2);

export interface SerialLinkOptions {
  /** A new session writing to `stream`. */
  readonly connect: (stream: LinkStream) => LinkConnection;
  /** Sends answer bytes (SerialTransmitter.send); a throw makes the session close. */
  readonly transmit: (bytes: Uint8Array) => void;
  readonly scheduler: Scheduler;
}

export class SerialLink {
  readonly #connect: (stream: LinkStream) => LinkConnection;
  readonly #stream: LinkStream;
  readonly #scheduler: Scheduler;
  #session: LinkConnection | undefined;
  /** Bytes handed to the session and not yet answered. */
  #backlog = 0;
  #dropping = false;
  #cancelQuiet: (() => void) | undefined;

  constructor(options: SerialLinkOptions) {
    this.#connect = options.connect;
    this.#scheduler = options.scheduler;
    // Nothing to hang up on a UART: a closed session stays deaf until the line is quiet.
    this.#stream = { write: (bytes) => options.transmit(bytes), close: () => undefined };
  }

  /** True while a session is open (bytes arrived since the last quiet period). */
  get active(): boolean {
    return this.#session !== undefined;
  }

  /** Bytes as the port delivered them (onReadable). */
  receive(chunk: Uint8Array): void {
    this.#armQuietTimer();
    if (this.#dropping || chunk.length === 0) return;
    if (this.#backlog + chunk.length > BACKLOG_MAX) {
      this.#dropping = true;
      return;
    }
    const session = (this.#session ??= this.#connect(this.#stream));
    this.#backlog += chunk.length;
    // receive() never rejects: a session turns its failures into answers or closes itself.
    void session.receive(chunk).then(() => {
      this.#backlog -= chunk.length;
      if (this.#backlog === 0) this.#armQuietTimer();
    });
  }

  #armQuietTimer(): void {
    this.#cancelQuiet?.();
    this.#cancelQuiet = this.#scheduler.after(QUIET_MS, () => {
      this.#cancelQuiet = undefined;
      // Still answering: the timer is armed again when the last answer is out.
      if (this.#backlog > 0) return;
      this.#session = undefined;
      this.#dropping = false;
    });
  }
}
