/**
 * The platform's data channel on the host app (C1, C2: the payee interface unit's "data
 * communication interface"), mounted at /mobile:
 *
 *   POST /mobile/v1/payees                       {name, mobile, pan}   202 {registrationId, kind, mobile, expiresAt}
 *   POST /mobile/v1/payees/:mobile/updates       {name?, pan?}         202 as above; the code goes to the registered number
 *   POST /mobile/v1/registrations/:id/confirm    {code}                200 {mobile, name, maskedCard, ...}
 *   POST /mobile/v1/reconciliations             {businessDay, currency} 200 the report (C9); loopback callers only
 *
 * Errors leave through the host's one error handler with their codes (host/http/errors.ts);
 * RATE_LIMITED is 429 with Retry-After (RFC 6585 §4, RFC 9110 §10.2.3). Payee lookups are not
 * offered here: they come from terminals through the POSP, which knows which terminal and
 * merchant to charge; an open lookup route would be a directory to scrape.
 */
import { isIP } from 'node:net';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { PaypadError } from '../../../shared/errors';
import { RateLimited } from './lookupBuckets';
import type { MobilePayments } from './mobilePayments';

export function createMobileRouter(mobile: MobilePayments): Router {
  const router = express.Router();
  const body = (req: Request): Record<string, unknown> => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new PaypadError('BAD_REQUEST', 'expected a JSON object body');
    return req.body as Record<string, unknown>;
  };

  router.post('/v1/payees', async (req, res) => {
    const b = body(req);
    res.status(202).json(await mobile.payees.startRegistration({ name: b.name as string, mobile: b.mobile as string, pan: b.pan as string }, 'data'));
  });

  router.post('/v1/payees/:mobile/updates', async (req, res) => {
    const b = body(req);
    res.status(202).json(await mobile.payees.startUpdate({ mobile: String(req.params.mobile), name: b.name as string | undefined, pan: b.pan as string | undefined }, 'data'));
  });

  router.post('/v1/registrations/:id/confirm', async (req, res) => {
    res.json(await mobile.payees.confirm(String(req.params.id), body(req).code as string));
  });

  router.post('/v1/reconciliations', loopbackOnly('reconciliation is an operator action: run it on the host (paypad mobile reconcile)'), async (req, res) => {
    const b = body(req);
    res.json(await mobile.reconcile(b.businessDay as string, b.currency as string));
  });

  // Retry-After for a refused registration; then the host's error handler answers as for every error.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof RateLimited) res.set('Retry-After', String(err.retryAfterS));
    next(err);
  });
  return router;
}

/** OPERATOR_ONLY (403) unless the caller is on the host's own machine (a loopback address). */
export function loopbackOnly(why: string): RequestHandler {
  return (req, _res, next) => {
    const address = req.socket.remoteAddress ?? '';
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    if (plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'))) return next();
    throw new PaypadError('OPERATOR_ONLY', why);
  };
}
