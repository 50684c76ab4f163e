/**
 * Checks an HttpRequest and splits it into what Moddable's ECMA-419 HTTP client takes: host,
 * port, path, a header map and the TLS options. Pure (no platform modules) so the rules run in
 * the Node tests too; the adapter turns a returned problem into PaypadError('BAD_ARGUMENT').
 *
 * Supported URLs: http(s)://host[:port][/path[?query]], host a DNS name or dotted IPv4. No user
 * info, no fragment, no IPv6 literal (the ECMA-419 UDP resolver looks up A records only).
 */
import type { HttpMethod, HttpRequest, TlsOptions } from '../http';

export const HTTP_DEFAULT_TIMEOUT_MS = 30_000;
/** Buffered bodies: the protocol's JSON messages are a few KB; images are streamed. */
export const HTTP_DEFAULT_MAX_RESPONSE_BYTES = 16_384;
/** A day: longer is a unit mistake (seconds for milliseconds), not a plan. */
const HTTP_MAX_TIMEOUT_MS = 86_400_000;

export interface HttpTarget {
  secure: boolean;
  host: string;
  port: number;
  /** Path and query, starting with '/'. */
  path: string;
}

export interface PreparedHttpRequest {
  method: HttpMethod;
  target: HttpTarget;
  /** Lower-case names, content-length included when there is a body. */
  headers: Map<string, string>;
  body: Uint8Array | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
  tls: TlsOptions | undefined;
}

const METHODS: readonly HttpMethod[] = Object.freeze(['GET', 'POST', 'PUT', 'DELETE']);
const URL_PATTERN = /^(https?):\/\/([A-Za-z0-9.-]+)(?::(\d{1,5}))?(\/[^\s#]*)?$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/; // RFC 9110 §5.6.2 token, lower case
// Framing belongs to the client: a caller-set length or encoding could desynchronise the stream.
const RESERVED_HEADERS: readonly string[] = Object.freeze(['host', 'content-length', 'transfer-encoding', 'connection']);

/** True for a dotted-quad IPv4 address with every part 0-255. */
export function isIpv4(host: string): boolean {
  const m = IPV4.exec(host);
  return m !== null && m.slice(1).every((part) => Number(part) <= 255);
}

/** The parts of an absolute http(s) URL, or the reason it is not one this client can reach. */
export function parseHttpUrl(url: string): HttpTarget | string {
  if (typeof url !== 'string') return 'url: expected a string';
  const m = URL_PATTERN.exec(url);
  if (!m) return 'url: expected http(s)://host[:port][/path] with a DNS name or IPv4 host';
  const secure = m[1] === 'https';
  const port = m[3] === undefined ? (secure ? 443 : 80) : Number(m[3]);
  if (port < 1 || port > 65535) return `url: port ${port} out of range`;
  const host = m[2].toLowerCase();
  if (host.startsWith('.') || host.endsWith('.') || host.includes('..')) return 'url: malformed host name';
  return { secure, host, port, path: m[4] ?? '/' };
}

/** The request in client form, or the first reason it cannot be sent. */
export function prepareHttpRequest(request: HttpRequest): PreparedHttpRequest | string {
  if (!METHODS.includes(request.method)) return `method: expected one of ${METHODS.join(', ')}`;
  const target = parseHttpUrl(request.url);
  if (typeof target === 'string') return target;
  if (request.body !== undefined && !(request.body instanceof Uint8Array)) return 'body: expected Uint8Array';
  if (request.body !== undefined && request.method === 'GET') return 'body: a GET request has no body';

  const timeoutMs = request.timeoutMs ?? HTTP_DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > HTTP_MAX_TIMEOUT_MS) {
    return `timeoutMs: expected an integer from 1 to ${HTTP_MAX_TIMEOUT_MS}`;
  }
  const maxResponseBytes = request.maxResponseBytes ?? HTTP_DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes < 0) return 'maxResponseBytes: expected a non-negative integer';

  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (!HEADER_NAME.test(name)) return `header ${JSON.stringify(name)}: expected a lower-case token`;
    if (RESERVED_HEADERS.includes(name)) return `header ${name}: set by the HTTP client`;
    // CR or LF in a value would start a new header (request smuggling); NUL is never valid.
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) return `header ${name}: value must be a string without CR, LF or NUL`;
    headers.set(name, value);
  }
  if (request.body !== undefined) headers.set('content-length', String(request.body.length));

  const tls = request.tls;
  if (tls !== undefined) {
    if (!target.secure) return 'tls: options given for an http:// URL';
    const problem = tlsProblem(tls);
    if (problem) return problem;
  }
  return { method: request.method, target, headers, body: request.body, timeoutMs, maxResponseBytes, tls };
}

function tlsProblem(tls: TlsOptions): string | undefined {
  for (const field of ['trustAnchor', 'clientCertificate', 'clientKey'] as const) {
    const value = tls[field];
    if (value !== undefined && (!(value instanceof Uint8Array) || value.length === 0)) return `tls.${field}: expected non-empty DER bytes`;
  }
  if ((tls.clientCertificate === undefined) !== (tls.clientKey === undefined)) {
    return 'tls: clientCertificate and clientKey go together';
  }
  return undefined;
}
