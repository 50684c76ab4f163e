/**
 * The answering side of the acquirer link (a bank simulator facing POSP): accepts connections,
 * unpacks each frame and hands the message to `handler`; what the handler returns is packed and
 * sent back on the same connection. Requests on one connection are handled concurrently, so a
 * slow answer does not hold up the next.
 *
 * A frame that does not unpack is reported to `onError` and gets no answer (it cannot be matched
 * to a request); the connection stays up because the framing is intact. A handler that throws,
 * or returns nothing, sends no answer either: the requester times out and reverses. Framing
 * failures (oversize, slow or cut frames) end that connection and are reported to `onError`.
 */
import { type Server, type Socket, createServer } from 'node:net';
import { DEFAULT_FRAME_TIMEOUT_MS, openFrameStream } from './frameStream';
import type { Iso8583Message, Packager } from './packager';

export type AcquirerLinkHandler = (request: Iso8583Message) => Promise<Iso8583Message | undefined>;

export interface AcquirerLinkServerOptions {
  readonly packager: Packager;
  readonly handler: AcquirerLinkHandler;
  /** 127.0.0.1 unless given; port 0 (the default) picks a free one. */
  readonly host?: string;
  readonly port?: number;
  readonly frameTimeoutMs?: number;
  /** Unreadable messages, handler failures and connections ended on an error (typed PaypadErrors but for the handler's own). */
  readonly onError?: (error: unknown) => void;
}

export interface AcquirerLinkServer {
  readonly port: number;
  close(): Promise<void>;
}

export function listenAcquirerLink(options: AcquirerLinkServerOptions): Promise<AcquirerLinkServer> {
  const { packager, handler } = options;
  const report = options.onError ?? (() => {});
  const sockets = new Set<Socket>();

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const frames = openFrameStream(socket, options.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS, {
      onFrame(payload) {
        let request: Iso8583Message;
        try {
          request = packager.unpack(payload);
        } catch (error) {
          report(error);
          return;
        }
        handler(request)
          .then((response) => {
            if (response) frames.send(packager.pack(response));
          })
          .catch(report);
      },
      onClose(error) {
        sockets.delete(socket);
        if (error) report(error);
      },
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : 0,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
