/**
 * The PIN pad's end of the local link (shared/protocol/localLink; A2, A10, A13): turns the byte
 * stream from the operating terminal (UART on a board, TCP in the emulator) into requests for a
 * handler, and its answers or typed errors back into frames.
 *
 * One session per connection. Frames are answered one at a time, in order. A frame that is not
 * JSON or not a valid request gets an error answer (with the request's id when one can be read)
 * and the link stays up: the framing is intact. A frame longer than the protocol allows gets a
 * LINK_FRAME_TOO_LARGE answer and the session closes the stream: without frame markers there is
 * no resynchronising (localLink.ts FrameDecoder).
 * Runs in XS: no Node APIs.
 */
import { FrameDecoder, type LinkOp, type LinkRequest, type LinkResult, decodeLinkFrame, encodeLinkMessage, linkErrorResponse, validateLinkRequest } from 'shared/protocol/localLink';

export interface LinkRequestHandler {
  /** The answer to a valid request; a thrown PaypadError becomes the error answer. */
  handleLinkRequest(request: LinkRequest): Promise<LinkResult<LinkOp>>;
}

/** Where a session writes its answers: a socket, a UART. */
export interface LinkStream {
  write(bytes: Uint8Array): void;
  /** Ends the connection once what was written has gone out. */
  close(): void;
}

/** Request ids are 1 .. 2^31 - 1 (localLink.ts); anything else cannot be echoed. */
function readableId(value: unknown): number | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const id = (value as { id?: unknown }).id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= 0x7fffffff ? id : null;
}

/** One frame payload in, one answer frame out (length prefix included). Never throws. */
export async function answerLinkFrame(handler: LinkRequestHandler, payload: Uint8Array): Promise<Uint8Array> {
  let id: number | null = null;
  try {
    const json = decodeLinkFrame(payload);
    id = readableId(json);
    return encodeLinkMessage(await handler.handleLinkRequest(validateLinkRequest(json)));
  } catch (e) {
    return encodeLinkMessage(linkErrorResponse(id, e));
  }
}

export class LocalLinkSession {
  readonly #handler: LinkRequestHandler;
  readonly #stream: LinkStream;
  readonly #decoder = new FrameDecoder();
  #closed = false;
  #tail: Promise<void> = Promise.resolve();

  constructor(handler: LinkRequestHandler, stream: LinkStream) {
    this.#handler = handler;
    this.#stream = stream;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Bytes as they arrived, in any chunking. Resolves once every frame they completed is answered;
   * chunks given before that are queued behind them, so answers keep the order of requests.
   */
  receive(chunk: Uint8Array): Promise<void> {
    // A stream that fails to take an answer has lost its peer: nobody is left to tell, so close.
    this.#tail = this.#tail.then(() => this.#process(chunk)).catch(() => this.#close());
    return this.#tail;
  }

  async #process(chunk: Uint8Array): Promise<void> {
    if (this.#closed) return;
    let frames: Uint8Array[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (e) {
      this.#stream.write(encodeLinkMessage(linkErrorResponse(null, e)));
      this.#close();
      return;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      this.#stream.write(await answerLinkFrame(this.#handler, frame));
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#stream.close();
    } catch {
      // Already gone: closing is what was wanted.
    }
  }
}
