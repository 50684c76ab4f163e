/**
 * HAL Http for the emulated terminal, over node:http / node:https, with the device adapter's
 * rules (firmware/hal/moddable/httpRequest: URL forms, header checks, default timeout and body
 * limit) so a request the emulator sends is one the board could send.
 *
 * TLS is held to what the PIN pad's Moddable TLS speaks (host/tls/serverOptions.ts): TLS 1.2,
 * ECDHE-ECDSA with AES-128-GCM on P-256. A host the board could not reach fails here too. The
 * trust anchor, when given, is the ONLY CA trusted (the paypad CA pinned at manufacture); the
 * host name is checked against the certificate's subjectAltName as usual. One connection per
 * request (no agent), like the device.
 */
import { createPrivateKey } from 'node:crypto';
import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { concatBytes } from 'shared/bytes';
import { PaypadError } from 'shared/errors';
import type { Http, HttpRequest, HttpResponse, TlsOptions } from '../http';
import { prepareHttpRequest, type PreparedHttpRequest } from '../moddable/httpRequest';

const DEVICE_TLS = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', ecdhCurve: 'P-256' } as const;

function pem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${base64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

function tlsOptions(tls: TlsOptions | undefined): RequestOptions {
  const options: RequestOptions = { ...DEVICE_TLS };
  if (tls?.trustAnchor) options.ca = [pem('CERTIFICATE', tls.trustAnchor)];
  if (tls?.clientCertificate && tls.clientKey) {
    options.cert = pem('CERTIFICATE', tls.clientCertificate);
    options.key = createPrivateKey({ key: Buffer.from(tls.clientKey), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' });
  }
  return options;
}

function headerMap(message: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

export function createNodeHttp(): Http {
  return {
    request(request: HttpRequest): Promise<HttpResponse> {
      const prepared = prepareHttpRequest(request);
      if (typeof prepared === 'string') return Promise.reject(new PaypadError('BAD_ARGUMENT', `http: ${prepared}`));
      return exchange(prepared, request.onBodyChunk);
    },
  };
}

function exchange(req: PreparedHttpRequest, sink: ((chunk: Uint8Array) => void) | undefined): Promise<HttpResponse> {
  const { target } = req;
  const what = `${req.method} ${target.secure ? 'https' : 'http'}://${target.host}:${target.port}${target.path.split('?')[0]}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const chunks: Uint8Array[] = [];
    let received = 0;
    let response: IncomingMessage | undefined;
    let client: ClientRequest | undefined;

    const finish = (error?: PaypadError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== undefined) {
        client?.destroy();
        reject(error);
      } else {
        resolve({ status: response?.statusCode ?? 0, headers: response ? headerMap(response) : {}, body: concatBytes(...chunks) });
      }
    };
    const timer = setTimeout(() => finish(new PaypadError('HTTP_TIMEOUT', `${what}: no complete response within ${req.timeoutMs} ms`)), req.timeoutMs);

    try {
      const options: RequestOptions = {
        method: req.method,
        host: target.host,
        port: target.port,
        path: target.path,
        headers: Object.fromEntries(req.headers),
        agent: false,
        ...(target.secure ? tlsOptions(req.tls) : {}),
      };
      client = (target.secure ? httpsRequest : httpRequest)(options, onResponse);
    } catch (e) {
      // Node refusing the options (a client key that is not PKCS#8 DER, say) before any I/O.
      finish(new PaypadError('BAD_ARGUMENT', `${what}: ${(e as NodeJS.ErrnoException).code ?? 'request options refused'}`));
      return;
    }
    // Error codes (ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID...) name the failure and carry no secrets.
    client.on('error', (e: NodeJS.ErrnoException) => finish(new PaypadError('HTTP_FAILED', `${what}: ${e.code ?? 'connection failed'}`)));
    client.end(req.body === undefined ? undefined : Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length));

    function onResponse(res: IncomingMessage): void {
      response = res;
      res.on('data', (data: Buffer) => {
        if (settled) return;
        const chunk = new Uint8Array(data);
        if (sink) {
          try {
            sink(chunk);
          } catch (e) {
            finish(e instanceof PaypadError ? e : new PaypadError('HTTP_FAILED', `${what}: the body sink failed`));
          }
          return;
        }
        received += chunk.length;
        if (received > req.maxResponseBytes) finish(new PaypadError('PAYLOAD_TOO_LARGE', `${what}: response body over ${req.maxResponseBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => finish());
      res.on('close', () => {
        if (!res.complete) finish(new PaypadError('HTTP_FAILED', `${what}: connection lost before the response was complete`));
      });
    }
  });
}
