/**
 * Http over the ECMA-419 HTTP client (`embedded:network/http/client`, Moddable's
 * examples/io/tcp/httpclient) on TCP, or on `embedded:io/socket/tcp/tls` for https.
 *
 * One client per request: simple and leak-free, at the price of a TLS handshake per request
 * (P-256 ECDHE, about a second on an ESP32). The client resolves names with the ECMA-419 UDP
 * resolver; IPv4 literals are answered here without a DNS query, since that resolver would
 * send one for them.
 */
// mcconfig type-checks each module alone and maps @moddable/typings by file name, which puts this
// module's declaration under 'embedded:io/socket/tls': reference it so the import below resolves.
/// <reference path="../../../node_modules/@moddable/typings/embedded_io/socket/tls.d.ts" />
import HTTPClient from 'embedded:network/http/client';
import TCP from 'embedded:io/socket/tcp';
import TLSSocket from 'embedded:io/socket/tcp/tls';
import UDP from 'embedded:io/socket/udp';
import Resolver from 'embedded:network/dns/resolver/udp';
import Net from 'net';
import Timer from 'timer';
import { concatBytes } from 'shared/bytes';
import { PaypadError } from 'shared/errors';
import { CLOCK_EARLIEST } from '../clock';
import type { Http, HttpRequest, HttpResponse, TlsOptions } from '../http';
import { isIpv4, prepareHttpRequest, type PreparedHttpRequest } from './httpRequest';

type ResolveOptions = Parameters<Resolver['resolve']>[0];

/** The resolver the client instantiates (`new dns.io(dns)`): IPv4 literals, else UDP DNS. */
class LiteralOrUdpResolver {
  readonly #options: Record<string, unknown>;
  #udp: Resolver | undefined;
  constructor(options: Record<string, unknown>) {
    this.#options = options;
  }
  resolve(options: ResolveOptions): void {
    if (isIpv4(options.host)) Timer.set(() => options.onResolved(options.host, options.host));
    else (this.#udp ??= new Resolver(this.#options)).resolve(options);
  }
  close(): void {
    this.#udp?.close();
  }
}

/** `dnsServers` overrides the network's (DHCP) DNS servers. */
export function createHttp(dnsServers: string[] | null): Http {
  return {
    request(request: HttpRequest): Promise<HttpResponse> {
      const prepared = prepareHttpRequest(request);
      if (typeof prepared === 'string') return Promise.reject(new PaypadError('BAD_ARGUMENT', `http: ${prepared}`));
      // TLS checks every certificate's validity period against Date.now(): at 1970 all fail.
      if (prepared.target.secure && Date.now() < CLOCK_EARLIEST) {
        return Promise.reject(new PaypadError('HTTP_FAILED', 'https: the clock is not set, so no certificate can be checked'));
      }
      const servers = dnsServers ?? Net.get('DNS');
      return exchange(prepared, request.onBodyChunk, servers);
    },
  };
}

function exchange(req: PreparedHttpRequest, sink: ((chunk: Uint8Array) => void) | undefined, dnsServers: string[]): Promise<HttpResponse> {
  const { target, body } = req;
  const what = `${req.method} ${target.secure ? 'https' : 'http'}://${target.host}:${target.port}${target.path.split('?')[0]}`;
  return new Promise((resolve, reject) => {
    let client: HTTPClient | undefined;
    let settled = false;
    let status = 0;
    const headers: Record<string, string> = {};
    const chunks: Uint8Array[] = [];
    let received = 0;
    let sent = 0;

    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) Timer.clear(timer);
      client?.close();
      if (error !== undefined) reject(error);
      else resolve({ status, headers, body: concatBytes(...chunks) });
    };
    // Cleared on every other outcome; a fired one-shot timer is gone and must not be cleared.
    let timer: Timer | undefined = Timer.set(() => {
      timer = undefined;
      finish(new PaypadError('HTTP_TIMEOUT', `${what}: no complete response within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    const fail = (stage: string): void => finish(new PaypadError('HTTP_FAILED', `${what}: ${stage}`));

    try {
      client = new HTTPClient({
        host: target.host,
        port: target.port,
        dns: { io: LiteralOrUdpResolver, servers: dnsServers, socket: { io: UDP } },
        socket: target.secure ? { io: TLSSocket, TCP: { io: TCP }, secure: secureOptions(target.host, req.tls) } : { io: TCP },
        onError: () => fail('connection failed (DNS, connect or TLS handshake)'),
      });
      client.request({
        method: req.method,
        path: target.path,
        headers: req.headers,
        // Map<String, ...> is how @moddable/typings declares it; the names are plain strings.
        onHeaders(code: number, responseHeaders: Map<String, string>) {
          status = code;
          responseHeaders.forEach((value, name) => (headers[String(name)] = value));
        },
        onWritable(count: number) {
          // The client asks for content-length bytes in pieces of at most `count`.
          if (!body || sent >= body.length) return;
          const n = Math.min(count, body.length - sent);
          this.write(body.slice(sent, sent + n).buffer);
          sent += n;
        },
        onReadable(count: number) {
          const data = this.read(count);
          if (!data || settled) return;
          const chunk = new Uint8Array(data);
          if (sink) {
            try {
              sink(chunk);
            } catch (e) {
              finish(e); // the sink's own error (an Updater refusing a chunk) is the caller's
            }
            return;
          }
          received += chunk.length;
          if (received > req.maxResponseBytes) {
            finish(new PaypadError('PAYLOAD_TOO_LARGE', `${what}: response body over ${req.maxResponseBytes} bytes`));
          } else {
            chunks.push(chunk);
          }
        },
        onDone(error: Error | null) {
          if (error) fail('connection lost before the response was complete');
          else finish();
        },
      });
    } catch {
      fail('could not start the request');
    }
  });
}

/** Moddable TLS `secure` options (modules/crypt/ssl: CertificateManager, SSLSession). */
function secureOptions(host: string, tls: TlsOptions | undefined): Record<string, unknown> {
  const secure: Record<string, unknown> = { protocolVersion: 0x303 }; // TLS 1.2, the highest Moddable offers
  if (!isIpv4(host)) secure.serverName = host; // SNI carries names only (RFC 6066 §3)
  if (tls?.trustAnchor) secure.certificate = exact(tls.trustAnchor);
  if (tls?.clientCertificate && tls.clientKey) {
    secure.clientCertificates = [exact(tls.clientCertificate)];
    secure.clientKey = exact(tls.clientKey);
  }
  return secure;
}

/** An ArrayBuffer holding exactly the view's bytes. */
function exact(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}
