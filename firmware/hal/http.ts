/**
 * Http: one request/response exchange with the host (ARCHITECTURE §4: HTTP(S), JSON bodies,
 * program images as raw bytes).
 *
 * Bodies are bytes in both directions because the protocol MACs "the exact bytes sent"
 * (ARCHITECTURE §4): the core serialises, MACs and verifies; the HAL never re-encodes a body.
 *
 * TLS: Moddable's TLS stops at 1.2 with P-256 ECDHE and checks certificate validity against the
 * clock, so Clock.set() must have run before the first https request. Mutual TLS (the operating
 * terminal authenticates with a certificate from the CA role, CN103714640A) is per request:
 * the same Http serves the unauthenticated first contact and later mTLS calls.
 *
 * Failures: PaypadError HTTP_FAILED (DNS, connect, TLS handshake, connection lost),
 * HTTP_TIMEOUT, PAYLOAD_TOO_LARGE (buffered body over maxResponseBytes) and BAD_ARGUMENT
 * (malformed request). A non-2xx status is a response, not an error: the protocol layer reads
 * its typed error body.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface TlsOptions {
  /**
   * DER X.509 certificate that must anchor the server's chain (the paypad CA). Without it the
   * platform's built-in store is used, which does not hold a private CA.
   */
  trustAnchor?: Uint8Array;
  /** DER X.509 client certificate, with clientKey, for mutual TLS. */
  clientCertificate?: Uint8Array;
  /** DER PKCS#8 private key (P-256) matching clientCertificate. */
  clientKey?: Uint8Array;
}

export interface HttpRequest {
  method: HttpMethod;
  /** Absolute http:// or https:// URL with a host name or IPv4 address. */
  url: string;
  /** Header names in lower case. content-length is set by the adapter from body. */
  headers?: Readonly<Record<string, string>>;
  body?: Uint8Array;
  /** Whole-exchange limit in milliseconds (connect, send, receive). Adapters default it. */
  timeoutMs?: number;
  tls?: TlsOptions;
  /**
   * Streams the response body instead of buffering it (firmware images are larger than the
   * heap). Each chunk is valid only during the call. With a sink, HttpResponse.body is empty.
   */
  onBodyChunk?: (chunk: Uint8Array) => void;
  /** Buffered responses longer than this fail with PAYLOAD_TOO_LARGE. Adapters default it. */
  maxResponseBytes?: number;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface Http {
  request(request: HttpRequest): Promise<HttpResponse>;
}
