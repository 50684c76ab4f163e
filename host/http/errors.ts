/**
 * The host's one error boundary (STYLE: every error goes to one handler that turns it into a typed
 * response). Every failure leaves as `{"error":{"code","message"}}` with a stable code; stack
 * traces and the messages of unexpected errors stay in the log.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isPaypadError, type ErrorCode } from '../../shared/errors';
import type { Logger } from '../log';

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** HTTP status for codes that are not a plain 400. Roles add their codes here (409 for replays...). */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  // RFC 9110 §15.5.2 / §15.5.4: no usable client certificate, or one for another role (A8).
  CLIENT_CERT_REQUIRED: 401,
  CLIENT_CERT_UNTRUSTED: 401,
  CLIENT_CERT_REVOKED: 401,
  CLIENT_CERT_ROLE: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
  CONFIG_INVALID: 500,
  MIGRATION_FAILED: 500,
  LISTEN_FAILED: 500,
  HSM_LMK_INVALID: 500,
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

/** Errors raised by Express's body parsers (http-errors with a `type`). */
interface HttpLikeError {
  type?: string;
  status?: number;
  expose?: boolean;
  limit?: number;
}

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
      sendError(res, err.code, err.message);
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

// Our own messages: body-parser's would quote parts of the body, which may hold card data.
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
  // Other client errors raised by Express itself (http-errors with expose=true) carry safe messages.
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
    return { code: 'BAD_REQUEST', message: (err as Error).message.slice(0, 200), status: e.status };
  }
  return undefined;
}
