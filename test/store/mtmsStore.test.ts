/**
 * MTMS's store on every dialect (SPEC A3, A5-A7, A9, X1): customers with their KMS address, the
 * serial table, production orders, TK intakes committed together with their outbox row, audited
 * re-association, and the transfer of an order's TKs.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuditStore } from '../../host/audit/auditStore';
import { createMtmsStore, type IntakeInput } from '../../host/mtms/mtmsStore';
import { KMS_TK_TOPIC } from '../../host/mtms/mtmsTables';
import { createOutboxStore, enqueue, type OutboxTables } from '../../host/outbox/outboxStore';
import { DIALECTS, useMigratedDatabase } from './helpers/testDatabase';

let counter = 0;
/** Unique codes and serials per test: the tests of a block share one database. */
const unique = (prefix: string) => `${prefix}${++counter}${randomBytes(2).toString('hex').toUpperCase()}`;
const operator = { name: 'alice', certSerial: '0A1B2C3D' };

describe.each(DIALECTS)('MTMS store on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  const store = () => createMtmsStore(database().db, dialect);
  const outbox = () => createOutboxStore(database().db, dialect);
  const audit = () => createAuditStore(database().db);

  const customer = async (name = 'Acme Bank') => {
    const code = unique('C');
    await store().addCustomer({ code, name, kmsUrl: `https://kms-${code.toLowerCase()}.example:8790/` }, 'admin:test');
    return code;
  };
  const intake = (serial: string, customerCode: string, extra: Partial<IntakeInput> = {}): IntakeInput => ({
    serial,
    customerCode,
    envelope: randomBytes(90),
    tkKcv: randomBytes(5).toString('hex').toUpperCase(),
    deliveryId: `tk-${randomBytes(16).toString('hex')}`,
    operator,
    at: new Date(),
    ...extra,
  });

  it('A7 keeps a customer with its KMS address and protocol; a code is added once', async () => {
    const code = unique('C');
    const added = await store().addCustomer({ code, name: 'Banque Étoile', kmsUrl: 'https://kms.example:8790/base/' }, 'admin:test');
    expect(added).toMatchObject({ code, name: 'Banque Étoile', kmsUrl: 'https://kms.example:8790/base', kmsProtocol: 'https-mtls' });
    expect(await store().customer(code)).toEqual(added);
    await expect(store().addCustomer({ code, name: 'Other', kmsUrl: 'https://x.example' }, 'admin:test')).rejects.toMatchObject({ code: 'MTMS_CUSTOMER_EXISTS' });
    expect(await store().customer(code)).toEqual(added);
    expect((await audit().listBySubject(`customer:${code}`)).map((e) => e.action)).toEqual(['mtms.customer.added']);
  });

  it('A7 refuses a malformed customer: bad code or name, a KMS URL that is not plain https', async () => {
    const base = { code: unique('C'), name: 'Acme', kmsUrl: 'https://kms.example' };
    const bad = [
      { code: 'lower' },
      { code: 'X' },
      { code: 'A'.repeat(17) },
      { name: '' },
      { name: 'n'.repeat(81) },
      { name: 'tab\there' },
      { kmsUrl: 'http://kms.example' },
      { kmsUrl: 'https://user:pw@kms.example' },
      { kmsUrl: 'https://kms.example/?a=1' },
      { kmsUrl: 'https://kms.example/#x' },
      { kmsUrl: 'not a url' },
      { kmsUrl: `https://kms.example/${'a'.repeat(2_100)}` },
      { kmsProtocol: 'smtp' },
    ];
    for (const change of bad) {
      const error = await store()
        .addCustomer({ ...base, ...change } as never, 'admin:test')
        .catch((e: unknown) => e);
      expect(error, JSON.stringify(change).slice(0, 60)).toMatchObject({ code: 'BAD_ARGUMENT' });
    }
    expect(await store().customer(base.code)).toBeUndefined();
  });

  it('A3 registers serials all or nothing, and answers serial -> customer code and name', async () => {
    const code = await customer('Acme Bank');
    const [s1, s2, s3] = [unique('SN-'), unique('SN-'), unique('SN-')];
    await store().addSerials([s1], code, 'admin:test');
    await expect(store().addSerials([s2, s1, s3], code, 'admin:test')).rejects.toMatchObject({ code: 'MTMS_SERIAL_EXISTS' });
    expect(await store().serial(s2)).toBeUndefined();
    expect(await store().serial(s3)).toBeUndefined();
    await store().addSerials([s2, s3], code, 'admin:test');
    expect(await store().serial(s2)).toEqual({ serial: s2, customerCode: code, customerName: 'Acme Bank' });

    await expect(store().addSerials([unique('SN-')], 'NOSUCH', 'admin:test')).rejects.toMatchObject({ code: 'MTMS_CUSTOMER_UNKNOWN' });
    for (const serials of [[], [s1.toLowerCase()], ['AB'], [unique('SN-'), 'x'.repeat(33)], ['DUP-1', 'DUP-1']]) {
      await expect(store().addSerials(serials, code, 'admin:test')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    }
  });

  it("A9 a production order registers its new serials and takes the customer's unassigned ones, and nothing else", async () => {
    const code = await customer();
    const other = await customer();
    const registered = unique('SN-');
    const fresh = unique('SN-');
    await store().addSerials([registered], code, 'admin:test');
    const order = await store().createOrder(code, [fresh, registered], 'admin:test');
    expect(order).toMatchObject({ customerCode: code, serials: [fresh, registered].sort() });
    expect(await store().order(order.id)).toEqual(order);
    expect((await store().serial(fresh))?.orderId).toBe(order.id);

    const othersSerial = unique('SN-');
    await store().addSerials([othersSerial], other, 'admin:test');
    const newOne = unique('SN-');
    for (const serials of [[newOne, othersSerial], [newOne, registered]]) {
      await expect(store().createOrder(code, serials, 'admin:test')).rejects.toMatchObject({ code: 'MTMS_SERIAL_EXISTS' });
    }
    // Nothing of the refused orders stayed behind.
    expect(await store().serial(newOne)).toBeUndefined();
    expect(await store().order(order.id + 1)).toBeUndefined();
    expect((await store().serial(othersSerial))?.orderId).toBeUndefined();
  });

  it('A5/A7 an intake and the outbox row that delivers it commit together; the row refers to the intake, X1 never holds the envelope', async () => {
    const code = await customer();
    const serial = unique('SN-');
    await store().addSerials([serial], code, 'admin:test');
    const input = intake(serial, code);
    const result = await store().recordIntake(input);
    expect(result).toMatchObject({ created: true, intake: { serial, customerCode: code, deliveryId: input.deliveryId, tkKcv: input.tkKcv, operator } });
    expect(result.intake.envelope).toBe(Buffer.from(input.envelope).toString('hex').toUpperCase());
    expect(await store().latestIntake(serial)).toEqual(result.intake);

    const row = await outbox().byKey(input.deliveryId);
    expect(row).toMatchObject({ topic: KMS_TK_TOPIC, destination: code, state: 'pending', payload: { intakeId: result.intake.id, serial, customerCode: code } });
    expect(JSON.stringify(row)).not.toContain(result.intake.envelope);
    expect((await audit().listBySubject(`terminal:${serial}`)).map((e) => [e.action, e.detail.deliveryId])).toEqual([['mtms.tk.received', input.deliveryId]]);
  });

  it("A5 an operator's retry of the same upload gets the same receipt and queues nothing more", async () => {
    const code = await customer();
    const serial = unique('SN-');
    await store().addSerials([serial], code, 'admin:test');
    const first = await store().recordIntake(intake(serial, code));
    const again = await store().recordIntake(intake(serial, code, { envelope: Buffer.from(first.intake.envelope, 'hex'), tkKcv: first.intake.tkKcv, deliveryId: 'tk-would-be-new' }));
    expect(again).toEqual({ intake: first.intake, created: false });
    expect(await outbox().byKey('tk-would-be-new')).toBeUndefined();
    // The same TK exported anew (another ephemeral key, so other envelope bytes) is the same TK.
    const reexported = await store().recordIntake(intake(serial, code, { tkKcv: first.intake.tkKcv, deliveryId: 'tk-would-be-new-2' }));
    expect(reexported).toEqual({ intake: first.intake, created: false });
    expect(await outbox().byKey('tk-would-be-new-2')).toBeUndefined();
  });

  describe('A13 repair authorisations', () => {
    const onboarded = async () => {
      const code = await customer();
      const serial = unique('SN-');
      await store().addSerials([serial], code, 'admin:test');
      const first = await store().recordIntake(intake(serial, code));
      return { code, serial, first };
    };
    const untouched = async (serial: string, first: { intake: { id: number } }, refused: IntakeInput) => {
      expect((await store().latestIntake(serial))?.id).toBe(first.intake.id);
      expect(await outbox().byKey(refused.deliveryId)).toBeUndefined();
    };

    it('A13 another TK for a serial that has one (a fake PIN pad, a replayed envelope) is refused without an authorisation, storing nothing', async () => {
      const { code, serial, first } = await onboarded();
      const takeover = intake(serial, code);
      await expect(store().recordIntake(takeover)).rejects.toMatchObject({ code: 'MTMS_REPAIR_NOT_AUTHORISED' });
      await untouched(serial, first, takeover);
      // ... also when it names another customer: re-association does not open a way around it.
      const other = await customer();
      const elsewhere = intake(serial, other);
      await expect(store().recordIntake(elsewhere)).rejects.toMatchObject({ code: 'MTMS_REPAIR_NOT_AUTHORISED' });
      await untouched(serial, first, elsewhere);
      expect((await store().serial(serial))?.customerCode).toBe(code);
    });

    it('A13 an authorisation lets exactly one new TK in, names the intake that used it, and an old envelope cannot come back', async () => {
      const { code, serial, first } = await onboarded();
      const opened = await store().openRepair(serial, 30, 'admin:carol');
      expect(opened).toMatchObject({ serial, openedBy: 'admin:carol' });
      expect(opened.expiresAt.getTime() - opened.openedAt.getTime()).toBe(30 * 60_000);
      const repair = intake(serial, code);
      const repaired = await store().recordIntake(repair);
      expect(repaired.created).toBe(true);
      const [used] = await store().repairAuthorisations(serial);
      expect(used).toMatchObject({ id: opened.id, closedBy: `intake:${repair.deliveryId}` });
      const received = (await audit().listBySubject(`terminal:${serial}`)).filter((e) => e.action === 'mtms.tk.received');
      expect(received.at(-1)?.detail).toMatchObject({ deliveryId: repair.deliveryId, repairAuthorisation: opened.id });

      // The old TK's envelope replayed, or yet another TK: refused, the repaired TK stays.
      for (const attempt of [intake(serial, code, { envelope: Buffer.from(first.intake.envelope, 'hex'), tkKcv: first.intake.tkKcv }), intake(serial, code)]) {
        await expect(store().recordIntake(attempt)).rejects.toMatchObject({ code: 'MTMS_REPAIR_NOT_AUTHORISED' });
        await untouched(serial, repaired, attempt);
      }
    });

    it('A13 an expired or withdrawn authorisation lets nothing in; opening one is checked and audited', async () => {
      const { code, serial, first } = await onboarded();
      await store().openRepair(serial, 1, 'admin:carol');
      const late = intake(serial, code, { at: new Date(Date.now() + 61_000) });
      await expect(store().recordIntake(late)).rejects.toMatchObject({ code: 'MTMS_REPAIR_NOT_AUTHORISED' });
      await untouched(serial, first, late);

      await store().openRepair(serial, 60, 'admin:carol');
      expect(await store().withdrawRepair(serial, 'admin:dave')).toBe(2);
      const withdrawn = intake(serial, code);
      await expect(store().recordIntake(withdrawn)).rejects.toMatchObject({ code: 'MTMS_REPAIR_NOT_AUTHORISED' });
      await untouched(serial, first, withdrawn);
      expect((await store().repairAuthorisations(serial)).every((a) => a.closedBy === 'admin:dave')).toBe(true);

      await expect(store().openRepair(unique('SN-'), 60, 'admin:carol')).rejects.toMatchObject({ code: 'MTMS_SERIAL_UNKNOWN' });
      for (const minutes of [0, -5, 1.5, 24 * 60 + 1]) {
        await expect(store().openRepair(serial, minutes, 'admin:carol')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      }
      const actions = (await audit().listBySubject(`terminal:${serial}`)).map((e) => e.action);
      expect(actions.filter((a) => a.startsWith('mtms.repair.'))).toEqual(['mtms.repair.authorised', 'mtms.repair.authorised', 'mtms.repair.withdrawn']);
    });
  });

  it('A5/A7 when the delivery cannot be queued, the intake is not stored and the serial does not move', async () => {
    const code = await customer();
    const other = await customer();
    const serial = unique('SN-');
    await store().addSerials([serial], code, 'admin:test');
    const input = intake(serial, other);
    // Another message already holds this delivery id: enqueue refuses, the transaction rolls back.
    await enqueue(database().db, { topic: 'test.other', destination: 'X', payload: {}, idempotencyKey: input.deliveryId });
    await expect(store().recordIntake(input)).rejects.toMatchObject({ code: 'DELIVERY_CONFLICT' });
    expect(await store().latestIntake(serial)).toBeUndefined();
    expect((await store().serial(serial))?.customerCode).toBe(code);
    expect(await audit().listBySubject(`terminal:${serial}`)).toEqual([]);
  });

  it('A6 an intake for another customer re-associates the serial, audited with old and new customer and the operator', async () => {
    const from = await customer('Old Bank');
    const to = await customer('New Bank');
    const serial = unique('SN-');
    await store().addSerials([serial], from, 'admin:test');
    const input = intake(serial, to);
    const result = await store().recordIntake(input);
    expect(result.reassociatedFrom).toBe(from);
    expect(await store().serial(serial)).toMatchObject({ customerCode: to, customerName: 'New Bank' });
    const entries = await audit().listBySubject(`terminal:${serial}`);
    expect(entries.map((e) => e.action)).toEqual(['mtms.serial.reassociated', 'mtms.tk.received']);
    expect(entries[0]).toMatchObject({ actor: 'operator:alice', detail: { from, to, operatorCertSerial: operator.certSerial, deliveryId: input.deliveryId } });
    expect((await outbox().byKey(input.deliveryId))?.destination).toBe(to);
  });

  it('A5/A6 refuses an intake for an unknown serial or customer, storing nothing', async () => {
    const code = await customer();
    const serial = unique('SN-');
    await expect(store().recordIntake(intake(serial, code))).rejects.toMatchObject({ code: 'MTMS_SERIAL_UNKNOWN' });
    await store().addSerials([serial], code, 'admin:test');
    const input = intake(serial, 'NOSUCH');
    await expect(store().recordIntake(input)).rejects.toMatchObject({ code: 'MTMS_CUSTOMER_UNKNOWN' });
    expect(await store().latestIntake(serial)).toBeUndefined();
    expect(await outbox().byKey(input.deliveryId)).toBeUndefined();
  });

  it("A9 transferring an order queues each serial's newest TK once, re-arms dead deliveries and skips moved serials", async () => {
    const code = await customer();
    const elsewhere = await customer();
    const [noTk, pending, delivered, dead, moved, purged] = Array.from({ length: 6 }, () => unique('SN-'));
    const order = await store().createOrder(code, [noTk, pending, delivered, dead, moved, purged], 'admin:test');
    const ids: Record<string, string> = {};
    for (const serial of [pending, delivered, dead, purged]) {
      await store().recordIntake(intake(serial, code, { envelope: randomBytes(90) }));
      await store().openRepair(serial, 60, 'admin:test'); // a second TK is a repair (A13)
      const newest = intake(serial, code);
      await store().recordIntake(newest);
      ids[serial] = newest.deliveryId;
    }
    await store().recordIntake(intake(moved, elsewhere));
    const db = database().db.withTables<OutboxTables>();
    const at = new Date().toISOString();
    await db.updateTable('outbox').set({ state: 'delivered', finished_at: at }).where('idempotency_key', '=', ids[delivered]).execute();
    await db.updateTable('outbox').set({ state: 'dead', finished_at: at, attempts: 24 }).where('idempotency_key', '=', ids[dead]).execute();
    // A retention job removed the row: the transfer queues it again under the same delivery id.
    await db.deleteFrom('outbox').where('idempotency_key', '=', ids[purged]).execute();

    const result = await store().transferOrder(order.id, 'admin:test');
    const statusOf = Object.fromEntries(result.serials.map((s) => [s.serial, s.status]));
    expect(statusOf).toEqual({ [noTk]: 'no-tk', [pending]: 'pending', [delivered]: 'delivered', [dead]: 'requeued', [moved]: 'reassigned', [purged]: 'queued' });
    expect(result.sent).toBe(2);
    expect(result.serials.find((s) => s.serial === dead)?.deliveryId).toBe(ids[dead]);
    expect(await outbox().byKey(ids[dead])).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await outbox().byKey(ids[purged])).toMatchObject({ state: 'pending', destination: code });
    const [entry] = await audit().listBySubject(`order:${order.id}`, { afterId: 0 }).then((e) => e.filter((x) => x.action === 'mtms.order.transferred'));
    expect(entry.detail).toMatchObject({ customerCode: code, 'no-tk': 1, requeued: 1, queued: 1, reassigned: 1 });

    await expect(store().transferOrder(order.id + 1_000, 'admin:test')).rejects.toMatchObject({ code: 'MTMS_ORDER_UNKNOWN' });
    await expect(store().transferOrder(0, 'admin:test')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('keeps the first intake key made: a second host starting at the same time gets that one', async () => {
    const first = { handle: { block: 'D0000-FIRST', kcv: 'AAAAAAAAAA' }, publicKey: new Uint8Array(65).fill(4) };
    const second = { handle: { block: 'D0000-SECOND', kcv: 'BBBBBBBBBB' }, publicKey: new Uint8Array(65).fill(5) };
    expect(await store().keepIntakeKey(first, new Date())).toEqual(first);
    expect(await store().keepIntakeKey(second, new Date())).toEqual(first);
    expect(await store().intakeKey()).toEqual(first);
  });
});
