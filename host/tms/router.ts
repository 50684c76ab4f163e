/**
 * The TMS's terminal routes (shared/protocol/updateMessages), on the listener of the customer's
 * KMS (tmsService.ts says why), authenticated by the MAC'd envelope under MAK (X2), no certificate.
 * Bodies are read raw, as the KMS's: the MAC covers the exact bytes sent. The image route answers
 * a 206 with the chunk's bytes (its MAC under the DWK-derived key in Paypad-Chunk-Mac), or a
 * MAC'd JSON refusal.
 */
import express, { Router, type RequestHandler } from 'express';
import { parseRequest } from '../../shared/protocol/macEnvelope';
import { TMS_API_PREFIX, UPDATE_MAX_BODY_BYTES } from '../../shared/protocol/updateMessages';
import { sendError } from '../http/errors';
import { terminalRoute } from '../http/terminalRoute';
import type { TmsService } from './tmsService';

const TERMINAL = `${TMS_API_PREFIX}/terminals/:serial/update`;

export function createTmsRouter(service: TmsService): Router {
  const router = Router();
  const rawBody = express.raw({ type: () => true, limit: UPDATE_MAX_BODY_BYTES });
  router.post(`${TERMINAL}/query`, rawBody, terminalRoute((request) => service.query(request)));
  router.post(`${TERMINAL}/sessions`, rawBody, terminalRoute((request) => service.authenticate(request)));
  router.post(`${TERMINAL}/sessions/:session/confirm`, rawBody, (req, res, next) => terminalRoute((request) => service.confirm(request, String(req.params.session)))(req, res, next));
  router.get(`${TERMINAL}/sessions/:session/image`, imageRoute(service));
  router.post(`${TERMINAL}/status`, rawBody, terminalRoute((request) => service.status(request)));
  return router;
}

/** As terminalRoute, for a GET with no body whose answer is the chunk's bytes. */
function imageRoute(service: TmsService): RequestHandler {
  return async (req, res) => {
    const request = parseRequest(req.method, req.originalUrl, req.headers, new Uint8Array(0));
    if (request.serial !== req.params.serial) {
      sendError(res, 'PROTOCOL_MALFORMED', 'the serial in the path is not the one in Paypad-Serial', 400);
      return;
    }
    const reply = await service.image(request, String(req.params.session), req.headers.range);
    if (reply.status >= 500) req.log.error({ err: reply.failure }, 'terminal request failed');
    res
      .status(reply.status)
      .set({ 'Content-Type': 'application/json', ...reply.headers, 'Cache-Control': 'no-store' })
      .end(Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.length));
  };
}
