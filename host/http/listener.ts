/**
 * The host's listeners (the HTTP app, MTMS and each KMS), made and run the same way: one set of
 * limits a slow or greedy client cannot outlast, typed JSON for what Node refuses before Express
 * sees a request, a typed LISTEN_FAILED naming who could not listen, the URL with the port
 * actually bound, and a stop that lets requests in flight finish for a grace period.
 *
 * The limits are in limits.ts. A request or headers timeout is answered 408 REQUEST_TIMEOUT, then
 * the connection is closed.
 */
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { PaypadError } from '../../shared/errors';
import type { Logger } from '../log';
import { clientErrorResponse } from './errors';
import type { ListenerLimits } from './limits';

/** How often Node looks for requests past their timeouts (it checks in rounds, default 30 s). */
function checkingIntervalMs(limits: ListenerLimits): number {
  return Math.max(10, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4)));
}

/** Dropped connections are logged at most this often, with the count since the last line. */
const DROP_LOG_INTERVAL_MS = 10_000;

export interface ListenerOptions {
  readonly limits: ListenerLimits;
  readonly logger: Logger;
  /** Names the listener in logs: "the host", "MTMS", "KMS C001". */
  readonly who: string;
}

/** A plain HTTP listener for `app` with the limits and the typed client-error answers. */
export function createHttpListener(app: RequestListener, options: ListenerOptions): Server {
  const { limits } = options;
  const server = createHttpServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      connectionsCheckingInterval: checkingIntervalMs(limits),
    },
    app,
  );
  return guard(server, options);
}

/**
 * An HTTPS listener for `app` (host/tls/serverOptions), with the same limits; the TLS handshake
 * gets headersTimeoutMs. A client whose handshake fails (a certificate whose key it does not hold,
 * no common suite, a timeout) cannot be answered in HTTP: there is no TLS session to answer on.
 * OpenSSL sends it a TLS alert, and the listener logs the reason with the code TLS_HANDSHAKE_FAILED.
 */
export function createHttpsListener(app: RequestListener, tls: HttpsServerOptions, options: ListenerOptions): Server {
  const { limits, logger, who } = options;
  const server = createHttpsServer(
    {
      ...tls,
      handshakeTimeout: limits.headersTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      connectionsCheckingInterval: checkingIntervalMs(limits),
    },
    app,
  );
  // A client certificate whose signature does not verify is accepted by the handshake
  // (rejectUnauthorized: false) so that requireClientCert answers it with a typed 401. But OpenSSL 3
  // leaves the failed signature check in its per-thread error queue, and on TLS 1.2 Node's next read
  // of the connection finds it there and drops the connection (the client sees a reset, not the
  // 401). Any crypto call that clears the queue on return prevents that; parsing the certificate
  // the client presented is one, and is cheap. Only connections that failed verification pay it.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    if (socket.authorized) return;
    const raw = socket.getPeerCertificate()?.raw;
    if (raw === undefined) return;
    try {
      new X509Certificate(raw);
    } catch {
      // Unparseable: requireClientCert refuses it; only the cleared queue mattered here.
    }
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket) => {
    // A peer that connects and goes away is not worth a warning.
    const level = err.code === 'ECONNRESET' ? 'debug' : 'warn';
    logger[level]({ code: 'TLS_HANDSHAKE_FAILED', reason: err.reason ?? err.code ?? err.message, remote: socket.remoteAddress }, `${who}: TLS handshake failed`);
  });
  return guard(server, options);
}

/** The connection cap and the typed answers to what Node's HTTP parser refuses. */
function guard<S extends Server>(server: S, { limits, logger, who }: ListenerOptions): S {
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  let lastDropLog = 0;
  server.on('drop', () => {
    dropped += 1;
    const now = Date.now();
    if (now - lastDropLog < DROP_LOG_INTERVAL_MS) return;
    logger.warn({ dropped, maxConnections: limits.maxConnections }, `${who}: connection refused, ${limits.maxConnections} connections are open`);
    lastDropLog = now;
    dropped = 0;
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const response = clientErrorResponse(err);
    // As Node's own handler: answer only when nothing of a response has gone out on this socket,
    // and only in HTTP: a failed TLS handshake (tlsClientError above) has no session to answer on.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    const tlsFailure = /^ERR_(?:TLS|SSL)_/.test(err.code ?? '');
    if (!tlsFailure && err.code !== 'ECONNRESET' && socket.writable && inFlight?.headersSent !== true) {
      logger.debug({ code: err.code, status: response.status, remote: socket.remoteAddress }, `${who}: client error`);
      socket.end(response.raw, () => socket.destroy());
    } else {
      socket.destroy();
    }
  });
  return server;
}

/** Listens on `host:port` (port 0: any free one). @throws PaypadError LISTEN_FAILED naming `who`. */
export function listen<S extends NetServer>(server: S, host: string, port: number, who: string): Promise<S> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(Object.assign(new PaypadError('LISTEN_FAILED', `${who} cannot listen on ${host}:${port}: ${e.code ?? e.message}`), { cause: e }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/** e.g. "https://127.0.0.1:8790", with the bound port; IPv6 addresses in brackets. */
export function listenerUrl(server: NetServer, scheme: 'http' | 'https'): string {
  const { address, port } = server.address() as AddressInfo;
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Stops accepting; requests in flight get `graceMs`, then their connections are cut. */
export async function closeWithin(server: Server, graceMs: number): Promise<void> {
  const force = setTimeout(() => server.closeAllConnections(), graceMs).unref();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  clearTimeout(force);
}
