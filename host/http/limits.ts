/**
 * The limits every listener (the HTTP app, MTMS, each KMS) holds its clients to, after nginx's
 * client_header_timeout, client_body_timeout, keepalive_timeout and worker_connections, with
 * values for paypad's clients: machines sending a few hundred bytes of headers and bodies of at
 * most 64 KiB, not browsers on slow links. In a module of its own so the configuration
 * (host/config.ts) reads the defaults without loading the HTTP stack.
 */
export interface ListenerLimits {
  /**
   * The TLS handshake, then the request line and headers, each within this (https
   * handshakeTimeout, http headersTimeout). nginx: 60 s.
   */
  readonly headersTimeoutMs: number;
  /**
   * The whole request, body included (http requestTimeout). A body trickled a byte at a time is
   * cut here; nginx's client_body_timeout (60 s between two reads) would let it run for ever.
   */
  readonly requestTimeoutMs: number;
  /** A keep-alive connection with no request in flight (http keepAliveTimeout). nginx: 75 s. */
  readonly idleTimeoutMs: number;
  /** Open connections per listener; the next one is closed at once. nginx: 512 per worker. */
  readonly maxConnections: number;
}

export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
  maxConnections: 512,
};
