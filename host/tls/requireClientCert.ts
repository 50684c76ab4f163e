/**
 * requireClientCert: the Express gate in front of every route that a certificate unlocks (A8).
 * A request passes only when its TLS connection presented a certificate that
 *   1. chains to the paypad CA and is within its validity (OpenSSL checked it in the handshake:
 *      socket.authorized, with the CA of serverTlsOptions as the only anchor),
 *   2. names a paypad role (CN, OU, O as the CA writes them),
 *   3. is in the CA's register and not revoked (checked per request, cached for a few seconds
 *      per serial, so a revocation takes effect on open keep-alive connections too), and
 *   4. has a role this route allows (and, when the route is bound to a customer, is that
 *      customer's KMS).
 * The peer's identity is then on `req.peer`.
 *
 * Refusals are typed: 401 CLIENT_CERT_REQUIRED (none presented, or not over TLS),
 * 401 CLIENT_CERT_UNTRUSTED (another CA, expired, wrong purpose, unknown to the CA),
 * 401 CLIENT_CERT_REVOKED, 403 CLIENT_CERT_ROLE.
 */
import type { RequestHandler } from 'express';
import { TLSSocket } from 'node:tls';
import { type ErrorCode, PaypadError } from '../../shared/errors';
import type { CertRole } from '../ca/roles';
import { sendError } from '../http/errors';
import { type PeerIdentity, peerIdentityOf, peerMismatch, presentedCertificate, type RevocationSource, type RevocationStatus } from './peer';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by requireClientCert: who the client certificate names. */
      peer?: PeerIdentity;
    }
  }
}

export interface ClientCertOptions {
  readonly roles: readonly CertRole[];
  /** Binds the route to one customer: a KMS peer must carry this customer code. */
  readonly customerCode?: string;
  readonly revocation: RevocationSource;
  /** How long a serial's status is reused; 0 checks the register on every request. */
  readonly cacheMs?: number;
  readonly clock?: () => number;
}

export const DEFAULT_REVOCATION_CACHE_MS = 5_000;
/** Bounds the cache: past this many serials the oldest entries are dropped. */
const MAX_CACHED_SERIALS = 10_000;

export function requireClientCert(options: ClientCertOptions): RequestHandler {
  if (options.roles.length === 0) throw new PaypadError('BAD_ARGUMENT', 'requireClientCert needs at least one role');
  const cacheMs = options.cacheMs ?? DEFAULT_REVOCATION_CACHE_MS;
  const clock = options.clock ?? Date.now;
  const statusCache = new Map<string, { status: RevocationStatus; at: number }>();
  // One parse per connection: keep-alive requests on the same socket reuse it.
  const identities = new WeakMap<TLSSocket, PeerIdentity | Error>();

  const revocationStatus = async (serial: string): Promise<RevocationStatus> => {
    const cached = statusCache.get(serial);
    if (cached !== undefined && clock() - cached.at < cacheMs) return cached.status;
    const status = await options.revocation.revocationStatus(serial);
    if (cacheMs > 0) {
      statusCache.delete(serial);
      if (statusCache.size >= MAX_CACHED_SERIALS) statusCache.delete(statusCache.keys().next().value as string);
      statusCache.set(serial, { status, at: clock() });
    }
    return status;
  };

  return async (req, res, next) => {
    const refuse = (code: ErrorCode, message: string) => sendError(res, code, message);
    const socket = req.socket;
    if (!(socket instanceof TLSSocket)) return refuse('CLIENT_CERT_REQUIRED', 'this route needs HTTPS with a client certificate from the paypad CA');
    const der = presentedCertificate(socket.getPeerCertificate());
    if (der === undefined) return refuse('CLIENT_CERT_REQUIRED', 'this route needs a client certificate from the paypad CA; none was presented');
    if (!socket.authorized) {
      // authorizationError is OpenSSL's verify code name (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE): no secrets.
      return refuse('CLIENT_CERT_UNTRUSTED', `the client certificate was not accepted: ${String(socket.authorizationError ?? 'verification failed')}`);
    }
    let identity = identities.get(socket);
    if (identity === undefined) {
      try {
        identity = peerIdentityOf(der);
      } catch (e) {
        identity = e as Error;
      }
      identities.set(socket, identity);
    }
    if (identity instanceof Error) return refuse('CLIENT_CERT_UNTRUSTED', identity.message);
    try {
      const status = await revocationStatus(identity.serial);
      if (status === 'revoked') return refuse('CLIENT_CERT_REVOKED', `the client certificate ${identity.serial} has been revoked`);
      // Fail closed: a certificate the CA never recorded (lost register, foreign copy of the CA key) is refused.
      if (status === 'unknown') return refuse('CLIENT_CERT_UNTRUSTED', `the client certificate ${identity.serial} is not in the CA's register`);
    } catch (e) {
      return next(e);
    }
    const mismatch = peerMismatch(identity, { roles: options.roles, customerCode: options.customerCode });
    if (mismatch !== undefined) return refuse('CLIENT_CERT_ROLE', mismatch);
    req.peer = identity;
    next();
  };
}
