/**
 * POSP's routes, on the listener of the customer's KMS (pospService.ts says why), authenticated by
 * the MAC'd envelope (X2), no certificate:
 *
 *   POST /posp/v1/terminals/:serial/mobile/lookup   mobileLookupRequest -> mobileLookupResponse (C3-C5)
 *   POST /posp/v1/terminals/:serial/mobile/pay      mobilePayRequest -> mobilePayResponse       (C6-C8)
 *
 * Bodies are read raw, as the KMS's: the MAC covers the exact bytes sent.
 */
import express, { Router } from 'express';
import { POSP_API_PREFIX, TRANSACTION_MAX_BODY_BYTES } from '../../shared/protocol/transactions';
import { terminalRoute } from '../http/terminalRoute';
import type { PospService } from './pospService';

export function createPospRouter(service: PospService): Router {
  const router = Router();
  const rawBody = express.raw({ type: () => true, limit: TRANSACTION_MAX_BODY_BYTES });
  router.post(`${POSP_API_PREFIX}/terminals/:serial/mobile/lookup`, rawBody, terminalRoute((request) => service.lookup(request)));
  router.post(`${POSP_API_PREFIX}/terminals/:serial/mobile/pay`, rawBody, terminalRoute((request) => service.pay(request)));
  return router;
}
