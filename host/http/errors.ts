/**
 * The host's one error boundary (STYLE: every error goes to one handler that turns it into a typed
 * response). Every failure leaves as `{"error":{"code","message"}}` with a stable code; stack
 * traces and the messages of unexpected errors stay in the log.
 */
import { STATUS_CODES } from 'node:http';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { isPaypadError, type ErrorCode } from '../../shared/errors';
import { toErrorBody } from '../../shared/protocol/messages';
import { type Logger, requestLogger } from '../log';

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/**
 * HTTP status of every code that is not a plain 400, for every listener (the HTTP app, MTMS, each
 * KMS): the one map. A KMS decides a terminal response's status before it MACs the response
 * (host/kms/terminalEnvelope), from this same map.
 */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  // RFC 9110 §15.5.2 / §15.5.4: no usable client certificate, or one for another role (A8).
  CLIENT_CERT_REQUIRED: 401,
  CLIENT_CERT_UNTRUSTED: 401,
  CLIENT_CERT_REVOKED: 401,
  CLIENT_CERT_ROLE: 403,
  // RFC 9110 §15.5.2: the request's credentials (a terminal's MAC) do not verify; a KMS gives
  // the same answer for a serial it does not hold (host/kms/terminalEnvelope: no serial oracle).
  MAC_MISMATCH: 401,
  KMS_CUSTOMER_MISMATCH: 403,
  NOT_FOUND: 404,
  MTMS_SERIAL_UNKNOWN: 404,
  MTMS_REPAIR_NOT_AUTHORISED: 403,
  // A8: the PIN pad behind a TK upload is not the enrolled device of that serial: its certificate
  // does not chain, is not a device's for that serial, is revoked, or its signature does not verify.
  DEVICE_CERT_INVALID: 403,
  DEVICE_CERT_REVOKED: 403,
  DEVICE_SIGNATURE_INVALID: 403,
  // The nonce was never issued for this serial, has been used, or has expired: ask for a new one.
  MTMS_CHALLENGE_INVALID: 403,
  MTMS_CUSTOMER_UNKNOWN: 404,
  // RFC 9110 §15.5.9: the client did not send its request within the listener's time limits.
  REQUEST_TIMEOUT: 408,
  // RFC 9110 §15.5.10: authentic, but in conflict with the stored state.
  PROTOCOL_REPLAY: 409,
  POSP_REQUEST_IN_PROGRESS: 409,
  KMS_KEY_STATE: 409,
  DELIVERY_CONFLICT: 409,
  MTMS_DEVICE_ENROLLED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  // RFC 9110 §15.5.21: well-formed, but the envelope is not one the HSM can open for this serial.
  KEY_UNWRAP_FAILED: 422,
  KEY_ENVELOPE_UNSUPPORTED: 422,
  PUBLIC_KEY_INVALID: 422,
  // RFC 6585 §4: the operator's lookup bucket is empty; Retry-After says when a lookup is possible.
  MTMS_LOOKUP_RATE_LIMITED: 429,
  // Mobile payments (C1-C9): an empty lookup or registration bucket (RFC 6585 §4, with Retry-After);
  // unknown payees and ids; a number registered twice or a reference reused with other data; a card
  // the provider will not verify or a paying card's bank outside its contracts; an operator action asked from afar.
  RATE_LIMITED: 429,
  PAYEE_UNKNOWN: 404,
  REGISTRATION_UNKNOWN: 404,
  LOOKUP_UNKNOWN: 404,
  PAYEE_EXISTS: 409,
  PAYMENT_EXISTS_DIFFERENT: 409,
  PAYEE_CARD_NOT_VERIFIED: 422,
  CARD_BANK_NOT_CONTRACTED: 422,
  OPERATOR_ONLY: 403,
  SMS_GATEWAY_UNAVAILABLE: 503,
  // The TMS (host/tms): unknown packages, deployments and sessions; a deployment or session not in
  // the state the request needs, or a package that is not on offer to this terminal (RFC 9110
  // §15.5.10); a package whose signature or image does not check (§15.5.21); SAC-I that does not
  // verify (§15.5.4: the terminal is not who it claims); a Range that is not one chunk inside the
  // image (§15.5.17).
  TMS_PACKAGE_UNKNOWN: 404,
  TMS_DEPLOYMENT_UNKNOWN: 404,
  TMS_SESSION_UNKNOWN: 404,
  TMS_PACKAGE_EXISTS: 409,
  TMS_DEPLOYMENT_STATE: 409,
  TMS_NOT_OFFERED: 409,
  TMS_SESSION_STATE: 409,
  TMS_SESSION_EXPIRED: 409,
  TMS_PACKAGE_INVALID: 422,
  TMS_SAC_INVALID: 403,
  TMS_RANGE_INVALID: 416,
  TMS_IMAGE_MISSING: 500,
  // Bill payments (D2-D8): a merchant request whose signature or digest does not verify (RFC 9110
  // §15.5.2), that is too old or was seen before; unknown merchants and bills; a bill past its
  // expiry (§15.5.11 Gone); a bill paid or refused already, an order or payment key reused with other data.
  MERCHANT_UNKNOWN: 401,
  MERCHANT_SIGNATURE_INVALID: 401,
  MERCHANT_DIGEST_MISMATCH: 400,
  MERCHANT_REQUEST_STALE: 401,
  MERCHANT_REQUEST_REPLAYED: 409,
  MERCHANT_EXISTS: 409,
  BILL_ORDER_EXISTS_DIFFERENT: 409,
  BILL_NOT_FOUND: 404,
  BILL_EXPIRED: 410,
  BILL_ALREADY_PAID: 409,
  BILL_NOT_FOR_THIS_NUMBER: 403,
  BILL_REFUSED: 409,
  BILL_PAYMENT_EXISTS_DIFFERENT: 409,
  // The phone client (D1, D4): an enrolment that is not waiting for a code; a card the phone has
  // not bound (RFC 9110 §15.5.4: the phone is authenticated, the card is not its to use); a card
  // its bank would not verify (§15.5.21: understood, not accepted).
  PHONE_ENROLMENT_UNKNOWN: 404,
  PHONE_CARD_NOT_BOUND: 403,
  PHONE_CARD_NOT_VERIFIED: 422,
  // The payment gateway (E1-E3): an order id the merchant used for other content; a code or order
  // unknown, past its time (Gone), or claimed by another payment; the signer is not the order's
  // merchant. Idempotency-Key as the IETF httpapi draft: reused with another body 422, still in
  // progress 409.
  GATEWAY_ORDER_EXISTS: 409,
  GATEWAY_ORDER_NOT_FOUND: 404,
  GATEWAY_ORDER_EXPIRED: 410,
  GATEWAY_ORDER_NOT_PAYABLE: 409,
  GATEWAY_CLAIM_INVALID: 409,
  GATEWAY_MERCHANT_MISMATCH: 403,
  IDEMPOTENCY_KEY_REUSED: 422,
  IDEMPOTENCY_KEY_IN_PROGRESS: 409,
  // The checkout's payment (E5-E7): the card's bank said no (402 as Stripe's card errors); a pay
  // request sent before, or while one runs (409); the bank gave no answer and it was reversed (502).
  PAYMENT_DECLINED: 402,
  PAYMENT_INSUFFICIENT_FUNDS: 402,
  PAYMENT_REQUEST_REPLAYED: 409,
  PAYMENT_IN_PROGRESS: 409,
  PAYMENT_OUTCOME_UNKNOWN: 502,
  // RFC 6585 §5.
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  CONFIG_INVALID: 500,
  MIGRATION_FAILED: 500,
  LISTEN_FAILED: 500,
  // The HSM's master key or a stored handle is unusable: the host is at fault, not the caller.
  HSM_LMK_INVALID: 500,
  HSM_HANDLE_INVALID: 500,
  DB_UNAVAILABLE: 503,
  HSM_UNAVAILABLE: 503,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 400;
}

/** The not-found handler: mounted after every route. */
export const notFound: RequestHandler = (req, res) => {
  sendError(res, 'NOT_FOUND', `no route for ${req.method} ${req.path.slice(0, 200)}`);
};

/** Errors raised by Express's body parsers and router (http-errors with a `type`, URIError with a `status`). */
interface HttpLikeError {
  type?: string;
  status?: number;
  expose?: boolean;
  limit?: number;
}

/**
 * The error handler of every listener: a PaypadError leaves with its code and the status of
 * HTTP_STATUS, a client error raised by Express or a body parser with a typed 4xx, and anything
 * else as 500 INTERNAL with the details only in the log.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    // A response already under way cannot change status: let Express drop the connection.
    if (res.headersSent) {
      (req.log ?? logger).error({ err }, 'error after the response started');
      next(err);
      return;
    }
    if (isPaypadError(err)) {
      if (httpStatusOf(err.code) >= 500) (req.log ?? logger).error({ err }, 'request failed');
      sendError(res, err.code, toErrorBody(err).error.message);
      return;
    }
    const known = fromHttpError(err);
    if (known) {
      sendError(res, known.code, known.message, known.status);
      return;
    }
    (req.log ?? logger).error({ err }, 'unexpected error');
    sendError(res, 'INTERNAL', 'internal error; the host logged the details');
  };
}

export function sendError(res: Parameters<RequestHandler>[1], code: ErrorCode, message: string, status = httpStatusOf(code)): void {
  const body: ErrorBody = { error: { code, message } };
  res.status(status).json(body);
}

/** The code a client error of this status is reported with when nothing more specific is known. */
function codeOfStatus(status: number): ErrorCode {
  const code = (['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'HEADERS_TOO_LARGE', 'REQUEST_TIMEOUT'] as const).find((c) => HTTP_STATUS[c] === status);
  return code ?? 'BAD_REQUEST';
}

// Our own messages: body-parser's would quote parts of the body, which may hold card data, and
// the router's would quote the path.
function fromHttpError(err: unknown): { code: ErrorCode; message: string; status: number } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as HttpLikeError;
  switch (e.type) {
    case 'entity.parse.failed':
      return { code: 'BAD_JSON', message: 'the request body is not valid JSON', status: 400 };
    case 'entity.too.large':
      return { code: 'PAYLOAD_TOO_LARGE', message: `the request body exceeds the limit of ${e.limit} bytes`, status: 413 };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'the request body encoding or charset is not supported', status: 415 };
    case 'request.aborted':
    case 'request.size.invalid':
      return { code: 'BAD_REQUEST', message: 'the request body was incomplete', status: 400 };
  }
  // The router decodes path parameters with decodeURIComponent and marks a failure 400.
  if (err instanceof URIError) return { code: 'BAD_REQUEST', message: 'the request path is not valid percent-encoded UTF-8 (RFC 3986 §2.1)', status: 400 };
  // Any other 4xx raised by Express itself is the client's doing, never a 500.
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    const message = e.expose === true ? (err as Error).message.slice(0, 200) : `the request was refused (HTTP ${e.status})`;
    return { code: codeOfStatus(e.status), message, status: e.status };
  }
  return undefined;
}

/**
 * The answer to a request Node's HTTP parser refused before Express saw it (the 'clientError'
 * event): the same {"error":{"code","message"}} as every other refusal, as raw HTTP/1.1 bytes,
 * with Connection: close.
 */
export function clientErrorResponse(err: NodeJS.ErrnoException): { status: number; raw: string } {
  const [code, message]: [ErrorCode, string] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ['REQUEST_TIMEOUT', 'the request was not received within the time limit']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? ['HEADERS_TOO_LARGE', 'the request line and headers exceed the size limit']
        : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? ['PAYLOAD_TOO_LARGE', 'the chunk extensions exceed the size limit']
          : ['BAD_REQUEST', 'the request is not well-formed HTTP/1.1'];
  const status = httpStatusOf(code);
  const body: ErrorBody = { error: { code, message } };
  const json = JSON.stringify(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(json)}`,
    'Cache-Control: no-store',
    'Connection: close',
  ];
  return { status, raw: `${head.join('\r\n')}\r\n\r\n${json}` };
}

/**
 * The Express app of one listener: request logging, then `routes`, then the not-found handler
 * and the one error handler. The HTTP app, MTMS and every KMS are built with it.
 */
export function createListenerApp(logger: Logger, routes: (app: Express) => void): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLogger(logger));
  routes(app);
  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
