/**
 * Records what the HTTP servers of this process send, for the X1 scan and for checking which
 * listener served which terminal. The host (MTMS, every KMS, the HTTP app) runs in the test's
 * process, so Node's built-in diagnostics channel 'http.server.request.start' (node:http,
 * "Diagnostics Channel") announces every request any of them accepts, HTTPS included, before the
 * application sees it. On a connection's first request its socket's write() is wrapped: what it
 * receives is the plaintext the server puts on the wire, status line, headers and body, just
 * before TLS encrypts it. Nothing in the host changes, no proxy alters addresses or certificates,
 * and the terminals still pin the KMS they were manufactured with.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const REQUEST_START = 'http.server.request.start';

/** One request a server of this process received. */
export interface ServedRequest {
  /** The port of the listener that accepted it. */
  readonly port: number;
  readonly method: string;
  readonly url: string;
  /** The Paypad-Serial header of a terminal's request (X2), if any. */
  readonly serial?: string;
  /** Its headers and body as received (a test can send it again, as is or altered). */
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer[];
}

export interface HttpCapture {
  readonly requests: readonly ServedRequest[];
  /** Everything the listener on `port` wrote to its connections, in order. */
  sentBy(port: number): Uint8Array;
  /** Every request body the listener on `port` received, in order (what a terminal sent: X1 looks for its PIN blocks elsewhere). */
  receivedBy(port: number): Uint8Array;
  /** The ports that served at least one request. */
  ports(): number[];
  /** Stops recording new connections (those already wrapped keep recording). */
  stop(): void;
}

export function captureHttpServers(): HttpCapture {
  const requests: ServedRequest[] = [];
  const sent = new Map<number, Buffer[]>();
  const received = new Map<number, Buffer[]>();
  const wrapped = new WeakSet<Socket>();

  const record = (port: number, chunk: unknown, encoding: unknown) => {
    let bytes: Buffer | undefined;
    if (typeof chunk === 'string') bytes = Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) bytes = Buffer.from(chunk);
    if (bytes === undefined) return;
    const list = sent.get(port) ?? [];
    list.push(bytes);
    sent.set(port, list);
  };

  const onRequest = (message: unknown) => {
    const { request, socket } = message as { request: IncomingMessage; response: ServerResponse; socket: Socket };
    const port = socket.localPort ?? 0;
    const serial = request.headers['paypad-serial'];
    const served: ServedRequest = { port, method: request.method ?? '', url: request.url ?? '', ...(typeof serial === 'string' ? { serial } : {}), headers: { ...request.headers }, body: [] };
    requests.push(served);
    // The body as the application reads it: its 'data' events, watched without adding a listener
    // (one would start the stream flowing before the body parser is there).
    const emit = request.emit;
    request.emit = function (this: IncomingMessage, event: string | symbol, ...args: unknown[]) {
      if (event === 'data' && args[0] instanceof Uint8Array) {
        const list = received.get(port) ?? [];
        list.push(Buffer.from(args[0]));
        received.set(port, list);
        served.body.push(Buffer.from(args[0]));
      }
      return (emit as (...a: unknown[]) => boolean).call(this, event, ...args);
    } as IncomingMessage['emit'];
    if (wrapped.has(socket)) return;
    wrapped.add(socket);
    const write = socket.write;
    socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      record(port, chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Socket['write'];
  };
  diagnosticsChannel.subscribe(REQUEST_START, onRequest);

  return {
    requests,
    sentBy: (port) => new Uint8Array(Buffer.concat(sent.get(port) ?? [])),
    receivedBy: (port) => new Uint8Array(Buffer.concat(received.get(port) ?? [])),
    ports: () => [...sent.keys()],
    stop: () => diagnosticsChannel.unsubscribe(REQUEST_START, onRequest),
  };
}
