/**
 * The MTMS administrator's writes: customers with their KMS address (A7), serials (A3) and
 * production orders (A9). Each call is one transaction: a batch of serials is registered whole or
 * not at all. Inputs are checked with the protocol's own field rules, so everything stored here
 * can later travel in an operator or KMS message unchanged.
 */
import type { Kysely } from 'kysely';
import { PaypadError } from '../../shared/errors';
import { customerCode as customerCodeField, customerName as customerNameField, serial as serialField } from '../../shared/protocol/fields';
import { createAuditStore } from '../audit/auditStore';
import { isoTimestamp, type Schema } from '../db/schema';
import { type Customer, customerFromRow, type KmsProtocol, KMS_PROTOCOLS, type MtmsTables, type ProductionOrder } from './mtmsTables';

export interface NewCustomer {
  readonly code: string;
  readonly name: string;
  readonly kmsUrl: string;
  readonly kmsProtocol?: KmsProtocol;
}

export interface Registry {
  /** @throws PaypadError BAD_ARGUMENT, MTMS_CUSTOMER_EXISTS. */
  addCustomer(customer: NewCustomer, actor: string): Promise<Customer>;
  /** Registers new serials for a customer. @throws BAD_ARGUMENT, MTMS_CUSTOMER_UNKNOWN, MTMS_SERIAL_EXISTS (nothing registered then). */
  addSerials(serials: readonly string[], customerCode: string, actor: string): Promise<void>;
  /**
   * A9: a production order of `serials` for a customer. Serials not yet registered are registered
   * for that customer; registered ones must belong to it and to no other order.
   * @throws BAD_ARGUMENT, MTMS_CUSTOMER_UNKNOWN, MTMS_SERIAL_EXISTS (nothing changed then).
   */
  createOrder(customerCode: string, serials: readonly string[], actor: string): Promise<ProductionOrder>;
  order(id: number): Promise<ProductionOrder | undefined>;
}

/** A batch above this is split by the caller: it bounds one transaction and one statement's parameters. */
export const MAX_SERIALS_PER_CALL = 10_000;
const INSERT_CHUNK = 500;
const MAX_URL_LENGTH = 2_048;

export function createRegistry(schemaDb: Kysely<Schema>, clock: () => Date): Registry {
  const db = schemaDb.withTables<MtmsTables>();

  const order = async (id: number): Promise<ProductionOrder | undefined> => {
    const row = await db.selectFrom('mtms_orders').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return undefined;
    const serials = await db.selectFrom('mtms_serials').select('serial').where('order_id', '=', id).orderBy('serial').execute();
    return { id: row.id, customerCode: row.customer_code, serials: serials.map((s) => s.serial), createdAt: new Date(row.created_at) };
  };

  return {
    async addCustomer(input, actor) {
      const code = checked(customerCodeField, input.code, 'customer code');
      const name = checked(customerNameField, input.name, 'customer name');
      const kmsUrl = checkKmsUrl(input.kmsUrl);
      const kmsProtocol = input.kmsProtocol ?? 'https-mtls';
      if (!KMS_PROTOCOLS.includes(kmsProtocol)) throw new PaypadError('BAD_ARGUMENT', `KMS protocol must be one of ${KMS_PROTOCOLS.join(', ')}`);
      const at = clock();
      return schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<MtmsTables>();
        const inserted = await trx
          .insertInto('mtms_customers')
          .values({ code, name, kms_url: kmsUrl, kms_protocol: kmsProtocol, created_at: isoTimestamp(at) })
          .onConflict((oc) => oc.column('code').doNothing())
          .executeTakeFirst();
        if (inserted.numInsertedOrUpdatedRows !== 1n) throw new PaypadError('MTMS_CUSTOMER_EXISTS', `customer ${code} exists already`);
        await createAuditStore(base, () => at).append({ actor, action: 'mtms.customer.added', subject: `customer:${code}`, detail: { name, kmsUrl, kmsProtocol } });
        return customerFromRow(await trx.selectFrom('mtms_customers').selectAll().where('code', '=', code).executeTakeFirstOrThrow());
      });
    },

    async addSerials(serials, customerCode, actor) {
      const code = checked(customerCodeField, customerCode, 'customer code');
      const list = checkSerials(serials);
      const at = clock();
      await schemaDb.transaction().execute(async (base) => {
        await assertCustomer(base, code);
        const inserted = await insertSerials(base, list, code, null, at);
        if (inserted.length !== list.length) throw serialsExist(list.filter((s) => !inserted.includes(s)));
        await createAuditStore(base, () => at).append({ actor, action: 'mtms.serials.added', subject: `customer:${code}`, detail: { count: list.length, first: list[0], last: list[list.length - 1] } });
      });
    },

    async createOrder(customerCode, serials, actor) {
      const code = checked(customerCodeField, customerCode, 'customer code');
      const list = checkSerials(serials);
      const at = clock();
      const id = await schemaDb.transaction().execute(async (base) => {
        const trx = base.withTables<MtmsTables>();
        await assertCustomer(base, code);
        const { id } = await trx.insertInto('mtms_orders').values({ customer_code: code, created_at: isoTimestamp(at) }).returning('id').executeTakeFirstOrThrow();
        const inserted = await insertSerials(base, list, code, id, at);
        const existing = list.filter((s) => !inserted.includes(s));
        for (let i = 0; i < existing.length; i += INSERT_CHUNK) {
          await trx
            .updateTable('mtms_serials')
            .set({ order_id: id, updated_at: isoTimestamp(at) })
            .where('serial', 'in', existing.slice(i, i + INSERT_CHUNK))
            .where('customer_code', '=', code)
            .where('order_id', 'is', null)
            .execute();
        }
        const attached = await trx.selectFrom('mtms_serials').select('serial').where('order_id', '=', id).execute();
        if (attached.length !== list.length) {
          const taken = new Set(attached.map((a) => a.serial));
          throw serialsExist(list.filter((s) => !taken.has(s)), `registered for another customer or already in an order`);
        }
        await createAuditStore(base, () => at).append({ actor, action: 'mtms.order.created', subject: `order:${id}`, detail: { customerCode: code, count: list.length } });
        return id;
      });
      return (await order(id)) as ProductionOrder;
    },

    order,
  };
}

async function assertCustomer(base: Kysely<Schema>, code: string): Promise<void> {
  const found = await base.withTables<MtmsTables>().selectFrom('mtms_customers').select('code').where('code', '=', code).executeTakeFirst();
  if (found === undefined) throw new PaypadError('MTMS_CUSTOMER_UNKNOWN', `there is no customer ${code}`);
}

/** Inserts the serials that are not registered yet; returns those it inserted. */
async function insertSerials(base: Kysely<Schema>, serials: readonly string[], code: string, orderId: number | null, at: Date): Promise<string[]> {
  const trx = base.withTables<MtmsTables>();
  const when = isoTimestamp(at);
  const inserted: string[] = [];
  for (let i = 0; i < serials.length; i += INSERT_CHUNK) {
    const rows = await trx
      .insertInto('mtms_serials')
      .values(serials.slice(i, i + INSERT_CHUNK).map((serial) => ({ serial, customer_code: code, order_id: orderId, created_at: when, updated_at: when })))
      .onConflict((oc) => oc.column('serial').doNothing())
      .returning('serial')
      .execute();
    inserted.push(...rows.map((r) => r.serial));
  }
  return inserted;
}

function serialsExist(serials: readonly string[], how = 'registered already'): PaypadError {
  const shown = serials.slice(0, 5).join(', ') + (serials.length > 5 ? ` and ${serials.length - 5} more` : '');
  return new PaypadError('MTMS_SERIAL_EXISTS', `serial${serials.length === 1 ? '' : 's'} ${shown} ${serials.length === 1 ? 'is' : 'are'} ${how}; nothing was changed`);
}

function checkSerials(serials: readonly string[]): string[] {
  if (!Array.isArray(serials) || serials.length === 0 || serials.length > MAX_SERIALS_PER_CALL) {
    throw new PaypadError('BAD_ARGUMENT', `give 1 to ${MAX_SERIALS_PER_CALL} serials`);
  }
  const list = serials.map((s) => checked(serialField, s, 'serial'));
  const seen = new Set<string>();
  for (const s of list) {
    if (seen.has(s)) throw new PaypadError('BAD_ARGUMENT', `serial ${s} is given twice`);
    seen.add(s);
  }
  return list;
}

/** A protocol field rule, reported as the administrator's bad argument rather than a peer's malformed message. */
function checked(rule: (value: unknown, path: string) => string, value: unknown, what: string): string {
  try {
    return rule(value, what);
  } catch (e) {
    throw new PaypadError('BAD_ARGUMENT', (e as Error).message);
  }
}

/** A7: the KMS base URL, https only, without credentials, query or fragment; stored without a trailing slash. */
export function checkKmsUrl(value: string): string {
  let url: URL;
  try {
    if (typeof value !== 'string' || value.length > MAX_URL_LENGTH) throw new TypeError('not a string or too long');
    url = new URL(value);
  } catch {
    throw new PaypadError('BAD_ARGUMENT', `KMS URL must be an absolute https:// URL of at most ${MAX_URL_LENGTH} characters`);
  }
  if (url.protocol !== 'https:') throw new PaypadError('BAD_ARGUMENT', 'KMS URL must use https:// (mutual TLS, A8)');
  if (url.username !== '' || url.password !== '') throw new PaypadError('BAD_ARGUMENT', 'KMS URL must not carry credentials: MTMS authenticates with its certificate');
  if (url.search !== '' || url.hash !== '') throw new PaypadError('BAD_ARGUMENT', 'KMS URL must not have a query or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
