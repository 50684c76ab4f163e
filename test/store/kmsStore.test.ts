/**
 * The KMS store on every dialect: the delivery inbox (A7: applied exactly once), TK replacement
 * (A13) only by a newer intake (an older one is superseded), the conditional sequence updates that refuse replays across host processes (X2), and
 * the table constraints that keep a terminal's key set whole. Handles here are opaque text: the
 * store never opens them (X1 is the HSM's side; test/unit/kms checks the rows hold no clear key).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../host/db/database';
import { migrateToLatest } from '../../host/db/migrate';
import { MIGRATIONS } from '../../host/db/migrations/index';
import type { KeyHandle } from '../../host/hsm/hsm';
import { type KmsStore, type TkDelivery, type WorkingKeys, createKmsStore } from '../../host/kms/kmsStore';
import { MAX_SEQUENCE } from '../../shared/protocol/sequence';
import { createTestStore, DIALECTS, type TestStore } from './helpers/testDatabase';

const AT = new Date('2025-03-01T10:00:00.000Z');
let handles = 0;
const handle = (kcv = (++handles).toString(16).toUpperCase().padStart(10, '0')): KeyHandle => ({ block: `D0144K1AB00N0000${kcv}`, kcv });
const workingKeys = (): WorkingKeys => ({ PIK: handle(), MAK: handle(), TDK: handle(), DMK: handle() });
let intakes = 0;
/** The next MTMS intake id: every new delivery below is a newer intake unless a test says otherwise. */
const nextIntake = () => ++intakes;

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

  const delivery = (serial: string, deliveryId: string, tk: KeyHandle = handle(), customerCode = 'ACME', intakeSequence = nextIntake()): TkDelivery => ({
    customerCode,
    deliveryId,
    serial,
    envelopeSha256: 'AB'.repeat(32),
    intakeSequence,
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
    const first = before?.intakeSequence as number;
    const repeat = await store.applyTkDelivery(delivery(serial, `first-${serial}`, handle()));
    expect(repeat).toEqual({
      outcome: 'duplicate',
      delivery: { deliveryId: `first-${serial}`, serial, envelopeSha256: 'AB'.repeat(32), intakeSequence: first, outcome: 'applied', appliedAt: AT },
    });
    expect(await store.terminal('ACME', serial)).toEqual(before);
    expect(await store.delivery('ACME', `first-${serial}`)).toMatchObject({ serial });
    expect(await store.delivery('BETA', `first-${serial}`)).toBeUndefined();
  });

  it('A7: concurrent copies of one delivery (several host processes on PostgreSQL): one applies, the others are duplicates', async () => {
    const serial = newSerial();
    const results = await Promise.all(racers().map((s) => s.applyTkDelivery(delivery(serial, `race-${serial}`))));
    expect(results.map((r) => r.outcome).sort()).toEqual(['applied', 'duplicate', 'duplicate']);
  });

  it('A13: a new TK replaces the key set, bumps the generation and restarts the sequence; the same TK only records its newer intake', async () => {
    const serial = await installed();
    expect(await store.storeTmk({ customerCode: 'ACME', serial, generation: 1, seq: 5, tmk: handle(), at: AT })).toBe(true);
    const tmk = (await store.terminal('ACME', serial))?.tmk as KeyHandle;
    expect(await store.storeWorkingKeys({ customerCode: 'ACME', serial, generation: 1, tmkBlock: tmk.block, seq: 6, keys: workingKeys(), at: AT })).toBe(true);
    const current = await store.terminal('ACME', serial);

    const sameIntake = nextIntake();
    const same = await store.applyTkDelivery(delivery(serial, `same-${serial}`, current?.tk, 'ACME', sameIntake));
    expect(same).toEqual({ outcome: 'applied', change: 'unchanged', generation: 1 });
    // Keys, generation, X2 sequence and the installing delivery stay; only the intake held advances.
    expect(await store.terminal('ACME', serial)).toEqual({ ...current, intakeSequence: sameIntake });

    const newTk = handle();
    const later = new Date(AT.getTime() + 1000);
    const repairIntake = nextIntake();
    expect(await store.applyTkDelivery({ ...delivery(serial, `repair-${serial}`, newTk, 'ACME', repairIntake), at: later })).toEqual({ outcome: 'applied', change: 'replaced', generation: 2 });
    expect(await store.terminal('ACME', serial)).toEqual({
      customerCode: 'ACME',
      serial,
      generation: 2,
      lastSeq: 0,
      tkDeliveryId: `repair-${serial}`,
      intakeSequence: repairIntake,
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

  it('A7 A13: an older intake delivered after a newer one is superseded: the newer TK stays, KCV unchanged, audited', async () => {
    const serial = newSerial();
    const [oldIntake, newIntake] = [nextIntake(), nextIntake()];
    const oldTk = handle();
    const newTk = handle();
    // The repair's delivery (newer intake) arrives first; the old intake's retry lands after it.
    expect(await store.applyTkDelivery(delivery(serial, `new-${serial}`, newTk, 'ACME', newIntake))).toEqual({ outcome: 'applied', change: 'installed', generation: 1 });
    expect(await store.storeTmk({ customerCode: 'ACME', serial, generation: 1, seq: 1, tmk: handle(), at: AT })).toBe(true);
    const held = await store.terminal('ACME', serial);

    const late = await store.applyTkDelivery({ ...delivery(serial, `old-${serial}`, oldTk, 'ACME', oldIntake), at: new Date(AT.getTime() + 5_000) });
    expect(late).toEqual({ outcome: 'superseded', heldSequence: newIntake });
    expect(await store.terminal('ACME', serial)).toEqual(held);
    expect(held).toMatchObject({ tk: newTk, intakeSequence: newIntake, tkDeliveryId: `new-${serial}`, lastSeq: 1 });

    // Its id is recorded as seen: a resend is a duplicate that reports what happened the first time.
    const seen = { deliveryId: `old-${serial}`, serial, envelopeSha256: 'AB'.repeat(32), intakeSequence: oldIntake, outcome: 'superseded', appliedAt: new Date(AT.getTime() + 5_000) };
    expect(await store.delivery('ACME', `old-${serial}`)).toEqual(seen);
    expect(await store.applyTkDelivery(delivery(serial, `old-${serial}`, oldTk, 'ACME', oldIntake))).toEqual({ outcome: 'duplicate', delivery: seen });
    expect(await store.terminal('ACME', serial)).toEqual(held);

    const { rows } = await sql<{ action: string; detail: string }>`select action, detail from audit_log where subject = ${`terminal:${serial}`} order by id`.execute(database.db);
    expect(rows.map((r) => r.action)).toEqual(['kms.tk.installed', 'kms.tk.superseded']);
    expect(JSON.parse(rows[1].detail)).toEqual({ deliveryId: `old-${serial}`, intakeSequence: oldIntake, heldIntakeSequence: newIntake, generation: 1, tkKcv: oldTk.kcv });
  });

  it('A7 A13: only a strictly newer intake replaces the TK: the same intake under another id, or the same TK of an older intake, is superseded', async () => {
    const serial = await installed();
    const held = await store.terminal('ACME', serial);
    const sequence = held?.intakeSequence as number;
    expect(await store.applyTkDelivery(delivery(serial, `again-${serial}`, handle(), 'ACME', sequence))).toEqual({ outcome: 'superseded', heldSequence: sequence });
    expect(await store.applyTkDelivery(delivery(serial, `older-same-tk-${serial}`, held?.tk, 'ACME', sequence - 1))).toEqual({ outcome: 'superseded', heldSequence: sequence });
    expect(await store.terminal('ACME', serial)).toEqual(held);
  });

  it('A7 A13: deliveries of three intakes racing (several host processes on PostgreSQL) end with the newest TK, whatever the order', async () => {
    const serial = await installed();
    const base = nextIntake();
    intakes += 3;
    const tks = [handle(), handle(), handle()];
    const deliveries = [2, 0, 1].map((i) => delivery(serial, `race-${i}-${serial}`, tks[i], 'ACME', base + i));
    const settled = await Promise.allSettled(racers().map((s, i) => s.applyTkDelivery(deliveries[i])));
    // A loser of a race rolls back whole (DB_UNAVAILABLE) and the outbox sends it again.
    const retried = await Promise.all(
      settled.map(async (r, i) => {
        if (r.status === 'fulfilled') return r.value;
        expect(r.reason).toMatchObject({ code: 'DB_UNAVAILABLE' });
        expect(await store.delivery('ACME', deliveries[i].deliveryId)).toBeUndefined();
        return store.applyTkDelivery(deliveries[i]);
      }),
    );
    // The newest intake is never superseded; the others were applied before it or superseded by it.
    expect(retried[0]).toMatchObject({ outcome: 'applied', change: 'replaced' });
    for (const r of retried.slice(1)) expect(['applied', 'superseded']).toContain(r.outcome);
    expect(await store.terminal('ACME', serial)).toMatchObject({ tk: tks[2], intakeSequence: base + 2 });
    // The TK held only ever moved to newer intakes.
    const { rows } = await sql<{ action: string; detail: string }>`select action, detail from audit_log where subject = ${`terminal:${serial}`} order by id`.execute(database.db);
    const installedSequences = rows.filter((r) => r.action !== 'kms.tk.superseded').map((r) => (JSON.parse(r.detail) as { intakeSequence: number }).intakeSequence);
    expect(installedSequences).toEqual([...installedSequences].sort((a, b) => a - b));
    expect(installedSequences.at(-1)).toBe(base + 2);
  });

  it('A7: an intake sequence that is not a positive safe integer is refused and records nothing', async () => {
    const serial = await installed();
    const held = await store.terminal('ACME', serial);
    for (const intakeSequence of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
      await expect(store.applyTkDelivery(delivery(serial, `bad-${serial}`, handle(), 'ACME', intakeSequence))).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    }
    expect(await store.delivery('ACME', `bad-${serial}`)).toBeUndefined();
    expect(await store.terminal('ACME', serial)).toEqual(held);
  });

  it('A7 A13: intake sequences up to 2^53 - 1 are stored and compared exactly (bigint column)', async () => {
    const serial = newSerial();
    const top = Number.MAX_SAFE_INTEGER;
    expect(await store.applyTkDelivery(delivery(serial, `top-1-${serial}`, handle(), 'ACME', top - 1))).toMatchObject({ outcome: 'applied' });
    expect(await store.applyTkDelivery(delivery(serial, `top-${serial}`, handle(), 'ACME', top))).toMatchObject({ outcome: 'applied', change: 'replaced' });
    expect(await store.applyTkDelivery(delivery(serial, `top-again-${serial}`, handle(), 'ACME', top - 1))).toEqual({ outcome: 'superseded', heldSequence: top });
    expect((await store.terminal('ACME', serial))?.intakeSequence).toBe(top);
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

  it('A12 A13: the tables refuse a partial working key set, working keys without a TMK, negative sequences and an unknown outcome', async () => {
    const serial = await installed();
    const attempts = [
      sql`update kms_terminals set pik_block = 'x', pik_kcv = 'x' where serial = ${serial}`,
      sql`update kms_terminals set tmk_block = 'x' where serial = ${serial}`,
      sql`update kms_terminals set last_seq = -1 where serial = ${serial}`,
      sql`update kms_terminals set tk_intake_sequence = -1 where serial = ${serial}`,
      sql`update kms_deliveries set intake_sequence = -1 where serial = ${serial}`,
      sql`update kms_deliveries set outcome = 'ignored' where serial = ${serial}`,
    ];
    for (const statement of attempts) await expect(statement.execute(database.db)).rejects.toThrow();
    const all = ['pik', 'mak', 'tdk', 'dmk'].map((k) => `${k}_block = 'x', ${k}_kcv = 'x'`).join(', ');
    await expect(sql.raw(`update kms_terminals set ${all} where serial = '${serial}'`).execute(database.db)).rejects.toThrow();
  });
});

describe.each(DIALECTS)('KMS migration 0006 on %s', (dialect) => {
  let testStore: TestStore | undefined;
  afterAll(async () => {
    await testStore?.destroy();
  });

  it('A7 A13: rows from before intake sequences read as sequence 0 and applied, and the next delivery still installs', async () => {
    testStore = await createTestStore(dialect);
    const database = testStore.open();
    const before = MIGRATIONS.findIndex((m) => m.name === '0006_kms_intake_sequence');
    expect(before).toBeGreaterThan(0);
    await migrateToLatest(database, MIGRATIONS.slice(0, before));
    const at = AT.toISOString();
    await sql`insert into kms_terminals (customer_code, serial, generation, last_seq, tk_delivery_id, tk_block, tk_kcv, updated_at)
      values ('ACME', 'PP-LEGACY-1', 1, 4, 'legacy-1', 'D0144K1AB00N0000LEGACY', 'AAAAAAAAAA', ${at})`.execute(database.db);
    await sql`insert into kms_deliveries (customer_code, delivery_id, serial, envelope_sha256, applied_at)
      values ('ACME', 'legacy-1', 'PP-LEGACY-1', ${'CD'.repeat(32)}, ${at})`.execute(database.db);
    expect(await migrateToLatest(database)).toEqual(MIGRATIONS.slice(before).map((m) => m.name));

    const store = createKmsStore(database.db);
    expect(await store.terminal('ACME', 'PP-LEGACY-1')).toMatchObject({ intakeSequence: 0, lastSeq: 4, tkDeliveryId: 'legacy-1' });
    expect(await store.delivery('ACME', 'legacy-1')).toEqual({ deliveryId: 'legacy-1', serial: 'PP-LEGACY-1', envelopeSha256: 'CD'.repeat(32), intakeSequence: 0, outcome: 'applied', appliedAt: AT });
    const tk = handle();
    expect(await store.applyTkDelivery({ customerCode: 'ACME', deliveryId: 'after-1', serial: 'PP-LEGACY-1', envelopeSha256: 'AB'.repeat(32), intakeSequence: 1, tk, at: AT })).toEqual({
      outcome: 'applied',
      change: 'replaced',
      generation: 2,
    });
    expect(await store.terminal('ACME', 'PP-LEGACY-1')).toMatchObject({ tk, intakeSequence: 1, lastSeq: 0 });
  });
});
