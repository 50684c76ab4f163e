/**
 * The bill platform (D2-D8) behind the seam of billPlatform.ts: orders in (billOrders.ts), bills
 * out to their numbers' clients (onBill, after commit), payments and refusals (billPayments.ts),
 * what the merchants are told (merchantNotifications.ts).
 */
import type { Database } from '../db/database';
import type { Logger } from '../log';
import { PaypadError } from '../../shared/errors';
import type { MerchantDirectory } from '../merchants/merchantDirectory';
import type { Ledger } from '../payments/ledger/ledger';
import type { CardAuthoriser } from '../posp/cardAuthoriser';
import { BILLS_CHANNEL, createCardDebitLedger } from '../payments/cardDebitLedger';
import { readBillOrder, storeBill } from './billOrders';
import { createBillPayments } from './billPayments';
import { type Bill, type BillPlatform, BillNotFound } from './billPlatform';
import { assertBillMobile, BILL_ID, billOf } from './billRecords';
import { cardFingerprinter } from './cardFingerprint';
import { notificationsAfter, type StoredNotification } from './merchantNotifications';
import type { BillTables } from './tables';

export interface BillServiceDeps {
  readonly database: Database;
  readonly merchants: MerchantDirectory;
  readonly authoriser: CardAuthoriser;
  readonly ledger: Ledger;
  /** 32 bytes (cardFingerprint.ts). */
  readonly cardFingerprintKey: Uint8Array;
  readonly clock?: () => Date;
  readonly logger?: Logger;
  /** Called after a change that queued outbox rows committed. */
  readonly onQueued?: () => void;
}

export interface BillService extends BillPlatform {
  /**
   * D2, D3: the bill for a merchant's order (the order as the merchant sent it, JSON), or the one
   * the same order made before (created false). Listeners hear of a new bill after it committed.
   * @throws PaypadError MERCHANT_UNKNOWN, BILL_ORDER_INVALID, BILL_ORDER_EXISTS_DIFFERENT.
   */
  createBill(merchantId: string, order: unknown): Promise<{ bill: Bill; created: boolean }>;
  /** The merchant's bill by its order id. @throws BillNotFound. */
  billByOrder(merchantId: string, orderId: string): Promise<Bill>;
  /** The pull API (D5): a merchant's notifications after `cursor`, oldest first. */
  notificationsAfter(merchantId: string, cursor: number, limit?: number): Promise<StoredNotification[]>;
}

export function createBillService(deps: BillServiceDeps): BillService {
  const clock = deps.clock ?? (() => new Date());
  const db = deps.database.db.withTables<BillTables>();
  const listeners = new Set<(bill: Bill) => void>();
  const payments = createBillPayments({
    database: deps.database,
    authoriser: deps.authoriser,
    ledger: createCardDebitLedger(deps.ledger, BILLS_CHANNEL),
    fingerprint: cardFingerprinter(deps.cardFingerprintKey),
    clock,
    onQueued: deps.onQueued ?? (() => {}),
  });

  return {
    async createBill(merchantId, input) {
      const merchant = await deps.merchants.merchant(merchantId);
      if (merchant === undefined) throw new PaypadError('MERCHANT_UNKNOWN', `no merchant ${String(merchantId).slice(0, 15)}`);
      const order = readBillOrder(input, merchant);
      const stored = await storeBill(deps.database.db, merchant, order, clock());
      if (stored.created) {
        for (const listener of listeners) {
          try {
            listener(stored.bill);
          } catch (err) {
            deps.logger?.error({ err, billId: stored.bill.id }, 'a bill listener failed; the bill stands and waits for its client to fetch it');
          }
        }
      }
      return stored;
    },

    async billByOrder(merchantId, orderId) {
      const row = await db.selectFrom('bills').selectAll().where('merchant_id', '=', String(merchantId)).where('order_id', '=', String(orderId)).executeTakeFirst();
      if (row === undefined) throw new BillNotFound(`${String(orderId).slice(0, 64)}`);
      return billOf(row, clock());
    },

    notificationsAfter: (merchantId, cursor, limit = 100) => notificationsAfter(deps.database.db, merchantId, cursor, limit),

    async openBills(mobile) {
      assertBillMobile(mobile, 'mobile');
      const now = clock();
      const rows = await db
        .selectFrom('bills')
        .selectAll()
        .where('designated_mobile', '=', mobile)
        .where('state', 'in', ['open', 'paying'])
        .where('expires_at', '>', now.toISOString())
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map((r) => billOf(r, now));
    },

    async bill(id) {
      const row = typeof id === 'string' && BILL_ID.test(id) ? await db.selectFrom('bills').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
      if (row === undefined) throw new BillNotFound(String(id).slice(0, 21));
      return billOf(row, clock());
    },

    pay: payments.pay,
    refuse: payments.refuse,

    onBill(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
