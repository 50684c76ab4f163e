/**
 * mtlsRequest: one JSON request to a paypad peer over mutual TLS (A8). We present our identity's
 * certificate; the peer must chain to the paypad CA alone (not the system's public CAs), match
 * the URL's host (RFC 6125 via tls.checkServerIdentity), and carry the role we expect and, for a
 * KMS, the customer we mean: MTMS never hands a TK envelope to another customer's KMS.
 *
 * The checks run inside the handshake (checkServerIdentity), before the request body leaves:
 * node:tls holds written data until the handshake is verified and discards it on failure.
 * Revocation needs the CA's register (or a CRL), which is asynchronous: with `revocation` the
 * request is written only once the handshake is done and the peer's certificate is found
 * neither revoked nor unknown to the CA, so a revoked peer gets no request line, no header, no
 * byte of the body (node:https sends the headers with the first write, not before).
 * Each request uses its own connection (agent: false): a pooled socket would skip the
 * per-request peer check.
 */
import { request as httpsRequest } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import { isPaypadError, PaypadError } from '../../shared/errors';
import type { CertRole } from '../ca/roles';
import type { TlsIdentity } from './identity';
import { type PeerIdentity, peerIdentityOf, peerMismatch, type RevocationSource } from './peer';
import { TLS_CIPHERS, TLS_ECDH_CURVES, TLS_MIN_VERSION } from './serverOptions';

export interface MtlsRequestOptions {
  readonly url: string | URL;
  readonly identity: TlsIdentity;
  /** The trust anchor for the peer; the identity's CA when omitted. */
  readonly caCert?: string;
  readonly expectPeer: { readonly role: CertRole; readonly customerCode?: string };
  /** The CA's register (or a CRL): the peer's certificate must be in it and not revoked (A8). */
  readonly revocation?: RevocationSource;
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
}

export interface MtlsResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined for an empty body. */
  readonly json: unknown;
  /** Who answered, from its certificate. */
  readonly peer: PeerIdentity;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * @throws PaypadError PEER_CERT_UNTRUSTED (chain, host name, or a certificate the CA's register
 * does not hold), PEER_CERT_MISMATCH (role or customer), PEER_CERT_REVOKED, HTTP_TIMEOUT, HTTP_FAILED (connection, oversized or non-JSON answer), BAD_ARGUMENT.
 * An HTTP error status is not thrown: the caller reads `status` and the typed error body.
 */
export async function mtlsRequest(options: MtlsRequestOptions): Promise<MtlsResponse> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new PaypadError('BAD_ARGUMENT', 'mutual TLS needs an https:// URL');
  }
  if (url.protocol !== 'https:') throw new PaypadError('BAD_ARGUMENT', `mutual TLS needs an https:// URL, got ${url.protocol}//`);
  // Every KMS holds one customer's keys: calling "any KMS" is never what a caller means.
  if (options.expectPeer.role === 'kms' && options.expectPeer.customerCode === undefined) {
    throw new PaypadError('BAD_ARGUMENT', 'a call to a KMS must name the customer whose KMS it expects');
  }
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), 'utf8');
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const expected = { roles: [options.expectPeer.role], customerCode: options.expectPeer.customerCode };
  let peer: PeerIdentity | undefined;

  return new Promise<MtlsResponse>((resolve, reject) => {
    const req = httpsRequest(url, {
      method,
      agent: false,
      cert: options.identity.certPem,
      key: options.identity.keyPem,
      ca: [options.caCert ?? options.identity.caPem],
      rejectUnauthorized: true,
      minVersion: TLS_MIN_VERSION,
      ciphers: TLS_CIPHERS,
      ecdhCurve: TLS_ECDH_CURVES,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      headers: {
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
        ...options.headers,
      },
      // Runs after the chain verified against `ca`: then the host name, then who the peer is.
      checkServerIdentity(host: string, cert: PeerCertificate) {
        const hostError = checkServerIdentity(host, cert);
        if (hostError) return new PaypadError('PEER_CERT_UNTRUSTED', `the peer's certificate does not name ${host.slice(0, 253)}: ${hostError.message}`);
        try {
          peer = peerIdentityOf(cert.raw);
        } catch (e) {
          return new PaypadError('PEER_CERT_MISMATCH', (e as Error).message);
        }
        const mismatch = peerMismatch(peer, expected);
        return mismatch === undefined ? undefined : new PaypadError('PEER_CERT_MISMATCH', mismatch);
      },
    });
    const revocation = options.revocation;
    if (revocation !== undefined) {
      req.once('socket', (socket) =>
        socket.once('secureConnect', () => {
          if (peer === undefined) return req.destroy(new PaypadError('INTERNAL', 'the peer was not identified during the handshake'));
          peerRevocationError(revocation, peer).then(
            (refusal) => (refusal === undefined ? req.end(payload) : req.destroy(refusal)),
            (e: unknown) => req.destroy(isPaypadError(e) ? e : Object.assign(new PaypadError('DB_UNAVAILABLE', "cannot read the CA's register"), { cause: e })),
          );
        }),
      );
    }
    req.on('timeout', () => req.destroy(new PaypadError('HTTP_TIMEOUT', `no answer from ${url.host} within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)));
    req.on('error', (e) => reject(translateError(e, url)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          // Settle first: 'end' may still fire after destroy, and the first settlement wins.
          reject(new PaypadError('HTTP_FAILED', `the answer from ${url.host} exceeds ${maxBytes} bytes`));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (e) => reject(translateError(e, url)));
      // A connection cut mid-answer: no 'end'; settling twice is harmless.
      res.on('close', () => {
        if (!res.complete) reject(new PaypadError('HTTP_FAILED', `the answer from ${url.host} was cut off`));
      });
      res.on('end', () => {
        if (peer === undefined) return reject(new PaypadError('INTERNAL', 'the peer was not identified during the handshake'));
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          return reject(new PaypadError('HTTP_FAILED', `the answer from ${url.host} (status ${res.statusCode}) is not JSON`));
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json, peer });
      });
    });
    if (revocation === undefined) req.end(payload);
  });
}

/** Why the peer's certificate may not be used, by the CA's register; undefined when it is good. */
async function peerRevocationError(revocation: RevocationSource, peer: PeerIdentity): Promise<PaypadError | undefined> {
  const status = await revocation.revocationStatus(peer.serial);
  if (status === 'revoked') return new PaypadError('PEER_CERT_REVOKED', `the peer's certificate ${peer.serial} (${peer.role} ${peer.name}) has been revoked`);
  // Fail closed, as for clients: a certificate the CA never recorded is not one of ours.
  if (status === 'unknown') return new PaypadError('PEER_CERT_UNTRUSTED', `the peer's certificate ${peer.serial} is not in the CA's register`);
  return undefined;
}

// OpenSSL verify codes Node reports when the peer's chain is not acceptable.
const CHAIN_ERRORS = /^(?:UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|ERR_TLS_CERT|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH|HOSTNAME_MISMATCH)/;

function translateError(e: unknown, url: URL): PaypadError {
  if (isPaypadError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (CHAIN_ERRORS.test(code)) return new PaypadError('PEER_CERT_UNTRUSTED', `the peer ${url.host} is not trusted: ${code}`);
  return Object.assign(new PaypadError('HTTP_FAILED', `request to ${url.host} failed: ${code || (e as Error).message}`), { cause: e });
}
