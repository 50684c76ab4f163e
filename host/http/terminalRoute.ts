/**
 * A MAC-authenticated terminal route (X2), shared by every role that answers terminals (the KMS,
 * POSP): read the envelope from the raw body, check the serial in the path against the one it
 * names, hand it to the role, and send the role's MAC'd reply byte for byte.
 *
 * Bodies must arrive raw (express.raw): the MAC covers the exact bytes sent, so nothing may parse
 * or re-encode them before verification (shared/protocol/macEnvelope).
 */
import type { RequestHandler, Response } from 'express';
import { parseRequest, type ReceivedRequest } from '../../shared/protocol/macEnvelope';
import { sendError } from './errors';

/** A terminal response: the status, its headers (Paypad-Mac) and the exact JSON bytes they MAC. */
export interface TerminalReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The failure this reply reports, for the caller's log (status 500 and above). */
  readonly failure?: unknown;
}

export function terminalRoute(handle: (request: ReceivedRequest) => Promise<TerminalReply>): RequestHandler {
  return async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.length) : new Uint8Array(0);
    // The MAC covers the request target as sent, query included (macEnvelope RequestMacFields.path).
    const request = parseRequest(req.method, req.originalUrl, req.headers, body);
    if (request.serial !== req.params.serial) {
      sendError(res, 'PROTOCOL_MALFORMED', 'the serial in the path is not the one in Paypad-Serial', 400);
      return;
    }
    const reply = await handle(request);
    if (reply.status >= 500) req.log.error({ err: reply.failure }, 'terminal request failed');
    send(res, reply);
  };
}

function send(res: Response, reply: TerminalReply): void {
  res.status(reply.status).set(reply.headers).type('application/json').set('Cache-Control', 'no-store').end(Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.length));
}
