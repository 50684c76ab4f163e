/**
 * MTMS's routes (docs/key-loading.md "Flow" 2-3):
 *
 *   public:
 *     GET  /mtms/v1/intake-key                  -> MtmsIntakeKey   (the key terminals wrap TK for)
 *   operator-facing, behind a client certificate of role operator (A8):
 *     POST /mtms/v1/lookup         lookupRequest -> customerInfo          (A2, A3)
 *     POST /mtms/v1/customer-name  customerNameRequest -> customerInfo    (A6, A14)
 *     POST /mtms/v1/tk             tkIntakeRequest -> tkIntakeReceipt     (A5, A6, A7)
 *
 * Failures leave as {"error":{"code","message"}} with the statuses of mtmsHttpStatus.
 */
import express, { type ErrorRequestHandler, type Request, Router } from 'express';
import { toHex } from '../../shared/bytes';
import { type ErrorCode, isPaypadError, PaypadError } from '../../shared/errors';
import { MESSAGE_VERSION, toErrorBody, validateMessage } from '../../shared/protocol/messages';
import { httpStatusOf, sendError } from '../http/errors';
import { type RevocationSource, requireClientCert } from '../tls/requireClientCert';
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

/** Operator messages are small JSON documents; an envelope is at most 512 hex digits. */
const OPERATOR_BODY_LIMIT_BYTES = 4 * 1024;

const MTMS_STATUS: Partial<Record<ErrorCode, number>> = {
  MTMS_SERIAL_UNKNOWN: 404,
  MTMS_CUSTOMER_UNKNOWN: 404,
  // RFC 9110 §15.5.21: well-formed, but the envelope is not one MTMS can open for this serial.
  KEY_UNWRAP_FAILED: 422,
  KEY_ENVELOPE_UNSUPPORTED: 422,
  PUBLIC_KEY_INVALID: 422,
  HSM_UNAVAILABLE: 503,
  HSM_HANDLE_INVALID: 500,
  HSM_LMK_INVALID: 500,
};

export function mtmsHttpStatus(code: ErrorCode): number {
  return MTMS_STATUS[code] ?? httpStatusOf(code);
}

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
    res.set('Cache-Control', 'no-store').json(await service.lookup(request.serial));
  });

  router.post(`${MTMS_API_PREFIX}/customer-name`, ...operatorOnly, async (req, res) => {
    const request = validateMessage('customerNameRequest', req.body);
    res.set('Cache-Control', 'no-store').json(await service.customerNameFor(request.serial, request.customerCode, operatorOf(req)));
  });

  router.post(`${MTMS_API_PREFIX}/tk`, ...operatorOnly, async (req, res) => {
    const receipt = await service.intakeTk(req.body, operatorOf(req));
    req.log?.info({ serial: receipt.serial, customerCode: receipt.customerCode, deliveryId: receipt.deliveryId, operator: req.peer?.name }, 'TK intake');
    res.set('Cache-Control', 'no-store').json(receipt);
  });

  router.use(mtmsErrors);
  return router;
}

function operatorOf(req: Request): OperatorIdentity {
  // requireClientCert ran before: a missing peer here is a wiring mistake, never the client's.
  if (req.peer === undefined) throw new PaypadError('INTERNAL', 'operator route reached without a verified client certificate');
  return { name: req.peer.name, certSerial: req.peer.serial };
}

/** Typed error answers with MTMS's statuses; anything else goes on to the app's handler (INTERNAL, logged). */
const mtmsErrors: ErrorRequestHandler = (err: unknown, req: Request, res, next) => {
  if (res.headersSent || !isPaypadError(err)) {
    next(err);
    return;
  }
  const status = mtmsHttpStatus(err.code);
  if (status >= 500) req.log?.error({ err }, 'MTMS request failed');
  const { error } = toErrorBody(err);
  sendError(res, err.code, error.message, status);
};
