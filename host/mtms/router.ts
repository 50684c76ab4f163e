/**
 * MTMS's routes (docs/key-loading.md "Flow" 2-3):
 *
 *   public:
 *     GET  /mtms/v1/intake-key                  -> MtmsIntakeKey   (the key terminals wrap TK for)
 *   operator-facing, behind a client certificate of role operator (A8):
 *     POST /mtms/v1/lookup         lookupRequest -> customerInfo          (A2, A3, A14)
 *     POST /mtms/v1/customer-name  customerNameRequest -> customerInfo    (A6, A14)
 *   The two lookups, and enrolment challenges below, are limited per operator certificate
 *   (lookupLimits.ts): 429 MTMS_LOOKUP_RATE_LIMITED with Retry-After when the operator's bucket is empty.
 *     POST /mtms/v1/tk-challenge        deviceChallengeRequest -> deviceChallenge  (A8: nonce for the device)
 *     POST /mtms/v1/tk                  tkIntakeRequest -> tkIntakeReceipt         (A5, A6, A7, A8)
 *   the production line, enrolling a device (A8, deviceEnrolment.ts), same certificate rule:
 *     POST /mtms/v1/device-challenge    deviceChallengeRequest -> deviceChallenge
 *     POST /mtms/v1/device-certificate  deviceEnrolmentRequest -> deviceCertificate
 *
 * Failures leave through the listener's one error handler (host/http/errors) as
 * {"error":{"code","message"}}.
 */
import express, { type Request, type Response, Router } from 'express';
import { toHex } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import { MESSAGE_VERSION, validateMessage } from '../../shared/protocol/messages';
import type { RevocationSource } from '../tls/peer';
import { requireClientCert } from '../tls/requireClientCert';
import { LookupRateLimited } from './lookupLimits';
import type { MtmsService } from './mtmsService';
import type { OperatorIdentity } from './mtmsTables';

export const MTMS_API_PREFIX = '/mtms/v1';

/** GET /mtms/v1/intake-key: what a terminal or an operator pins (A10). */
export interface MtmsIntakeKey {
  readonly v: number;
  /** Uncompressed SEC 1 P-256 point, uppercase hex (130 digits). */
  readonly publicKey: string;
  /** Leftmost 5 bytes of SHA-256 of the public key, hex: to compare by eye. */
  readonly kcv: string;
}

/** Operator messages are small JSON documents: an envelope is at most 512 hex digits, a device certificate 2,400. */
const OPERATOR_BODY_LIMIT_BYTES = 8 * 1024;

export interface MtmsRouterOptions {
  readonly service: MtmsService;
  /** The CA register: operator certificates are checked against it per request (A8). */
  readonly revocation: RevocationSource;
}

export function createMtmsRouter(options: MtmsRouterOptions): Router {
  const { service } = options;
  const router = Router();
  const operatorOnly = [requireClientCert({ roles: ['operator'], revocation: options.revocation }), express.json({ limit: OPERATOR_BODY_LIMIT_BYTES })];

  router.get(`${MTMS_API_PREFIX}/intake-key`, (_req, res) => {
    const { publicKey, kcv } = service.intakePublicKey();
    const body: MtmsIntakeKey = { v: MESSAGE_VERSION, publicKey: toHex(publicKey), kcv };
    res.json(body);
  });

  router.post(`${MTMS_API_PREFIX}/lookup`, ...operatorOnly, async (req, res) => {
    const request = validateMessage('lookupRequest', req.body);
    res.set('Cache-Control', 'no-store').json(await withRetryAfter(res, service.lookup(request.serial, operatorOf(req))));
  });

  router.post(`${MTMS_API_PREFIX}/customer-name`, ...operatorOnly, async (req, res) => {
    const request = validateMessage('customerNameRequest', req.body);
    res.set('Cache-Control', 'no-store').json(await withRetryAfter(res, service.customerNameFor(request.serial, request.customerCode, operatorOf(req))));
  });

  router.post(`${MTMS_API_PREFIX}/tk-challenge`, ...operatorOnly, async (req, res) => {
    const request = validateMessage('deviceChallengeRequest', req.body);
    res.set('Cache-Control', 'no-store').json(await service.deviceChallenge(request.serial, 'tk', operatorOf(req)));
  });

  router.post(`${MTMS_API_PREFIX}/device-challenge`, ...operatorOnly, async (req, res) => {
    const request = validateMessage('deviceChallengeRequest', req.body);
    res.set('Cache-Control', 'no-store').json(await withRetryAfter(res, service.deviceChallenge(request.serial, 'enrol', operatorOf(req))));
  });

  router.post(`${MTMS_API_PREFIX}/device-certificate`, ...operatorOnly, async (req, res) => {
    const answer = await service.enrolDevice(req.body, operatorOf(req));
    req.log?.info({ serial: answer.serial, operator: req.peer?.name }, 'device enrolled');
    res.set('Cache-Control', 'no-store').json(answer);
  });

  router.post(`${MTMS_API_PREFIX}/tk`, ...operatorOnly, async (req, res) => {
    const receipt = await service.intakeTk(req.body, operatorOf(req));
    req.log?.info({ serial: receipt.serial, customerCode: receipt.customerCode, deliveryId: receipt.deliveryId, operator: req.peer?.name }, 'TK intake');
    res.set('Cache-Control', 'no-store').json(receipt);
  });

  return router;
}

/** A refused lookup leaves through the one error handler with Retry-After set (RFC 6585 §4). */
async function withRetryAfter<T>(res: Response, answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (e) {
    if (e instanceof LookupRateLimited) res.set('Retry-After', String(e.retryAfterS));
    throw e;
  }
}

function operatorOf(req: Request): OperatorIdentity {
  // requireClientCert ran before: a missing peer here is a wiring mistake, never the client's.
  if (req.peer === undefined) throw new PaypadError('INTERNAL', 'operator route reached without a verified client certificate');
  return { name: req.peer.name, certSerial: req.peer.serial };
}
