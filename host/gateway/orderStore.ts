/**
 * GatewayOrders on the host database (gateway_orders, migration.ts). Invariants kept here:
 * - A transaction code names at most one live (created or paying) order: the partial unique index
 *   refuses a second one and create draws again, inside the database, so two hosts drawing the same
 *   code at once both end up with distinct codes.
 * - A merchant order id exists once per merchant (unique constraint).
 * - Every transition is one conditional UPDATE on the state it leaves: of two claims at once one
 *   updates the row and the other updates nothing and is refused.
 * - An order reaches paid, failed or expired together with its merchant notification (E8), in one
 *   transaction (orderNotifications.ts).
 */
import { randomBytes } from 'node:crypto';
import type { ColumnType, Kysely, Selectable } from 'kysely';
import { PaypadError } from '../../shared/errors';
import type { Database } from '../db/database';
import { isoTimestamp, type IsoTimestamp, type Schema } from '../db/schema';
import { GatewayClaimInvalid, GatewayOrderExists, GatewayOrderExpired, GatewayOrderInvalid, GatewayOrderNotFound, GatewayOrderNotPayable } from './gatewayErrors';
import type { GatewayOrder, GatewayOrders, NewOrder, OrderState, PaymentClaim } from './gatewayOrders';
import { queueOrderNotification } from './orderNotifications';
import { checkNewOrder } from './orderRequest';
import { newTransactionCode, parseTransactionCode, type RandomInt } from './transactionCode';

// A type alias, not an interface: Kysely's withTables needs implicit index signatures.
export type GatewayOrderTables = {
  gateway_orders: {
    order_number: ColumnType<string, string, never>;
    merchant_no: ColumnType<string, string, never>;
    merchant_order_id: ColumnType<string, string, never>;
    amount_minor: ColumnType<number, number, never>;
    currency: ColumnType<string, string, never>;
    description: ColumnType<string, string, never>;
    notify_url: ColumnType<string, string, never>;
    return_url: ColumnType<string | null, string | null, never>;
    account: ColumnType<string | null, string | null, never>;
    transaction_code: ColumnType<string, string, never>;
    state: OrderState;
    claim_token: string | null;
    claim_until: IsoTimestamp | null;
    payment_reference: string | null;
    failure_reason: string | null;
    created_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    expires_at: ColumnType<IsoTimestamp, IsoTimestamp, never>;
    ended_at: IsoTimestamp | null;
  };
};
type OrderRow = Selectable<GatewayOrderTables['gateway_orders']>;

export interface OrderStoreOptions {
  readonly database: Database;
  readonly clock?: () => Date;
  /** The transaction codes' random source (node:crypto's randomInt unless a test narrows it). */
  readonly random?: RandomInt;
  /** How long a payment's claim holds an order (ms); default 10 minutes (a voice PIN call included). */
  readonly claimMs?: number;
  /** Called after a transaction that queued a merchant notification committed (wakes the outbox worker). */
  readonly onNotificationQueued?: () => void;
}

export const DEFAULT_CLAIM_MS = 10 * 60_000;
/** Draws of a transaction code before create gives up: each collides with probability (live orders) / 9e10. */
const CODE_DRAWS = 8;
const MAX_REFERENCE = 64;
const MAX_FAILURE_REASON = 200;
const LIVE: readonly OrderState[] = ['created', 'paying'];

export interface OrderStore extends GatewayOrders {
  /** create inside the caller's transaction (the idempotency layer commits the order with its stored answer). */
  createIn(trx: Kysely<Schema>, order: NewOrder): Promise<GatewayOrder>;
}

export function createOrderStore(options: OrderStoreOptions): OrderStore {
  const { database } = options;
  const db = database.db.withTables<GatewayOrderTables>();
  const clock = options.clock ?? (() => new Date());
  const claimMs = options.claimMs ?? DEFAULT_CLAIM_MS;
  const notified = () => options.onNotificationQueued?.();

  const byNumber = async (orderNumber: string): Promise<OrderRow | undefined> =>
    db.selectFrom('gateway_orders').selectAll().where('order_number', '=', orderNumber).executeTakeFirst();

  const createIn = async (trx: Kysely<Schema>, order: NewOrder): Promise<GatewayOrder> => {
    checkNewOrder(order);
    const t = trx.withTables<GatewayOrderTables>();
    const now = clock();
    for (let draw = 0; draw < CODE_DRAWS; draw++) {
      const orderNumber = `GO${randomBytes(12).toString('hex').toUpperCase()}`;
      // DO NOTHING on any unique conflict (the live code, the merchant's order id): no exception,
      // so on PostgreSQL the caller's transaction stays usable.
      const inserted = await t
        .insertInto('gateway_orders')
        .values({
          order_number: orderNumber,
          merchant_no: order.merchantNo,
          merchant_order_id: order.merchantOrderId,
          amount_minor: order.amountMinor,
          currency: order.currency,
          description: order.description,
          notify_url: order.notifyUrl,
          return_url: order.returnUrl ?? null,
          account: order.account ?? null,
          transaction_code: newTransactionCode(options.random),
          state: 'created',
          claim_token: null,
          claim_until: null,
          payment_reference: null,
          failure_reason: null,
          created_at: isoTimestamp(now),
          expires_at: isoTimestamp(new Date(now.getTime() + order.expiresInMinutes * 60_000)),
          ended_at: null,
        })
        .onConflict((oc) => oc.doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted) return fromRow(inserted);
      const existing = await t.selectFrom('gateway_orders').select('order_number').where('merchant_no', '=', order.merchantNo).where('merchant_order_id', '=', order.merchantOrderId).executeTakeFirst();
      if (existing) throw new GatewayOrderExists(order.merchantNo, order.merchantOrderId);
      // Otherwise the code was live on another order: draw again.
    }
    throw new PaypadError('INTERNAL', `no free transaction code in ${CODE_DRAWS} draws; the random source is broken`);
  };

  /** Why a conditional UPDATE on `orderNumber` changed nothing. */
  const refusal = async (orderNumber: string, now: Date, kind: 'claim' | 'end'): Promise<PaypadError> => {
    const row = await byNumber(orderNumber);
    if (!row) return new GatewayOrderNotFound(orderNumber);
    if (kind === 'end') return new GatewayClaimInvalid(orderNumber, row.state);
    if (row.state === 'expired' || (row.state === 'created' && row.expires_at <= isoTimestamp(now))) return new GatewayOrderExpired(orderNumber, new Date(row.expires_at));
    return new GatewayOrderNotPayable(orderNumber, row.state);
  };

  /** paying -> paid | failed by the claim holder, with the merchant's notification, in one transaction. */
  const end = async (orderNumber: string, claimToken: string, state: 'paid' | 'failed', detail: { payment_reference: string } | { failure_reason: string }): Promise<GatewayOrder> => {
    if (typeof claimToken !== 'string' || claimToken === '') throw new GatewayClaimInvalid(orderNumber, 'paying');
    const now = clock();
    const ended = await database.db.transaction().execute(async (trx) => {
      const row = await trx
        .withTables<GatewayOrderTables>()
        .updateTable('gateway_orders')
        .set({ state, claim_token: null, claim_until: null, ended_at: isoTimestamp(now), ...detail })
        .where('order_number', '=', orderNumber)
        .where('state', '=', 'paying')
        .where('claim_token', '=', claimToken)
        .returningAll()
        .executeTakeFirst();
      if (row) await queueOrderNotification(trx, fromRow(row), now);
      return row;
    });
    if (ended) {
      notified();
      return fromRow(ended);
    }
    // The same ending reported twice (a retry after a lost answer) is answered, not refused.
    const row = await byNumber(orderNumber);
    const same = row?.state === state && ('payment_reference' in detail ? row.payment_reference === detail.payment_reference : row.failure_reason === detail.failure_reason);
    if (row && same) return fromRow(row);
    throw await refusal(orderNumber, now, 'end');
  };

  return {
    createIn,

    async create(order) {
      const created = await database.db.transaction().execute((trx) => createIn(trx, order));
      return created;
    },

    async findByCode(typedCode) {
      // The check digit first: a typing error never reaches the database.
      const code = parseTransactionCode(typedCode);
      const rows = await db.selectFrom('gateway_orders').selectAll().where('transaction_code', '=', code).orderBy('created_at', 'desc').limit(10).execute();
      const row = rows.find((r) => LIVE.includes(r.state)) ?? rows[0];
      if (!row) throw new GatewayOrderNotFound(`with transaction code ${code}`);
      if (row.state === 'expired' || (row.state === 'created' && row.expires_at <= isoTimestamp(clock()))) throw new GatewayOrderExpired(row.order_number, new Date(row.expires_at));
      return fromRow(row);
    },

    async findByNumber(orderNumber) {
      const row = typeof orderNumber === 'string' ? await byNumber(orderNumber) : undefined;
      if (!row) throw new GatewayOrderNotFound(String(orderNumber).slice(0, 40));
      return fromRow(row);
    },

    async findForMerchant(merchantNo, merchantOrderId) {
      const row = await db.selectFrom('gateway_orders').selectAll().where('merchant_no', '=', merchantNo).where('merchant_order_id', '=', merchantOrderId).executeTakeFirst();
      if (!row) throw new GatewayOrderNotFound(`${merchantOrderId.slice(0, 64)} of merchant ${merchantNo}`);
      return fromRow(row);
    },

    async listForAccount(account) {
      if (typeof account !== 'string' || account === '') throw new GatewayOrderInvalid('account', 'is required');
      const rows = await db
        .selectFrom('gateway_orders')
        .selectAll()
        .where('account', '=', account)
        .where('state', '=', 'created')
        .where('expires_at', '>', isoTimestamp(clock()))
        .orderBy('created_at', 'desc')
        .limit(100)
        .execute();
      return rows.map(fromRow);
    },

    async claimForPayment(orderNumber) {
      const now = clock();
      const claimToken = randomBytes(16).toString('hex');
      const claimUntil = new Date(now.getTime() + claimMs);
      const row = await db
        .updateTable('gateway_orders')
        .set({ state: 'paying', claim_token: claimToken, claim_until: isoTimestamp(claimUntil) })
        .where('order_number', '=', orderNumber)
        .where('state', '=', 'created')
        .where('expires_at', '>', isoTimestamp(now))
        .returningAll()
        .executeTakeFirst();
      if (!row) throw await refusal(orderNumber, now, 'claim');
      const claim: PaymentClaim = { order: fromRow(row), claimToken, claimUntil };
      return claim;
    },

    async markPaid(orderNumber, claimToken, paymentReference) {
      if (typeof paymentReference !== 'string' || paymentReference === '' || paymentReference.length > MAX_REFERENCE) {
        throw new PaypadError('BAD_ARGUMENT', `a payment reference is 1-${MAX_REFERENCE} characters`);
      }
      return end(orderNumber, claimToken, 'paid', { payment_reference: paymentReference });
    },

    async markFailed(orderNumber, claimToken, reason) {
      if (typeof reason !== 'string' || reason === '' || reason.length > MAX_FAILURE_REASON) throw new PaypadError('BAD_ARGUMENT', `a failure reason is 1-${MAX_FAILURE_REASON} characters`);
      return end(orderNumber, claimToken, 'failed', { failure_reason: reason });
    },

    async expireDue(limit = 100) {
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new PaypadError('BAD_ARGUMENT', 'limit must be an integer from 1 to 10000');
      const now = clock();
      const at = isoTimestamp(now);
      const due = await db
        .selectFrom('gateway_orders')
        .select('order_number')
        .where((eb) => eb.or([eb('state', '=', 'created'), eb.and([eb('state', '=', 'paying'), eb('claim_until', '<=', at)])]))
        .where('expires_at', '<=', at)
        .orderBy('expires_at')
        .limit(limit)
        .execute();
      const expired: string[] = [];
      for (const { order_number } of due) {
        // The same condition again, in the UPDATE: a claim or a payment that got there first wins.
        const row = await database.db.transaction().execute(async (trx) => {
          const ended = await trx
            .withTables<GatewayOrderTables>()
            .updateTable('gateway_orders')
            .set({ state: 'expired', claim_token: null, claim_until: null, ended_at: at })
            .where('order_number', '=', order_number)
            .where((eb) => eb.or([eb('state', '=', 'created'), eb.and([eb('state', '=', 'paying'), eb('claim_until', '<=', at)])]))
            .where('expires_at', '<=', at)
            .returningAll()
            .executeTakeFirst();
          if (ended) await queueOrderNotification(trx, fromRow(ended), now);
          return ended;
        });
        if (row) expired.push(row.order_number);
      }
      if (expired.length > 0) notified();
      return expired;
    },
  };
}

function fromRow(row: OrderRow): GatewayOrder {
  return {
    orderNumber: row.order_number,
    merchantNo: row.merchant_no,
    merchantOrderId: row.merchant_order_id,
    amountMinor: Number(row.amount_minor),
    currency: row.currency,
    description: row.description,
    notifyUrl: row.notify_url,
    ...(row.return_url === null ? {} : { returnUrl: row.return_url }),
    ...(row.account === null ? {} : { account: row.account }),
    transactionCode: row.transaction_code,
    state: row.state,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    ...(row.ended_at === null ? {} : { endedAt: new Date(row.ended_at) }),
    ...(row.payment_reference === null ? {} : { paymentReference: row.payment_reference }),
    ...(row.failure_reason === null ? {} : { failureReason: row.failure_reason }),
  };
}
