/**
 * CardReader over a UART magnetic-stripe reader, through ECMA-419 Serial (`embedded:io/serial`).
 *
 * Bytes collect in one fixed buffer until CR or LF ends the line; parseSwipeLine() splits the
 * tracks, and the buffer and every chunk read are zeroed straight after. A line longer than
 * SWIPE_LINE_MAX is noise and reports 'unreadable'. Track data is never logged.
 */
import Serial from 'embedded:io/serial';
import { PaypadError } from 'shared/errors';
import type { CardReader, Swipe } from '../cardReader';
import type { SerialCardReaderConfig } from './config';
import { InputQueue } from './inputQueue';
import { parseSwipeLine, SWIPE_LINE_MAX, wipeSwipe } from './swipeFrame';
import { timerScheduler } from './timerScheduler';

const CR = 0x0d;
const LF = 0x0a;
const MAX_WAIT_MS = 600_000;

export function createSerialCardReader(config: SerialCardReaderConfig): CardReader {
  const line = new Uint8Array(SWIPE_LINE_MAX);
  let length = 0;
  let overflow = false;
  // Capacity 0: a swipe nobody asked for is dropped (and wiped), never read later.
  const swipes = new InputQueue<Swipe>(0, timerScheduler);

  const endOfLine = (): void => {
    const swipe: Swipe = overflow ? { status: 'unreadable' } : parseSwipeLine(line.subarray(0, length));
    line.fill(0);
    length = 0;
    overflow = false;
    if (!swipes.deliver(swipe)) wipeSwipe(swipe);
  };

  new Serial({
    port: config.port,
    receive: config.receive,
    baud: config.baud,
    format: 'buffer',
    onReadable(count: number) {
      const received = this.read(count);
      if (!received) return;
      const bytes = new Uint8Array(received);
      for (const byte of bytes) {
        if (byte === CR || byte === LF) {
          if (length > 0 || overflow) endOfLine();
        } else if (length < line.length) {
          line[length++] = byte;
        } else {
          overflow = true;
        }
      }
      bytes.fill(0);
    },
  });

  return {
    async readSwipe(timeoutMs: number): Promise<Swipe> {
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_WAIT_MS) {
        throw new PaypadError('BAD_ARGUMENT', `card reader: timeout must be an integer from 1 to ${MAX_WAIT_MS} ms`);
      }
      if (swipes.waiting) throw new PaypadError('DEVICE_BUSY', 'card reader: another reader is waiting');
      const swipe = await swipes.read(timeoutMs);
      return swipe === 'timeout' ? { status: 'timeout' } : swipe;
    },
  };
}
