/**
 * Temporary card data of a checkout payment (E7): the track 2 read and the PIN block under the
 * zone PIN key, kept between the card read and the debit (the voice PIN call may take minutes)
 * and nowhere else.
 *
 * - Kept only enciphered: AES-256-GCM under a key made when the process starts and held only in
 *   its memory (a KeyObject): never in the database, a file or a log. A host that stops loses the
 *   key, and with it whatever was kept: the payment it served cannot finish anyway.
 * - Bound to its payment: the order number and the kind are the cipher's associated data, so a
 *   record cannot be opened as another order's or as the other kind.
 * - Short-lived: a record is gone `ttlMs` after it was kept (5 minutes by default) even when its
 *   payment never ends; a paid payment's records are deleted at once; a failed one's by the next
 *   sweep (every `sweepMs`, 1 s by default).
 * - Each deletion puts a signed "sensitive data deleted" event in the merchant's notification
 *   stream (the order notifications' outbox, signed by the platform like every notification).
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { wipe } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';
import type { Schema } from '../db/schema';
import type { Logger } from '../log';
import { enqueue } from '../outbox/outboxStore';
import { ORDER_NOTIFICATION_TOPIC } from './orderNotifications';

export type SensitiveKind = 'track2' | 'pin-block';

/** The order a record belongs to: what the deletion event names (no card data). */
export interface SensitiveSubject {
  readonly orderNumber: string;
  readonly merchantNo: string;
  readonly merchantOrderId: string;
  readonly notifyUrl: string;
}

export type DeletionReason = 'paid' | 'failed' | 'expired';

/** The body of the event the merchant's notify URL receives after a deletion. */
export interface SensitiveDataDeleted {
  readonly notificationId: string;
  readonly type: 'sensitive-data-deleted';
  readonly merchantNo: string;
  readonly merchantOrderId: string;
  readonly orderNumber: string;
  /** What was deleted: the kinds, never the data. */
  readonly deleted: readonly SensitiveKind[];
  readonly reason: DeletionReason;
  readonly deletedAt: string;
}

export interface SensitiveDataVault {
  /** Enciphers `clear` for the order's payment and wipes it. Keeping a kind again replaces it. */
  keep(subject: SensitiveSubject, kind: SensitiveKind, clear: Uint8Array): void;
  /** A deciphered copy (the caller wipes it). SENSITIVE_DATA_GONE when deleted or past its lifetime. */
  open(orderNumber: string, kind: SensitiveKind): Uint8Array;
  /** The payment ended: paid deletes its records now; failed leaves them to the next sweep. */
  endPayment(orderNumber: string, outcome: 'paid' | 'failed'): Promise<void>;
  /** Deletes failed payments' records and every record past its lifetime; how many orders' records went. */
  sweep(): Promise<number>;
  /** The orders with records now (for tests and the status page: numbers only). */
  orders(): readonly string[];
  close(): Promise<void>;
}

export interface SensitiveDataVaultOptions {
  readonly db: Kysely<Schema>;
  readonly logger: Logger;
  /** Called after a deletion event was queued (wakes the notification worker). */
  readonly onQueued: () => void;
  readonly ttlMs?: number;
  readonly sweepMs?: number;
  readonly clock?: () => Date;
}

interface Sealed {
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly tag: Uint8Array;
}

interface Entry {
  readonly subject: SensitiveSubject;
  readonly records: Map<SensitiveKind, Sealed>;
  readonly keptAt: number;
  failed: boolean;
}

export const DEFAULT_SENSITIVE_TTL_MS = 5 * 60_000;
const DEFAULT_SWEEP_MS = 1_000;

export class SensitiveDataGone extends PaypadError {
  constructor(orderNumber: string) {
    super('PAYMENT_OUTCOME_UNKNOWN', `the card data of order ${orderNumber} was deleted (its lifetime ran out): swipe again`);
  }
}

export function createSensitiveDataVault(options: SensitiveDataVaultOptions): SensitiveDataVault {
  const clock = options.clock ?? (() => new Date());
  const ttlMs = options.ttlMs ?? DEFAULT_SENSITIVE_TTL_MS;
  const key: KeyObject = createSecretKey(randomBytes(32));
  const entries = new Map<string, Entry>();
  const aad = (orderNumber: string, kind: SensitiveKind) => Buffer.from(`paypad-gateway-sensitive|${orderNumber}|${kind}`, 'utf8');

  const seal = (orderNumber: string, kind: SensitiveKind, clear: Uint8Array): Sealed => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad(orderNumber, kind));
    const ciphertext = Buffer.concat([cipher.update(clear), cipher.final()]);
    return { iv, ciphertext, tag: cipher.getAuthTag() };
  };

  const remove = async (orderNumber: string, reason: DeletionReason): Promise<void> => {
    const entry = entries.get(orderNumber);
    if (entry === undefined) return;
    entries.delete(orderNumber);
    const deleted = [...entry.records.keys()];
    for (const sealed of entry.records.values()) wipe(sealed.ciphertext);
    entry.records.clear();
    const at = clock();
    const body: SensitiveDataDeleted = {
      notificationId: `gwd-${orderNumber}`,
      type: 'sensitive-data-deleted',
      merchantNo: entry.subject.merchantNo,
      merchantOrderId: entry.subject.merchantOrderId,
      orderNumber,
      deleted,
      reason,
      deletedAt: at.toISOString(),
    };
    await enqueue(options.db, { topic: ORDER_NOTIFICATION_TOPIC, destination: entry.subject.merchantNo, idempotencyKey: body.notificationId, payload: { notifyUrl: entry.subject.notifyUrl, body: { ...body, deleted: [...deleted] } } }, at);
    options.logger.info({ orderNumber, deleted, reason }, 'gateway: sensitive card data deleted');
    options.onQueued();
  };

  const sweep = async (): Promise<number> => {
    const now = clock().getTime();
    const due = [...entries].filter(([, e]) => e.failed || now - e.keptAt >= ttlMs);
    for (const [orderNumber, entry] of due) await remove(orderNumber, entry.failed ? 'failed' : 'expired');
    return due.length;
  };

  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweep().catch((err: unknown) => options.logger.error({ err }, 'gateway: sensitive data sweep failed'));
  }, options.sweepMs ?? DEFAULT_SWEEP_MS);
  timer.unref();

  return {
    keep(subject, kind, clear) {
      try {
        let entry = entries.get(subject.orderNumber);
        if (entry === undefined) {
          entry = { subject, records: new Map(), keptAt: clock().getTime(), failed: false };
          entries.set(subject.orderNumber, entry);
        }
        entry.records.set(kind, seal(subject.orderNumber, kind, clear));
      } finally {
        wipe(clear);
      }
    },
    open(orderNumber, kind) {
      const entry = entries.get(orderNumber);
      const sealed = entry?.records.get(kind);
      if (entry === undefined || sealed === undefined || clock().getTime() - entry.keptAt >= ttlMs) throw new SensitiveDataGone(orderNumber);
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv).setAAD(aad(orderNumber, kind)).setAuthTag(sealed.tag);
      return new Uint8Array(Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]));
    },
    async endPayment(orderNumber, outcome) {
      if (outcome === 'paid') return remove(orderNumber, 'paid');
      const entry = entries.get(orderNumber);
      if (entry !== undefined) entry.failed = true;
    },
    sweep,
    orders: () => [...entries.keys()],
    async close() {
      clearInterval(timer);
      await running;
      for (const entry of entries.values()) for (const sealed of entry.records.values()) wipe(sealed.ciphertext);
      entries.clear();
    },
  };
}
