/**
 * A KMS instance's routes (docs/key-loading.md):
 *
 *   MTMS-facing, behind a client certificate of role mtms (A8):
 *     GET  /kms/v1/intake-key                   -> KmsIntakeKey
 *     POST /kms/v1/tk                           kmsTkDelivery -> kmsTkDeliveryAck    (A7, A13)
 *   terminal-facing, authenticated by the MAC'd envelope (X2), no certificate:
 *     POST /kms/v1/terminals/:serial/tmk        tmkRequest -> tmkResponse            (A11)
 *     POST /kms/v1/terminals/:serial/sign-on    signOnRequest -> signOnResponse      (A12)
 *
 * Terminal bodies are read raw: the MAC covers the exact bytes sent, so nothing may parse or
 * re-encode them before verification. Failures the MAC'd envelope does not answer leave through the
 * listener's one error handler (host/http/errors) as {"error":{"code","message"}}.
 */
import express, { Router } from 'express';
import { toHex } from '../../shared/bytes';
import { MAX_BODY_BYTES } from '../../shared/protocol/macEnvelope';
import { KMS_API_PREFIX } from '../../shared/protocol/kmsPaths';
import { MESSAGE_VERSION, validateMessage } from '../../shared/protocol/messages';
import { terminalRoute } from '../http/terminalRoute';
import type { RevocationSource } from '../tls/peer';
import { requireClientCert } from '../tls/requireClientCert';
import type { KmsService } from './kmsService';

/** GET /kms/v1/intake-key: the public key MTMS wraps TK envelopes to, and who it belongs to. */
export interface KmsIntakeKey {
  readonly v: number;
  readonly customerCode: string;
  /** Uncompressed SEC 1 P-256 point, uppercase hex (130 digits). */
  readonly publicKey: string;
  /** Leftmost 5 bytes of SHA-256 of the public key, hex: to compare by eye or in logs. */
  readonly kcv: string;
}

/** MTMS sends one delivery as a small JSON document. */
const DELIVERY_BODY_LIMIT_BYTES = 4 * 1024;

export interface KmsRouterOptions {
  readonly service: KmsService;
  /** The CA register: client certificates are checked against it per request (A8). */
  readonly revocation: RevocationSource;
}

export function createKmsRouter(options: KmsRouterOptions): Router {
  const { service } = options;
  const router = Router();
  const mtmsOnly = requireClientCert({ roles: ['mtms'], revocation: options.revocation });

  router.get(`${KMS_API_PREFIX}/intake-key`, mtmsOnly, (_req, res) => {
    const { publicKey, kcv } = service.intakePublicKey();
    const body: KmsIntakeKey = { v: MESSAGE_VERSION, customerCode: service.customerCode, publicKey: toHex(publicKey), kcv };
    res.set('Cache-Control', 'no-store').json(body);
  });

  router.post(`${KMS_API_PREFIX}/tk`, mtmsOnly, express.json({ limit: DELIVERY_BODY_LIMIT_BYTES }), async (req, res) => {
    const delivery = validateMessage('kmsTkDelivery', req.body);
    const ack = await service.receiveTk(delivery);
    req.log.info({ deliveryId: ack.deliveryId, serial: delivery.serial, outcome: ack.outcome, peer: req.peer?.name }, 'TK delivery');
    res.json(ack);
  });

  const rawBody = express.raw({ type: () => true, limit: MAX_BODY_BYTES });
  router.post(`${KMS_API_PREFIX}/terminals/:serial/tmk`, rawBody, terminalRoute((request) => service.downloadTmk(request)));
  router.post(`${KMS_API_PREFIX}/terminals/:serial/sign-on`, rawBody, terminalRoute((request) => service.signOn(request)));

  return router;
}
