/**
 * Structured logs (pino, one JSON object per line) with secrets censored at any depth, and the
 * request-logging middleware. Request and response bodies and query strings are never logged:
 * they are where PIN blocks, PANs and key blocks travel.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import pino from 'pino';
import type { LogLevel } from './config';
import { redactSecrets } from './redact';

export type Logger = pino.Logger;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by requestLogger: the caller's X-Request-Id when well-formed, else a fresh UUID. */
      id: string;
      /** A child logger that stamps every line with this request's id. */
      log: Logger;
    }
  }
}

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; stdout when omitted. Tests pass a stream to read lines back. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const censor = (object: Record<string, unknown>) => redactSecrets(object) as Record<string, unknown>;
  const logger = pino(
    {
      level: options.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      // The logged object passes through the censor. Errors are turned into plain objects there
      // (type, message, stack, code, cause), so pino's own err serializer, which would copy an
      // error's enumerable fields after the censor ran, is replaced by the identity.
      formatters: { log: censor },
      serializers: { err: (e: unknown) => e },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  // pino applies formatters.bindings to the root's base fields only, never to child() bindings.
  // Children are Object.create(parent), so these overrides reach every descendant.
  const { child, setBindings } = logger;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, censor(bindings), childOptions);
  } as Logger['child'];
  logger.setBindings = function (this: Logger, bindings) {
    setBindings.call(this, censor(bindings));
  };
  return logger;
}

// Accept a caller's request id only when it cannot smuggle anything into the logs.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_LOGGED_PATH = 256;

/** Logs one line per request when it ends: method, path (no query), status, duration, request id. */
export function requestLogger(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const incoming = req.get('x-request-id');
    req.id = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.log = logger.child({ reqId: req.id });
    res.setHeader('X-Request-Id', req.id);
    res.once('close', () => {
      const entry = {
        method: req.method,
        path: pathOnly(req.originalUrl),
        status: res.statusCode,
        durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e3) / 1e3,
      };
      if (!res.writableFinished) req.log.warn({ ...entry, aborted: true }, 'request aborted');
      else if (res.statusCode >= 500) req.log.error(entry, 'request failed');
      else req.log.info(entry, 'request');
    });
    next();
  };
}

function pathOnly(url: string): string {
  const end = url.search(/[?#]/);
  const path = end < 0 ? url : url.slice(0, end);
  return path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}...` : path;
}
