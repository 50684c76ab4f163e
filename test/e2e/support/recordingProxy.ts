/**
 * A recording HTTPS proxy between an emulated terminal and its KMS (X2 attack tests), and a
 * sender that plays a recorded request again, as is or altered. The proxy presents a certificate
 * of the paypad CA for the terminal's KMS address, so the terminal talks through it exactly as it
 * talks to the KMS; it forwards each request unchanged and keeps what went over the wire: method,
 * request target, raw header lines and the body bytes.
 */
import { createServer, request, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TlsIdentity } from '../../../host/tls/identity';
import { serverTlsOptions } from '../../../host/tls/serverOptions';
import { LOOPBACK } from './loopback';

/** A request as it went over the wire. */
export interface WireRequest {
  readonly method: string;
  /** The request target: path and query. */
  readonly path: string;
  /** Header names and values alternating, as sent (IncomingMessage.rawHeaders). */
  readonly rawHeaders: readonly string[];
  readonly body: Uint8Array;
}

export interface WireResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RecordingProxy {
  readonly url: string;
  /** Every request forwarded, in order, and the answer it got. */
  readonly exchanges: readonly { readonly request: WireRequest; readonly response: WireResponse }[];
  close(): Promise<void>;
}

function readAll(message: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    message.on('data', (c: Buffer) => chunks.push(c));
    message.on('end', () => resolve(Buffer.concat(chunks)));
    message.on('error', reject);
  });
}

/**
 * Sends `wire` to `targetUrl` (its scheme, host and port; the path is the recorded one) over a new
 * connection, trusting only `caPem`, with the recorded header lines as they are.
 */
export function sendWireRequest(targetUrl: string, caPem: string, wire: WireRequest): Promise<WireResponse> {
  const target = new URL(targetUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: Number(target.port), method: wire.method, path: wire.path, headers: [...wire.rawHeaders], ca: [caPem], agent: false },
      (res) => void readAll(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject),
    );
    req.on('error', reject);
    req.end(Buffer.from(wire.body));
  });
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the length, which the proxy sets itself. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/** Listens on 127.0.0.1 (any free port) with `identity` and forwards to `targetUrl`. */
export async function startRecordingProxy(options: { identity: TlsIdentity; targetUrl: string }): Promise<RecordingProxy> {
  const exchanges: { request: WireRequest; response: WireResponse }[] = [];
  // Terminals present no client certificate: do not ask for one.
  const server: Server = createServer({ ...serverTlsOptions(options.identity), requestCert: false }, (req, res) => {
    void (async () => {
      const wire: WireRequest = { method: req.method ?? '', path: req.url ?? '', rawHeaders: [...req.rawHeaders], body: new Uint8Array(await readAll(req)) };
      const response = await sendWireRequest(options.targetUrl, options.identity.caPem, wire);
      exchanges.push({ request: wire, response });
      const headers = Object.fromEntries(Object.entries(response.headers).filter(([name]) => !NOT_FORWARDED.has(name)));
      res.writeHead(response.status, { ...headers, 'content-length': String(response.body.length) });
      res.end(response.body);
    })().catch(() => {
      res.statusCode = 502;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `https://${LOOPBACK}:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The value of header `name` (any case) in `wire`. @throws Error when it is not there exactly once. */
export function wireHeader(wire: WireRequest, name: string): string {
  const found: string[] = [];
  for (let i = 0; i < wire.rawHeaders.length; i += 2) if (wire.rawHeaders[i].toLowerCase() === name.toLowerCase()) found.push(wire.rawHeaders[i + 1]);
  if (found.length !== 1) throw new Error(`the recorded request has ${found.length} ${name} headers`);
  return found[0];
}

/** `wire` with header `name` (any case) set to `value`, in its place. */
export function withHeader(wire: WireRequest, name: string, value: string): WireRequest {
  wireHeader(wire, name);
  const rawHeaders = wire.rawHeaders.map((v, i) => (i % 2 === 1 && wire.rawHeaders[i - 1].toLowerCase() === name.toLowerCase() ? value : v));
  return { ...wire, rawHeaders };
}

/** `wire` with bit `bit` (0 = the lowest) of body byte `index` inverted. */
export function withBodyBitFlipped(wire: WireRequest, index: number, bit = 0): WireRequest {
  if (index < 0 || index >= wire.body.length) throw new Error(`the body has ${wire.body.length} bytes, no byte ${index}`);
  const body = wire.body.slice();
  body[index] ^= 1 << bit;
  return { ...wire, body };
}

/** A hex string with the lowest bit of its last digit inverted: one bit of the value flipped. */
export function hexWithLastBitFlipped(hex: string): string {
  const last = (parseInt(hex.slice(-1), 16) ^ 1).toString(16);
  return hex.slice(0, -1) + (hex.slice(-1) === hex.slice(-1).toUpperCase() ? last.toUpperCase() : last);
}
