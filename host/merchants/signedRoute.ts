/**
 * signedRequest.ts on an Express route: the request as signed (method, path and query as sent,
 * the body's bytes as received: host/http/rawBody.ts) and a middleware that lets only a verified
 * request through, with its signer in `res.locals.signer`. Any route of any merchant-facing API
 * uses it the same way:
 *
 *   router.post('/v1/orders', requireSignedRequest(directory.signers, clock), (req, res) => {
 *     const { keyId: merchantId } = signerOf(res); ...
 *   });
 */
import type { IncomingMessage } from 'node:http';
import type { RequestHandler, Response } from 'express';
import { PaypadError } from '../../shared/errors';
import { rawBodyOf } from '../http/rawBody';
import { type SignedRequest, type SignerRegistry, type VerifiedRequest, verifySignedRequest } from './signedRequest';

export function signedRequestOf(req: IncomingMessage & { originalUrl?: string }): SignedRequest {
  const target = req.originalUrl ?? req.url ?? '/';
  const queryAt = target.indexOf('?');
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? undefined : value;
  };
  return {
    method: req.method ?? 'GET',
    path: queryAt < 0 ? target : target.slice(0, queryAt),
    query: queryAt < 0 ? '' : target.slice(queryAt),
    body: rawBodyOf(req),
    contentDigest: header('content-digest'),
    signatureInput: header('signature-input'),
    signature: header('signature'),
  };
}

/** Verifies the request (signedRequest.ts) before the route runs; a refusal goes to the error handler. */
export function requireSignedRequest(signers: SignerRegistry, clock: () => Date): RequestHandler {
  return (req, res, next) => {
    verifySignedRequest(signedRequestOf(req), signers, clock()).then((signer) => {
      res.locals.signer = signer;
      next();
    }, next);
  };
}

/** The signer requireSignedRequest verified. */
export function signerOf(res: Response): VerifiedRequest {
  const signer = res.locals.signer as VerifiedRequest | undefined;
  if (signer === undefined) throw new PaypadError('INTERNAL', 'the route is not behind requireSignedRequest');
  return signer;
}
