/**
 * The baseline the KMS is measured against: node:http and node:https servers that do nothing but
 * read the request and answer a fixed small JSON body. The https one listens with a certificate
 * made as the KMS's (kmsTestbed.ts) and host/tls serverTlsOptions, as the KMS does, so a request
 * to it pays the same TLS handshake as a terminal's request to the KMS, and nothing else.
 *
 * Requests go through the terminal's own HAL client (firmware/hal/node/http: the device's TLS
 * suite and group, one connection per request), so KMS ÷ bare isolates what the KMS and the
 * terminal's key handling add to a round trip.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { asciiToBytes } from '../shared/bytes';
import { PaypadError } from '../shared/errors';
import type { Http } from '../firmware/hal/http';
import type { TlsIdentity } from '../host/tls/identity';
import { serverTlsOptions } from '../host/tls/serverOptions';

export interface BareServers {
  /** http://127.0.0.1:<port> */
  readonly httpUrl: string;
  /** https://127.0.0.1:<port>, the KMS's TLS settings. */
  readonly httpsUrl: string;
  close(): Promise<void>;
}

/** The path requested and the body sent: the size of a terminal's tmkRequest / signOnRequest. */
export const BARE_PATH = '/bare';
const REQUEST_BODY = asciiToBytes('{"v":1}');
const ANSWER = Buffer.from('{"v":1}');

function answer(req: IncomingMessage, res: ServerResponse): void {
  // Read the body to its end, as the KMS does, before answering.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': ANSWER.length, 'cache-control': 'no-store' });
    res.end(ANSWER);
  });
}

function listen(server: HttpServer, scheme: 'http' | 'https'): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

export async function startBareServers(identity: TlsIdentity): Promise<BareServers> {
  const plain = createHttpServer(answer);
  const secure = createHttpsServer(serverTlsOptions(identity), answer);
  try {
    const [httpUrl, httpsUrl] = await Promise.all([listen(plain, 'http'), listen(secure, 'https')]);
    return { httpUrl, httpsUrl, close: async () => void (await Promise.all([closeServer(plain), closeServer(secure)])) };
  } catch (e) {
    await Promise.all([closeServer(plain), closeServer(secure)]);
    throw e;
  }
}

/** One baseline round trip through `http`, trusting `trustAnchor` for https; HTTP_FAILED unless the bare server answered 200. */
export async function bareRequest(http: Http, url: string, trustAnchor: Uint8Array): Promise<void> {
  const tls = url.startsWith('https:') ? { tls: { trustAnchor } } : {};
  const response = await http.request({ method: 'POST', url: url + BARE_PATH, headers: { 'content-type': 'application/json' }, body: REQUEST_BODY, ...tls });
  if (response.status !== 200) throw new PaypadError('HTTP_FAILED', `bare server answered ${response.status}`);
}
