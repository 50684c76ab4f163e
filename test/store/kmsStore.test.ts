/**
 * The KMS store on every dialect: the delivery inbox (A7: applied exactly once), TK replacement
 * (A13), the conditional sequence updates that refuse replays across host processes (X2), and
 * the table constraints that keep a terminal's key set whole. Handles here are opaque text: the
 * store never opens them (X1 is the HSM's side; test/unit/kms checks the rows hold no clear key).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../host/db/database';
import { migrateToLatest } from '../../host/db/migrate';
import type { KeyHandle } from '../../host/hsm/hsm';
import { type KmsStore, type TkDelivery, type WorkingKeys, createKmsStore } from '../../host/kms/kmsStore';
import { MAX_SEQUENCE } from '../../shared/protocol/sequence';
import { createTestStore, DIALECTS, type TestStore } from './helpers/testDatabase';

const AT = new Date('2025-03-01T10:00:00.000Z');
let handles = 0;
const handle = (kcv = (++handles).toString(16).toUpperCase().padStart(10, '0')): KeyHandle => ({ block: `D0144K1AB00N0000${kcv}`, kcv });
const workingKeys = (): WorkingKeys => ({ PIK: handle(), MAK: handle(), TDK: handle(), DMK: handle() });

describe.each(DIALECTS)('KMS store on %s', (dialect) => {
  let testStore: TestStore;
  let database: Database;
  let store: KmsStore;
  let serials = 0;
  const newSerial = () => `PP-STORE-${++serials}`;

  beforeAll(async () => {
    testStore = await createTestStore(dialect);
    database = testStore.open();
    await migrateToLatest(database);
    store = createKmsStore(database.db);
  });
  afterAll(async () => {
    await testStore.destroy();
  });

  const delivery = (serial: string, deliveryId: string, tk: KeyHandle = handle(), customerCode = 'ACME'): TkDelivery => ({
    customerCode,
    deliveryId,
    serial,
    envelopeSha256: 'AB'.repeat(32),
    tk,
    at: AT,
  });

  /**
   * Three stores racing as three host processes would. On SQLite one process owns the file
   * (host/db/migrate.ts): its writers share one connection, which Kysely serialises.
   */
  const racers = (): KmsStore[] =>
    dialect === 'postgres' ? [store, createKmsStore(testStore.open().db), createKmsStore(testStore.open().db)] : [store, store, store];

  /** A terminal with its first TK installed. */
  async function installed(serial = newSerial()): Promise<string> {
    expect(await store.applyTkDelivery(delivery(serial, `first-${serial}`))).toEqual({ outcome: 'applied', change: 'installed', generation: 1 });
    return serial;
  }

  it('keeps the first intake key of an instance when two hosts make one', async () => {
    const first = { handle: handle(), publicKey: new Uint8Array(65).fill(4) };
    const second = { handle: handle(), publicKey: new Uint8Array(65).fill(5) };
    expect(await store.intakeKey('KEEP')).toBeUndefined();
    expect(await store.keepIntakeKey('KEEP', first, AT)).toEqual(first);
    expect(await store.keepIntakeKey('KEEP', second, AT)).toEqual(first);
    expect(await store.intakeKey('KEEP')).toEqual(first);
  });

  it('A7: a delivery id is applied once; a repeat reports the first and changes nothing', async () => {
    const serial = await installed();
    const before = await store.terminal('ACME', serial);
    const repeat = await store.applyTkDelivery(delivery(serial, `first-${serial}`, handle()));
    expect(repeat).toEqual({ outcome: 'duplicate', delivery: { deliveryId: `first-${serial}`, serial, envelopeSha256: 'AB'.repeat(32), appliedAt: AT } });
    expect(await store.terminal('ACME', serial)).toEqual(before);
    expect(await store.delivery('ACME', `first-${serial}`)).toMatchObject({ serial });
    expect(await store.delivery('BETA', `first-${serial}`)).toBeUndefined();
  });

  it('A7: concurrent copies of one delivery (several host processes on PostgreSQL): one applies, the others are duplicates', async () => {
    const serial = newSerial();
    const results = await Promise.all(racers().map((s) => s.applyTkDelivery(delivery(serial, `race-${serial}`))));
    expect(results.map((r) => r.outcome).sort()).toEqual(['applied', 'duplicate', 'duplicate']);
  });

  it('A13: a new TK replaces the key set, bumps the generation and restarts the sequence; the same TK changes nothing', async () => {
    const serial = await installed();
    expect(await store.storeTmk({ customerCode: 'ACME', serial, generation: 1, seq: 5, tmk: handle(), at: AT })).toBe(true);
    const tmk = (await store.terminal('ACME', serial))?.tmk as KeyHandle;
    expect(await store.storeWorkingKeys({ customerCode: 'ACME', serial, generation: 1, tmkBlock: tmk.block, seq: 6, keys: workingKeys(), at: AT })).toBe(true);
    const current = await store.terminal('ACME', serial);

    const same = await store.applyTkDelivery(delivery(serial, `same-${serial}`, current?.tk));
    expect(same).toEqual({ outcome: 'applied', change: 'unchanged', generation: 1 });
    expect(await store.terminal('ACME', serial)).toEqual(current);

    const newTk = handle();
    const later = new Date(AT.getTime() + 1000);
    expect(await store.applyTkDelivery({ ...delivery(serial, `repair-${serial}`, newTk), at: later })).toEqual({ outcome: 'applied', change: 'replaced', generation: 2 });
    expect(await store.terminal('ACME', serial)).toEqual({
      customerCode: 'ACME',
      serial,
      generation: 2,
      lastSeq: 0,
      tkDeliveryId: `repair-${serial}`,
      tk: newTk,
      updatedAt: later,
    });
    // A request verified under generation 1 can no longer store anything.
    expect(await store.storeTmk({ customerCode: 'ACME', serial, generation: 1, seq: 7, tmk: handle(), at: AT })).toBe(false);
  });

  it('A7 A13: every TK change is in the audit log, with the TK check value and never a key block', async () => {
    const serial = await installed();
    await store.applyTkDelivery(delivery(serial, `audit-${serial}`));
    const { rows } = await sql<{ action: string; detail: string }>`select action, detail from audit_log where subject = ${`terminal:${serial}`} order by id`.execute(database.db);
    expect(rows.map((r) => r.action)).toEqual(['kms.tk.installed', 'kms.tk.replaced']);
    expect(JSON.parse(rows[1].detail)).toMatchObject({ deliveryId: `audit-${serial}`, generation: 2 });
    expect(rows.map((r) => r.detail).join()).not.toContain('D0144');
  });

  it('X2: the sequence only grows: an equal or lower number stores nothing', async () => {
    const serial = await installed();
    const update = { customerCode: 'ACME', serial, generation: 1, at: AT };
    expect(await store.storeTmk({ ...update, seq: 3, tmk: handle() })).toBe(true);
    const after3 = await store.terminal('ACME', serial);
    expect(await store.storeTmk({ ...update, seq: 3, tmk: handle() })).toBe(false);
    expect(await store.storeTmk({ ...update, seq: 2, tmk: handle() })).toBe(false);
    expect(await store.storeWorkingKeys({ ...update, seq: 3, tmkBlock: after3?.tmk?.block as string, keys: workingKeys() })).toBe(false);
    expect(await store.terminal('ACME', serial)).toEqual(after3);
  });

  it('X2: concurrent updates with one sequence number (several host processes on PostgreSQL): exactly one stores', async () => {
    const serial = await installed();
    const results = await Promise.all(racers().map((s) => s.storeTmk({ customerCode: 'ACME', serial, generation: 1, seq: 1, tmk: handle(), at: AT })));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('X2: sequence numbers up to 2^53 - 1 are stored and compared exactly (bigint column)', async () => {
    const serial = await installed();
    const update = { customerCode: 'ACME', serial, generation: 1, at: AT };
    expect(await store.storeTmk({ ...update, seq: MAX_SEQUENCE - 1, tmk: handle() })).toBe(true);
    expect(await store.storeTmk({ ...update, seq: MAX_SEQUENCE, tmk: handle() })).toBe(true);
    expect((await store.terminal('ACME', serial))?.lastSeq).toBe(MAX_SEQUENCE);
    expect(await store.storeTmk({ ...update, seq: MAX_SEQUENCE, tmk: handle() })).toBe(false);
  });

  it('A11 A12: a new TMK drops the working keys; working keys store only under the TMK they were made under', async () => {
    const serial = await installed();
    const update = { customerCode: 'ACME', serial, generation: 1, at: AT };
    await store.storeTmk({ ...update, seq: 1, tmk: handle() });
    const firstTmk = (await store.terminal('ACME', serial))?.tmk as KeyHandle;
    const keys = workingKeys();
    expect(await store.storeWorkingKeys({ ...update, seq: 2, tmkBlock: firstTmk.block, keys })).toBe(true);
    expect((await store.terminal('ACME', serial))?.workingKeys).toEqual(keys);
    await store.storeTmk({ ...update, seq: 3, tmk: handle() });
    expect((await store.terminal('ACME', serial))?.workingKeys).toBeUndefined();
    expect(await store.storeWorkingKeys({ ...update, seq: 4, tmkBlock: firstTmk.block, keys: workingKeys() })).toBe(false);
  });

  it('keeps each customer\'s terminals apart: one serial at two KMSs is two records', async () => {
    const serial = await installed();
    expect(await store.terminal('BETA', serial)).toBeUndefined();
    await store.applyTkDelivery(delivery(serial, `first-${serial}`, handle(), 'BETA'));
    expect((await store.terminal('BETA', serial))?.generation).toBe(1);
    expect(await store.storeTmk({ customerCode: 'BETA', serial, generation: 1, seq: 9, tmk: handle(), at: AT })).toBe(true);
    expect((await store.terminal('ACME', serial))?.lastSeq).toBe(0);
  });

  it('A12: the table refuses a partial working key set, working keys without a TMK, and a negative sequence', async () => {
    const serial = await installed();
    const attempts = [
      sql`update kms_terminals set pik_block = 'x', pik_kcv = 'x' where serial = ${serial}`,
      sql`update kms_terminals set tmk_block = 'x' where serial = ${serial}`,
      sql`update kms_terminals set last_seq = -1 where serial = ${serial}`,
    ];
    for (const statement of attempts) await expect(statement.execute(database.db)).rejects.toThrow();
    const all = ['pik', 'mak', 'tdk', 'dmk'].map((k) => `${k}_block = 'x', ${k}_kcv = 'x'`).join(', ');
    await expect(sql.raw(`update kms_terminals set ${all} where serial = '${serial}'`).execute(database.db)).rejects.toThrow();
  });
});
