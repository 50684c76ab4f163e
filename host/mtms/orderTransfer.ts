/**
 * A9: transfer the TKs of a production order to the customer's KMS. Each serial's newest intake
 * is queued in the outbox under its own delivery id, so a TK already queued or delivered is not
 * sent twice (the KMS would answer 'duplicate' anyway), and a delivery that died (KMS down past
 * the last retry) is re-armed. That makes the transfer both the batch send and its repair.
 *
 * A serial that was re-associated with another customer (A6) is not sent to the order's
 * customer: its TK belongs to the customer it moved to.
 */
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { createAuditStore } from '../audit/auditStore';
import type { Dialect } from '../db/database';
import type { Schema } from '../db/schema';
import { createOutboxStore, enqueue } from '../outbox/outboxStore';
import { intakeFromRow, kmsTkMessage, type MtmsTables } from './mtmsTables';

/**
 * Per serial: 'queued' (a new delivery), 'requeued' (a dead delivery re-armed), 'pending' (already
 * on its way), 'delivered', 'discarded' (its delivery was dropped as obsolete), 'no-tk' (no TK was
 * uploaded yet), 'reassigned' (the serial now belongs to another customer).
 */
export type SerialTransferStatus = 'queued' | 'requeued' | 'pending' | 'delivered' | 'discarded' | 'no-tk' | 'reassigned';

export interface OrderTransferResult {
  readonly orderId: number;
  readonly customerCode: string;
  readonly serials: readonly { readonly serial: string; readonly status: SerialTransferStatus; readonly deliveryId?: string }[];
  /** How many deliveries this transfer put on their way (queued + requeued). */
  readonly sent: number;
}

export interface OrderTransfer {
  /** @throws PaypadError MTMS_ORDER_UNKNOWN. */
  transferOrder(orderId: number, actor: string): Promise<OrderTransferResult>;
}

export function createOrderTransfer(schemaDb: Kysely<Schema>, dialect: Dialect, clock: () => Date): OrderTransfer {
  return {
    async transferOrder(orderId, actor) {
      if (!Number.isSafeInteger(orderId) || orderId < 1) throw new PaypadError('BAD_ARGUMENT', 'order id must be a positive integer');
      const at = clock();
      return schemaDb.transaction().execute(async (base): Promise<OrderTransferResult> => {
        const trx = base.withTables<MtmsTables>();
        const order = await trx.selectFrom('mtms_orders').selectAll().where('id', '=', orderId).executeTakeFirst();
        if (order === undefined) throw new PaypadError('MTMS_ORDER_UNKNOWN', `there is no production order ${orderId}`);
        const serials = await trx.selectFrom('mtms_serials').select(['serial', 'customer_code']).where('order_id', '=', orderId).orderBy('serial').execute();
        // The newest intake of each serial of the order, in one query.
        const newest = await trx
          .selectFrom('mtms_tk_intakes')
          .selectAll()
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('mtms_tk_intakes as i')
              .innerJoin('mtms_serials as s', 's.serial', 'i.serial')
              .select((e) => e.fn.max('i.id').as('id'))
              .where('s.order_id', '=', orderId)
              .groupBy('i.serial'),
          )
          .execute();
        const intakes = new Map(newest.map((row) => [row.serial, intakeFromRow(row)]));
        const outbox = createOutboxStore(base, dialect);
        const results: { serial: string; status: SerialTransferStatus; deliveryId?: string }[] = [];
        for (const { serial, customer_code: current } of serials) {
          const intake = intakes.get(serial);
          if (intake === undefined) {
            results.push({ serial, status: 'no-tk' });
            continue;
          }
          if (current !== order.customer_code || intake.customerCode !== current) {
            results.push({ serial, status: 'reassigned' });
            continue;
          }
          const { row, created } = await enqueue(base, kmsTkMessage(intake), at);
          let status: SerialTransferStatus;
          if (created) status = 'queued';
          else if (row.state === 'dead') {
            await outbox.requeue(row.id, at);
            status = 'requeued';
          } else status = row.state;
          results.push({ serial, status, deliveryId: intake.deliveryId });
        }
        const sent = results.filter((r) => r.status === 'queued' || r.status === 'requeued').length;
        const counts: Record<string, number> = {};
        for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
        await createAuditStore(base, () => at).append({ actor, action: 'mtms.order.transferred', subject: `order:${orderId}`, detail: { customerCode: order.customer_code, ...counts } });
        return { orderId, customerCode: order.customer_code, serials: results, sent };
      });
    },
  };
}
