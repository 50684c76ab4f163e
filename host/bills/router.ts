/**
 * The merchant API of the bill platform, mounted at /bills (docs/bill-payments.md):
 *
 *   POST /bills/merchant/v1/orders                   signed: an order becomes a bill (201; 200 when the same order was sent before)
 *   GET  /bills/merchant/v1/notifications?after=N    signed: the merchant's notifications after cursor N (the pull API)
 *   GET  /bills/merchant/v1/notification-schedule    when a notification is tried, in seconds after the change
 *   GET  /bills/merchant/v1/platform-certificate     the certificate notifications are signed under, and the CA's
 *
 * Signed routes check the request with host/merchants/signedRoute.ts before anything is read.
 */
import express, { type Router } from 'express';
import type { MerchantDirectory } from '../merchants/merchantDirectory';
import { requireSignedRequest, signerOf } from '../merchants/signedRoute';
import type { Bill } from './billPlatform';
import type { BillService } from './billService';
import { NOTIFICATION_RETRY_SCHEDULE_MS } from './merchantNotifications';
import type { PlatformIdentity } from './platformIdentity';

export function billJson(bill: Bill): Record<string, unknown> {
  return { ...bill, createdAt: bill.createdAt.toISOString(), expiresAt: bill.expiresAt.toISOString() };
}

export function createMerchantApiRouter(deps: { bills: BillService; merchants: MerchantDirectory; identity: PlatformIdentity; clock: () => Date }): Router {
  const router = express.Router();
  const signed = requireSignedRequest(deps.merchants.signers, deps.clock);

  router.post('/merchant/v1/orders', signed, async (req, res) => {
    const { bill, created } = await deps.bills.createBill(signerOf(res).keyId, req.body);
    res.status(created ? 201 : 200).json({ bill: billJson(bill) });
  });

  router.get('/merchant/v1/notifications', signed, async (req, res) => {
    const after = Number(req.query.after ?? 0);
    const limit = Number(req.query.limit ?? 100);
    const found = await deps.bills.notificationsAfter(signerOf(res).keyId, after, limit);
    res.set('Cache-Control', 'no-store').json({ notifications: found.map((n) => ({ cursor: n.cursor, notification: n.body })), next: found.at(-1)?.cursor ?? after });
  });

  router.get('/merchant/v1/notification-schedule', (_req, res) => {
    res.json({ attempts: NOTIFICATION_RETRY_SCHEDULE_MS.length, secondsAfterChange: NOTIFICATION_RETRY_SCHEDULE_MS.map((ms) => ms / 1000) });
  });

  router.get('/merchant/v1/platform-certificate', (_req, res) => {
    res.json({ certificatePem: deps.identity.certificatePem, caCertificatePem: deps.identity.caCertificatePem });
  });

  return router;
}
