/**
 * TK delivery order across a repair (SPEC A7 "delivered at least once, applied exactly once", A13),
 * MTMS's outbox to a real KMS over mutual TLS, on SQLite and (with DATABASE_URL) PostgreSQL.
 *
 * The outbox retries a failed delivery with backoff, so after a repair (a second intake, with a
 * new TK, for the same serial) the first intake's delivery can be sent again after the second's
 * succeeded. Both ends stop the old TK from coming back: MTMS discards a queued delivery whose
 * intake is no longer the serial's newest, and the KMS answers 'superseded' to one that was
 * already on its way. Either way the KMS ends holding the SECOND TK.
 *
 * The tests drive the worker by hand (runOnce) on a clock they move, and make the first delivery
 * fail or stall inside MTMS's HSM translation, which runs after MTMS's newest-intake check and
 * before the KMS is called.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import type { Hsm } from '../../../host/hsm/hsm';
import { openSoftwareHsm, systemRng } from '../../../host/hsm/index';
import { createKmsStore } from '../../../host/kms/kmsStore';
import { type RunningKms, startKms } from '../../../host/kms/kmsInstance';
import { createLogger } from '../../../host/log';
import { createKmsTkHandler } from '../../../host/mtms/kmsDelivery';
import { createMtmsService, loadMtmsIntakeKey, type MtmsService } from '../../../host/mtms/mtmsService';
import { createKmsKeyPins } from '../../../host/mtms/kmsKeyPins';
import { createMtmsStore } from '../../../host/mtms/mtmsStore';
import { KMS_TK_TOPIC } from '../../../host/mtms/mtmsTables';
import { createOutboxStore, type OutboxStore } from '../../../host/outbox/outboxStore';
import { createOutboxWorker, type OutboxWorker } from '../../../host/outbox/outboxWorker';
import { toHex } from '../../../shared/bytes';
import { PaypadError } from '../../../shared/errors';
import { MESSAGE_VERSION } from '../../../shared/protocol/messages';
import { DIALECTS, useMigratedDatabase } from '../../store/helpers/testDatabase';
import { expectNoClearTk, tempDir, TerminalWithTk } from './mtmsTestKit';

const logger = createLogger({ level: 'silent' });
const operator = { name: 'alice', certSerial: '0A1B2C3D' };
/** Far beyond the retry delay below: the failed first delivery is due again. */
const LATER_MS = 10 * 60_000;

describe.each(DIALECTS)('A7 A13 TK delivery order across a repair on %s', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let kms: RunningKms;
  let hsm: Hsm;
  let service: MtmsService;
  let worker: OutboxWorker;
  let outbox: OutboxStore;
  let intakePublicKey: Uint8Array;
  let now = Date.now();
  const clock = () => new Date(now);
  /**
   * What MTMS's HSM does when it translates a stored envelope (hex, as MTMS stores it): the test
   * makes it fail or wait for one envelope; every other translation goes through.
   */
  const translateHooks = new Map<string, () => Promise<void>>();
  let serials = 0;
  let deviceCa: CertificateAuthority;

  beforeAll(async () => {
    const db = database().db;
    const dataDir = await tempDir();
    const ca = await ensureCa({ dataDir, db });
    kms = await startKms({ customerCode: 'ACME', dataDir, db, ca, port: 0, host: '127.0.0.1', logger });
    hsm = await openSoftwareHsm({ lmkFile: join(dataDir, 'mtms-lmk.key'), rng: systemRng });
    const store = createMtmsStore(db, dialect, clock);
    const intakeKey = await loadMtmsIntakeKey(hsm, store, clock);
    intakePublicKey = intakeKey.publicKey;
    service = createMtmsService({ db, hsm, store, ca, intakeKey, clock });
    deviceCa = ca;
    await store.addCustomer({ code: 'ACME', name: 'Acme Bank', kmsUrl: kms.url }, 'admin:test');

    const issued = await ca.issue({ subject: { role: 'mtms', name: 'mtms' } });
    if (issued.keyPem === undefined) throw new Error('expected a CA-generated key');
    const identity = { certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caPem };
    // The software HSM is a frozen object of closures: a copy with one method wrapped.
    const hookedHsm: Hsm = {
      ...hsm,
      translateTransportedKey: async (...args) => {
        await translateHooks.get(toHex(args[1]))?.();
        return hsm.translateTransportedKey(...args);
      },
    };
    worker = createOutboxWorker({
      db,
      dialect,
      handlers: { [KMS_TK_TOPIC]: createKmsTkHandler({ store, hsm: hookedHsm, intakeKey: intakeKey.handle, identity, revocation: ca, kmsKeys: createKmsKeyPins(db, clock), timeoutMs: 5_000 }) },
      retry: { baseMs: 60_000, capMs: 60_000, maxAttempts: 5 },
      random: () => 0,
      clock,
      logger,
    });
    outbox = createOutboxStore(db, dialect);
  });

  afterAll(async () => {
    await kms?.close({ graceMs: 0 });
    await hsm?.close();
  });

  /** A terminal with its first TK, its serial registered for customer ACME (A3). */
  async function newTerminal(): Promise<TerminalWithTk> {
    const terminal = new TerminalWithTk(`PP-ORDER-${dialect.toUpperCase()}-${++serials}`);
    await createMtmsStore(database().db, dialect, clock).addSerials([terminal.serial], 'ACME', 'admin:test');
    await terminal.enrol(deviceCa);
    return terminal;
  }

  /** The operator's upload of `terminal`'s TK (A5): returns the delivery id and the stored envelope. */
  async function upload(terminal: TerminalWithTk): Promise<{ deliveryId: string; envelope: string }> {
    const envelope = terminal.envelopeFor(intakePublicKey);
    const receipt = await service.intakeTk(await terminal.signedRequest(service, operator, envelope), operator);
    return { deliveryId: receipt.deliveryId, envelope };
  }

  const kmsTerminal = (serial: string) => createKmsStore(database().db).terminal('ACME', serial);
  const kmsDelivery = (deliveryId: string) => createKmsStore(database().db).delivery('ACME', deliveryId);

  it('A7 A13 repair flow: the first delivery fails until after the second succeeds; MTMS discards it unsent and the KMS holds the SECOND TK', async () => {
    const original = await newTerminal();

    const first = await upload(original);
    translateHooks.set(first.envelope, async () => {
      throw new PaypadError('HSM_UNAVAILABLE', 'the test HSM is down for this envelope');
    });
    expect(await worker.runOnce()).toBe(1);
    expect(await outbox.byKey(first.deliveryId)).toMatchObject({ state: 'pending', attempts: 1, lastError: expect.stringMatching(/^HSM_UNAVAILABLE: /) });
    expect(await kmsTerminal(original.serial)).toBeUndefined();

    // Repair (A13): the terminal makes a new TK; its intake is delivered while the first waits to retry.
    await createMtmsStore(database().db, dialect, clock).openRepair(original.serial, 60, 'admin:test'); // A13: an authorised repair
    const repaired = original.repaired();
    const second = await upload(repaired);
    expect(await worker.runOnce()).toBe(1);
    expect(await outbox.byKey(second.deliveryId)).toMatchObject({ state: 'delivered' });
    expect((await kmsTerminal(original.serial))?.tk.kcv).toBe(repaired.kcv);

    // The cause of the failure is gone and the first delivery is due again: MTMS sees its intake
    // is no longer the serial's newest and discards it without calling the KMS.
    translateHooks.delete(first.envelope);
    now += LATER_MS;
    expect(await worker.runOnce()).toBe(1);
    const discarded = await outbox.byKey(first.deliveryId);
    expect(discarded).toMatchObject({ state: 'discarded', attempts: 2 });
    expect(discarded?.lastError).toMatch(new RegExp(`^intake \\d+ of serial ${original.serial} was superseded by intake \\d+ \\(a newer TK, sent as delivery ${second.deliveryId}\\)$`));
    expect(await kmsDelivery(first.deliveryId)).toBeUndefined();

    const held = await kmsTerminal(original.serial);
    expect(held).toMatchObject({ generation: 1, tkDeliveryId: second.deliveryId });
    expect(held?.tk.kcv).toBe(repaired.kcv);
    expect(held?.tk.kcv).not.toBe(original.kcv);
    // Nothing is left to send for this serial.
    expect(await worker.runOnce()).toBe(0);
    await expectNoClearTk(database().db, [original, repaired]);
  });

  it('A7 A13: a first delivery already on its way when the second lands is answered superseded; MTMS ends it and the KMS keeps the SECOND TK', async () => {
    const original = await newTerminal();

    const first = await upload(original);
    // The first delivery passes MTMS's newest-intake check, then stalls before it reaches the KMS.
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    translateHooks.set(first.envelope, async () => {
      reached();
      await gate;
    });
    const firstRound = worker.runOnce();
    await Promise.race([atGate, firstRound.then(() => Promise.reject(new Error('the first delivery ended before it reached the KMS call')))]);

    await createMtmsStore(database().db, dialect, clock).openRepair(original.serial, 60, 'admin:test'); // A13: an authorised repair
    const repaired = original.repaired();
    const second = await upload(repaired);
    // The stalled row is leased: this round takes only the second delivery.
    expect(await worker.runOnce()).toBe(1);
    expect(await outbox.byKey(second.deliveryId)).toMatchObject({ state: 'delivered' });
    const installed = await kmsTerminal(original.serial);
    expect(installed?.tk.kcv).toBe(repaired.kcv);

    release();
    expect(await firstRound).toBe(1);
    translateHooks.delete(first.envelope);
    // The KMS answered 'superseded': final, so the row is delivered and never sent again.
    expect(await outbox.byKey(first.deliveryId)).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(await kmsDelivery(first.deliveryId)).toMatchObject({ outcome: 'superseded' });
    expect(await kmsTerminal(original.serial)).toEqual(installed);
    expect((await kmsTerminal(original.serial))?.tk.kcv).not.toBe(original.kcv);
    now += LATER_MS;
    expect(await worker.runOnce()).toBe(0);
    await expectNoClearTk(database().db, [original, repaired]);
  });
});
