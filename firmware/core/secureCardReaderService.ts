/**
 * The secure card reader's side of the reader channel (E4; docs/card-readers.md): what the reader
 * says when it connects and while it stays connected, and its answer to each read request — the
 * swipe, the PIN on its own keypad when asked for, sealed by SecureCardReader. The platform
 * adapter owns the socket and the heartbeat timer (hal/node/nodeCardReaderLink on the emulated
 * terminal) and hands frames in and out.
 *
 * No async function here (docs/firmware.md "Stack"): the swipe and the PIN are awaited in promise
 * reactions, and the sealing — all the key work — runs synchronously in the last one. The track
 * bytes the HAL delivered are wiped whatever the outcome.
 * Runs in XS: no Node APIs.
 */
import { PaypadError, isPaypadError } from 'shared/errors';
import {
  type CardReadFailure,
  type CardReadRequest,
  type ReaderMessage,
  encodeReaderMessage,
  parseCardReadRequest,
} from 'shared/protocol/cardReadMessages';
import type { CardReader, Swipe } from '../hal/cardReader';
import type { SecureCardReader } from './secureCardReader';

/** The PIN keyed on the reader's keypad, or undefined when the holder cancelled or let it time out. */
export type PinEntry = (timeoutMs: number) => Promise<string | undefined>;

export interface SecureCardReaderServiceOptions {
  readonly reader: SecureCardReader;
  readonly cardReader: CardReader;
  /** The name the gateway pairs a checkout with (shown on the reader's screen or label). */
  readonly readerId: string;
  /** How often the adapter sends heartbeat(); the gateway takes the reader as gone after three missed. */
  readonly heartbeatMs: number;
  /** Absent on a reader without a keypad: a read that asks for a PIN then fails with 'no-pin-pad'. */
  readonly pinEntry?: PinEntry;
}

export class SecureCardReaderService {
  readonly #options: SecureCardReaderServiceOptions;
  #reading = false;

  constructor(options: SecureCardReaderServiceOptions) {
    if (typeof options !== 'object' || options === null || typeof options.cardReader !== 'object' || typeof options.reader !== 'object') {
      throw new PaypadError('BAD_ARGUMENT', 'secure card reader service: expected { reader, cardReader, readerId, heartbeatMs }');
    }
    this.#options = options;
  }

  /** The first frame on a new connection. */
  hello(): string {
    return encodeReaderMessage({ type: 'hello', readerId: this.#options.readerId, heartbeatMs: this.#options.heartbeatMs });
  }

  heartbeat(): string {
    return encodeReaderMessage({ type: 'heartbeat' });
  }

  /**
   * The answer frame to one gateway frame: a card read or a read failure. A frame that is not a
   * read request rejects with PROTOCOL_MALFORMED (the adapter closes the connection).
   */
  answer(frame: string): Promise<string> {
    let request: CardReadRequest;
    try {
      request = parseCardReadRequest(frame);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#reading) return Promise.resolve(failed(request, 'busy'));
    if (!this.#options.reader.hasKeys()) return Promise.resolve(failed(request, 'no-keys'));
    if (request.pin && this.#options.pinEntry === undefined) return Promise.resolve(failed(request, 'no-pin-pad'));
    this.#reading = true;
    return this.#options.cardReader
      .readSwipe(request.timeoutMs)
      .then((swipe) => this.#afterSwipe(request, swipe))
      .finally(() => {
        this.#reading = false;
      });
  }

  #afterSwipe(request: CardReadRequest, swipe: Swipe): string | Promise<string> {
    if (swipe.status !== 'read') return failed(request, swipe.status);
    swipe.track1?.fill(0);
    const track2 = swipe.track2;
    if (track2 === undefined) return failed(request, 'unreadable');
    if (!request.pin) return this.#seal(request, track2, undefined);
    return (this.#options.pinEntry as PinEntry)(request.timeoutMs).then(
      (pin) => (pin === undefined ? wiped(track2, failed(request, 'cancelled')) : this.#seal(request, track2, pin)),
      (e: unknown) => {
        track2.fill(0);
        throw e;
      },
    );
  }

  #seal(request: CardReadRequest, track2: Uint8Array, pin: string | undefined): string {
    try {
      return encodeReaderMessage({ type: 'card-read', ...this.#options.reader.sealCardRead(request.readId, track2, pin) });
    } catch (e) {
      // A card whose track 2 is not a payment card's, or a reader out of keys: the page asks again or gives up.
      if (isPaypadError(e, 'CARD_DATA_INVALID')) return failed(request, 'unreadable');
      if (isPaypadError(e, 'DUKPT_COUNTER_EXHAUSTED') || isPaypadError(e, 'CARD_READ_FAILED')) return failed(request, 'no-keys');
      throw e;
    } finally {
      track2.fill(0);
    }
  }
}

function failed(request: CardReadRequest, reason: CardReadFailure): string {
  const message: ReaderMessage = { type: 'read-failed', readId: request.readId, reason };
  return encodeReaderMessage(message);
}

function wiped(track: Uint8Array, frame: string): string {
  track.fill(0);
  return frame;
}
