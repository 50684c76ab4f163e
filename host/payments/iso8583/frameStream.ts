/**
 * One TCP connection of the acquirer link as a stream of frames:
 *
 *   length (2 bytes, big-endian binary) || one packed ISO 8583 message
 *
 * the header of jPOS's NACChannel without its TPDU (the same 2-byte framing as the terminal's
 * local link, so both use shared/protocol/localLink's FrameDecoder and its 4096-byte limit).
 * A length over the limit, a frame not complete within `frameTimeoutMs` of its first byte, a
 * socket error, or the peer closing in the middle of a frame ends the connection: a byte stream
 * without markers cannot be resynchronised, and a slow sender must not hold the connection open.
 */
import type { Socket } from 'node:net';
import { PaypadError } from '../../../shared/errors';
import { FrameDecoder, encodeFrame } from '../../../shared/protocol/localLink';

/** How long a frame may take from its first byte to its last, unless a side sets its own. */
export const DEFAULT_FRAME_TIMEOUT_MS = 5_000;

export interface FrameStreamEvents {
  onFrame(payload: Uint8Array): void;
  /** Once, when the connection ends: with the reason if it ended on an error. */
  onClose(error: PaypadError | undefined): void;
}

export interface FrameStream {
  /** Sends one frame; LINK_FRAME_TOO_LARGE if the payload is over the limit. */
  send(payload: Uint8Array): void;
  close(): void;
}

export function openFrameStream(socket: Socket, frameTimeoutMs: number, events: FrameStreamEvents): FrameStream {
  const decoder = new FrameDecoder();
  let frameTimer: NodeJS.Timeout | undefined;
  let failure: PaypadError | undefined;
  let closed = false;

  const stopTimer = () => {
    clearTimeout(frameTimer);
    frameTimer = undefined;
  };
  const fail = (error: PaypadError) => {
    failure ??= error;
    socket.destroy();
  };

  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    if (failure) return;
    let frames: Uint8Array[];
    try {
      frames = decoder.push(new Uint8Array(chunk));
    } catch (error) {
      fail(error as PaypadError); // LINK_FRAME_TOO_LARGE, the decoder's only complaint
      return;
    }
    if (frames.length > 0 || decoder.buffered === 0) stopTimer();
    if (decoder.buffered > 0 && frameTimer === undefined) {
      frameTimer = setTimeout(
        () => fail(new PaypadError('ACQUIRER_LINK_FRAME_TIMEOUT', `acquirer link: a frame was not complete within ${frameTimeoutMs} ms of its first byte; connection closed`)),
        frameTimeoutMs,
      );
    }
    for (const frame of frames) events.onFrame(frame);
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= new PaypadError('ACQUIRER_LINK_CLOSED', `acquirer link: connection failed (${error.code ?? 'socket error'})`);
  });
  socket.on('close', () => {
    stopTimer();
    if (closed) return;
    closed = true;
    if (!failure && decoder.buffered > 0) {
      failure = new PaypadError('ACQUIRER_LINK_CLOSED', `acquirer link: the peer closed the connection in the middle of a frame (${decoder.buffered} bytes held)`);
    }
    events.onClose(failure);
  });

  return {
    send(payload) {
      if (closed || socket.destroyed) throw new PaypadError('ACQUIRER_LINK_CLOSED', 'acquirer link: the connection is closed');
      socket.write(encodeFrame(payload));
    },
    close() {
      socket.destroy();
    },
  };
}
