/**
 * The emulated terminal's local link port: a TCP listener standing in for the board's UART
 * (shared/protocol/localLink). It only moves bytes: each connection gets a `connect`ed handler
 * (firmware/core/localLinkService LocalLinkSession) that decodes frames and answers them, and
 * that may close the connection (a frame too long to resynchronise after).
 *
 * Back-pressure: the socket is paused while the handler works on a chunk, so a peer that sends
 * faster than the terminal answers waits in TCP rather than in this process's memory. A few
 * connections at a time, like the few cables a bench has, and an idle one is dropped.
 */
import { createServer, type Socket } from 'node:net';
import { PaypadError } from 'shared/errors';

/** How the handler answers and hangs up (structurally localLinkService's LinkStream). */
export interface LinkStream {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** One connection's handler (structurally localLinkService's LocalLinkSession). */
export interface LinkConnection {
  receive(chunk: Uint8Array): Promise<void>;
}

export interface LocalLinkServerOptions {
  readonly host: string;
  /** 0 for any free port. */
  readonly port: number;
  readonly connect: (stream: LinkStream) => LinkConnection;
}

export interface LocalLinkServer {
  readonly host: string;
  readonly port: number;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

export const LINK_MAX_CONNECTIONS = 4;
export const LINK_IDLE_TIMEOUT_MS = 10 * 60_000;

export function listenLocalLink(options: LocalLinkServerOptions): Promise<LocalLinkServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    socket.setTimeout(LINK_IDLE_TIMEOUT_MS, () => socket.destroy());
    const connection = options.connect({
      write(bytes) {
        if (!socket.destroyed) socket.write(bytes);
      },
      close() {
        // Everything written goes out first, then the connection is gone for both sides.
        if (!socket.destroyed) socket.end(() => socket.destroy());
      },
    });
    socket.on('data', (data: Buffer) => {
      socket.pause();
      connection.receive(new Uint8Array(data)).finally(() => {
        if (!socket.destroyed) socket.resume();
      });
    });
  });
  server.maxConnections = LINK_MAX_CONNECTIONS;

  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new PaypadError('LISTEN_FAILED', `local link: cannot listen on ${options.host}:${options.port} (${e.code ?? 'error'})`));
    });
    server.listen(options.port, options.host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : options.port;
      resolve({
        host: options.host,
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
