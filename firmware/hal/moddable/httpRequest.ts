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
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/; // RFC 9110 §5.6.2 token, lower case
// Framing belongs to the client: a caller-set length or encoding could desynchronise the stream.
const RESERVED_HEADERS: readonly string[] = Object.freeze(['host', 'content-length', 'transfer-encoding', 'connection']);

// URLs and addresses are split by hand, not by RegExp: they are parsed on every request, and an
// exec allocates a result array and a string per capture group on the device's fixed heap.

/** True for a dotted-quad IPv4 address with every part 0-255. */
export function isIpv4(host: string): boolean {
  const parts = host.split('.');
  if (parts.length !== 4) return false;
  for (const part of parts) if (part.length < 1 || part.length > 3 || !allDigits(part) || Number(part) > 255) return false;
  return true;
}

/** The parts of an absolute http(s) URL, or the reason it is not one this client can reach. */
export function parseHttpUrl(url: string): HttpTarget | string {
  if (typeof url !== 'string') return 'url: expected a string';
  const malformed = 'url: expected http(s)://host[:port][/path] with a DNS name or IPv4 host';
  const secure = url.startsWith('https://');
  if (!secure && !url.startsWith('http://')) return malformed;
  const rest = url.slice(secure ? 8 : 7);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '/' : rest.slice(slash);
  const colon = authority.indexOf(':');
  const name = colon < 0 ? authority : authority.slice(0, colon);
  const portText = colon < 0 ? undefined : authority.slice(colon + 1);
  if (name.length === 0 || !everyChar(name, isHostChar)) return malformed;
  if (portText !== undefined && (portText.length < 1 || portText.length > 5 || !allDigits(portText))) return malformed;
  if (!everyChar(path, (c) => c > 0x20 && c !== 0x23 && c !== 0x7f && c !== 0xa0)) return malformed; // no space or '#'
  const port = portText === undefined ? (secure ? 443 : 80) : Number(portText);
  if (port < 1 || port > 65535) return `url: port ${port} out of range`;
  const host = name.toLowerCase();
  if (host.startsWith('.') || host.endsWith('.') || host.includes('..')) return 'url: malformed host name';
  return { secure, host, port, path };
}

function everyChar(text: string, ok: (code: number) => boolean): boolean {
  for (let i = 0; i < text.length; i++) if (!ok(text.charCodeAt(i))) return false;
  return true;
}

function allDigits(text: string): boolean {
  return everyChar(text, (c) => c >= 0x30 && c <= 0x39);
}

/** A-Z a-z 0-9 . - */
function isHostChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2e || c === 0x2d;
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
