/**
 * E2, E3, E8 on every dialect: the gateway's orders. Transaction codes stay unique among live
 * orders when creates race and codes collide (the retry runs in the database under the unique
 * index); orders expire with their codes; of two payments claiming one order exactly one wins;
 * an ended order's merchant notification is queued with the ending.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../host/db/database';
import type { NewOrder } from '../../host/gateway/gatewayOrders';
import { createOrderStore, type OrderStore } from '../../host/gateway/orderStore';
import { dammCheckDigit } from '../../host/gateway/transactionCode';
import { createOutboxStore } from '../../host/outbox/outboxStore';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

const T0 = new Date('2026-12-06T08:00:00.000Z');

function newOrder(overrides: Partial<NewOrder> = {}): NewOrder {
  return {
    merchantNo: '898300000000001',
    merchantOrderId: `MO-${randomBytes(6).toString('hex')}`,
    amountMinor: 12_800,
    currency: 'CNY',
    description: 'Two tea cups',
    notifyUrl: 'https://shop.example/notify',
    expiresInMinutes: 15,
    ...overrides,
  };
}

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return codeOf(e);
  }
}

/** A clock the test moves. */
function testClock(start = T0) {
  let now = start.getTime();
  return Object.assign(() => new Date(now), { advance: (ms: number) => void (now += ms) });
}

for (const dialect of DIALECTS) {
  describe(`gateway orders on ${dialect}`, () => {
    const database = useMigratedDatabase(dialect);
    const store = (options: { clock?: () => Date; random?: (min: number, max: number) => number; db?: Database } = {}): OrderStore =>
      createOrderStore({ database: options.db ?? database(), clock: options.clock ?? (() => T0), random: options.random });

    it('E2: an order gets a 12-digit transaction code with a valid check digit; the code finds it', async () => {
      const orders = store();
      const order = await orders.create(newOrder({ account: 'alice@paypad' }));
      expect(order.transactionCode).toMatch(/^\d{12}$/);
      expect(dammCheckDigit(order.transactionCode)).toBe(0);
      expect(order).toMatchObject({ state: 'created', amountMinor: 12_800, currency: 'CNY', account: 'alice@paypad' });
      expect(order.expiresAt.getTime() - order.createdAt.getTime()).toBe(15 * 60_000);
      expect((await orders.findByCode(order.transactionCode)).orderNumber).toBe(order.orderNumber);
      expect((await orders.findByCode(order.transactionCode.replace(/(\d{4})(?=\d)/g, '$1 '))).orderNumber).toBe(order.orderNumber);
    });

    it('E2: a merchant order id is one order; again with other content is GATEWAY_ORDER_EXISTS and stores nothing', async () => {
      const orders = store();
      const first = newOrder();
      await orders.create(first);
      expect(await refusal(orders.create({ ...first, amountMinor: 1 }))).toBe('GATEWAY_ORDER_EXISTS');
      expect((await orders.findForMerchant(first.merchantNo, first.merchantOrderId)).amountMinor).toBe(12_800);
      // Another merchant may use the same order id.
      await orders.create({ ...first, merchantNo: '898300000000002' });
    });

    it('E2: a mistyped code is refused by its check digit; an unknown valid code is not found', async () => {
      const orders = store();
      const order = await orders.create(newOrder());
      const c = order.transactionCode;
      const typo = c.slice(0, 5) + ((Number(c[5]) + 1) % 10) + c.slice(6);
      expect(await refusal(orders.findByCode(typo))).toBe('TRANSACTION_CODE_INVALID');
      const body = c.startsWith('9') ? `1${c.slice(1, 11)}` : `9${c.slice(1, 11)}`;
      expect(await refusal(orders.findByCode(body + dammCheckDigit(body)))).toBe('GATEWAY_ORDER_NOT_FOUND');
    });

    it('E2: codes stay unique among live orders when 40 creates race and the random source keeps colliding', async () => {
      // Eight possible codes for 40 orders would deadlock; 64 codes force many collisions and retries.
      const pool = Array.from({ length: 64 }, (_, i) => 10_000_000_000 + i * 7_919);
      const random = () => pool[Math.floor(Math.random() * pool.length)];
      const connections = dialect === 'postgres' ? [database(), database.connect(), database.connect()] : [database()];
      const stores = connections.map((db) => store({ db, random }));
      const created = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => stores[i % stores.length].create(newOrder({ merchantNo: '898300000000077' }))));
      const orders = created.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failures = created.flatMap((r) => (r.status === 'rejected' ? [codeOf(r.reason)] : []));
      // A create that drew 8 taken codes in a row gives up with INTERNAL; with 64 codes for 40 orders that is rare, never silent.
      expect(failures.every((f) => f === 'INTERNAL')).toBe(true);
      expect(orders.length).toBeGreaterThanOrEqual(36);
      const codes = orders.map((o) => o.transactionCode);
      expect(new Set(codes).size).toBe(codes.length);
      for (const o of orders) expect((await stores[0].findByCode(o.transactionCode)).orderNumber).toBe(o.orderNumber);
    });

    it('E2: an expired order is refused by code with GATEWAY_ORDER_EXPIRED, cannot be claimed, and the sweep ends it with a notification', async () => {
      const clock = testClock();
      const orders = store({ clock });
      const order = await orders.create(newOrder({ expiresInMinutes: 1 }));
      clock.advance(60_000);
      expect(await refusal(orders.findByCode(order.transactionCode))).toBe('GATEWAY_ORDER_EXPIRED');
      expect(await refusal(orders.claimForPayment(order.orderNumber))).toBe('GATEWAY_ORDER_EXPIRED');
      expect(await orders.expireDue()).toContain(order.orderNumber);
      expect(await orders.expireDue()).not.toContain(order.orderNumber);
      expect(await orders.findByNumber(order.orderNumber)).toMatchObject({ state: 'expired', endedAt: clock() });
      expect(await refusal(orders.findByCode(order.transactionCode))).toBe('GATEWAY_ORDER_EXPIRED');
      const note = await createOutboxStore(database().db, dialect).byKey(`gwn-${order.orderNumber}`);
      expect(note?.payload).toMatchObject({ notifyUrl: 'https://shop.example/notify', body: { status: 'expired', amount: 12_800, currency: 'CNY', orderNumber: order.orderNumber, merchantOrderId: order.merchantOrderId } });
    });

    it('E3: two payments claim one order at once: exactly one wins, the other is GATEWAY_ORDER_NOT_PAYABLE', async () => {
      const order = await store().create(newOrder());
      const rivals = dialect === 'postgres' ? [store(), store({ db: database.connect() })] : [store(), store()];
      for (let round = 0; round < 5; round++) {
        const o = round === 0 ? order : await rivals[0].create(newOrder());
        const results = await Promise.allSettled(rivals.map((s) => s.claimForPayment(o.orderNumber)));
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        expect(results.filter((r) => r.status === 'rejected').map((r) => codeOf((r as PromiseRejectedResult).reason))).toEqual(['GATEWAY_ORDER_NOT_PAYABLE']);
      }
    });

    it('E3, E8: the claim holder marks the order paid (once; a retry is answered, another token refused) and the merchant notification is queued', async () => {
      const orders = store();
      const order = await orders.create(newOrder());
      const claim = await orders.claimForPayment(order.orderNumber);
      expect(claim.order.state).toBe('paying');
      expect((await orders.findByCode(order.transactionCode)).state).toBe('paying');
      expect(await refusal(orders.markPaid(order.orderNumber, 'f'.repeat(32), 'REF-1'))).toBe('GATEWAY_CLAIM_INVALID');
      const paid = await orders.markPaid(order.orderNumber, claim.claimToken, 'REF-1');
      expect(paid).toMatchObject({ state: 'paid', paymentReference: 'REF-1' });
      expect(await orders.markPaid(order.orderNumber, claim.claimToken, 'REF-1')).toMatchObject({ state: 'paid' });
      expect(await refusal(orders.markFailed(order.orderNumber, claim.claimToken, '51'))).toBe('GATEWAY_CLAIM_INVALID');
      expect(await refusal(orders.claimForPayment(order.orderNumber))).toBe('GATEWAY_ORDER_NOT_PAYABLE');
      const note = await createOutboxStore(database().db, dialect).byKey(`gwn-${order.orderNumber}`);
      expect(note?.payload).toMatchObject({ body: { status: 'paid', amount: 12_800, paymentReference: 'REF-1', notificationId: `gwn-${order.orderNumber}` } });
    });

    it('E3: a failed payment ends the order failed with its reason; a paying order expires only after its claim runs out', async () => {
      const clock = testClock();
      const orders = createOrderStore({ database: database(), clock, claimMs: 5 * 60_000 });
      const failing = await orders.create(newOrder());
      const c1 = await orders.claimForPayment(failing.orderNumber);
      expect(await orders.markFailed(failing.orderNumber, c1.claimToken, 'issuer declined 51')).toMatchObject({ state: 'failed', failureReason: 'issuer declined 51' });

      const slow = await orders.create(newOrder({ expiresInMinutes: 1 }));
      const c2 = await orders.claimForPayment(slow.orderNumber);
      clock.advance(2 * 60_000);
      expect(await orders.expireDue()).not.toContain(slow.orderNumber);
      // The claim still holds it: the payment may finish after the order's own expiry.
      clock.advance(4 * 60_000);
      expect(await orders.expireDue()).toContain(slow.orderNumber);
      expect(await refusal(orders.markPaid(slow.orderNumber, c2.claimToken, 'LATE'))).toBe('GATEWAY_CLAIM_INVALID');
    });

    it('E2, E3: orders bound to an account are listed for it, newest first, open ones only', async () => {
      const clock = testClock();
      const orders = store({ clock });
      const account = `u${randomBytes(4).toString('hex')}`;
      const a = await orders.create(newOrder({ account }));
      clock.advance(1_000);
      const b = await orders.create(newOrder({ account, expiresInMinutes: 1 }));
      clock.advance(1_000);
      const c = await orders.create(newOrder({ account }));
      await orders.create(newOrder({ account: `${account}x` }));
      expect((await orders.listForAccount(account)).map((o) => o.orderNumber)).toEqual([c.orderNumber, b.orderNumber, a.orderNumber]);
      await orders.claimForPayment(c.orderNumber);
      clock.advance(60_000);
      expect((await orders.listForAccount(account)).map((o) => o.orderNumber)).toEqual([a.orderNumber]);
    });

    it('E1: a bad order is refused with the field named and nothing is stored', async () => {
      const orders = store();
      for (const [bad, field] of [
        [{ amountMinor: 0 }, 'amount'],
        [{ amountMinor: 1.5 }, 'amount'],
        [{ currency: 'cny' }, 'currency'],
        [{ expiresInMinutes: 61 }, 'expiresInMinutes'],
        [{ expiresInMinutes: 0 }, 'expiresInMinutes'],
        [{ notifyUrl: 'http://shop.example/notify' }, 'notifyUrl'],
        [{ notifyUrl: 'https://user:pw@shop.example/' }, 'notifyUrl'],
        [{ description: '' }, 'description'],
        [{ account: 'a b' }, 'account'],
      ] as const) {
        const order = newOrder(bad as Partial<NewOrder>);
        await expect(orders.create(order)).rejects.toMatchObject({ code: 'GATEWAY_ORDER_INVALID', field });
        expect(await refusal(orders.findForMerchant(order.merchantNo, order.merchantOrderId))).toBe('GATEWAY_ORDER_NOT_FOUND');
      }
    });
  });
}
