/**
 * The emulated secure card reader's connection to the payment gateway (docs/card-readers.md): a
 * WebSocket the reader opens to the gateway's CARD_READER_PATH (wss:// in production), the hello,
 * a heartbeat every heartbeatMs, and each read request answered by the firmware core's
 * SecureCardReaderService. unplug() is the cable pulled: the reader goes silent mid-whatever
 * without a close frame, as a reader losing power does, and the gateway has only the missing
 * heartbeats to go by.
 */
import { WebSocket } from 'ws';
import { PaypadError } from '../../../shared/errors';
import type { SecureCardReaderService } from '../../core/secureCardReaderService';

export interface NodeCardReaderLink {
  /** Resolves when the connection ends (closed by either side or unplugged). */
  readonly closed: Promise<void>;
  /** Closes politely (a close frame). */
  close(): void;
  /** Goes silent (no heartbeat, no answer, no close frame); the gateway ends the connection. */
  unplug(): void;
}

/** Connects to `url` (ws:// or wss://) and serves reads until the connection ends. BAD_ARGUMENT for another scheme. */
export function connectCardReader(url: string, service: SecureCardReaderService, heartbeatMs: number): Promise<NodeCardReaderLink> {
  if (!/^wss?:\/\//.test(url)) return Promise.reject(new PaypadError('BAD_ARGUMENT', 'card reader link: expected a ws:// or wss:// gateway URL'));
  const socket = new WebSocket(url, { handshakeTimeout: 10_000 });
  let heartbeat: NodeJS.Timeout | undefined;
  let unplugged = false;
  const closed = new Promise<void>((resolve) => socket.once('close', () => {
    clearInterval(heartbeat);
    resolve();
  }));
  socket.on('message', (data: Buffer) => {
    service.answer(data.toString('utf8')).then(
      (frame) => {
        if (!unplugged && socket.readyState === WebSocket.OPEN) socket.send(frame);
      },
      () => socket.close(4400, 'PROTOCOL_MALFORMED'),
    );
  });
  return new Promise<NodeCardReaderLink>((resolve, reject) => {
    socket.once('error', (e) => reject(new PaypadError('CARD_READER_DISCONNECTED', `card reader link: cannot reach the gateway (${e.message})`)));
    socket.once('open', () => {
      socket.send(service.hello());
      heartbeat = setInterval(() => socket.send(service.heartbeat()), heartbeatMs);
      socket.on('error', () => undefined);
      resolve({
        closed,
        close: () => socket.close(1000, 'BYE'),
        unplug: () => {
          unplugged = true;
          clearInterval(heartbeat);
          // Power gone: no close frame, no more frames at all; the gateway notices only the silence.
          socket.pause();
        },
      });
    });
  });
}
