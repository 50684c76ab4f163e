/**
 * MTMS's service (SPEC A3, A5, A6, A9, A10, A14, X1) with a real software HSM on SQLite: lookups
 * answer one serial's customer, a customer name comes only with a serial in hand, TK uploads are
 * checked in the HSM and stored as envelopes only, and re-association is audited.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAuditStore } from '../../../host/audit/auditStore';
import { openSoftwareHsm, systemRng } from '../../../host/hsm/index';
import type { Hsm, KeyPair } from '../../../host/hsm/hsm';
import { createMtmsStore, type MtmsStore } from '../../../host/mtms/mtmsStore';
import { createMtmsService, loadMtmsIntakeKey, type MtmsService } from '../../../host/mtms/mtmsService';
import { createOutboxStore } from '../../../host/outbox/outboxStore';
import { MESSAGE_VERSION } from '../../../shared/protocol/messages';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { dumpRows, expectNoClearTk, rng, tempDir, TerminalWithTk, testCa } from './mtmsTestKit';

const operator = { name: 'alice', certSerial: '0A1B2C3D' };

describe('MTMS service', () => {
  const database = useMigratedDatabase('sqlite');
  let hsm: Hsm;
  let store: MtmsStore;
  let intakeKey: KeyPair;
  let service: MtmsService;
  let ca: CertificateAuthority;
  let queued = 0;
  let serialNo = 0;
  const newSerial = () => `PP-${String(++serialNo).padStart(6, '0')}`;

  beforeAll(async () => {
    hsm = await openSoftwareHsm({ lmkFile: join(await tempDir(), 'lmk.key'), rng: systemRng });
    store = createMtmsStore(database().db, 'sqlite');
    intakeKey = await loadMtmsIntakeKey(hsm, store);
    ca = await testCa(database().db);
    service = createMtmsService({ db: database().db, hsm, store, ca, intakeKey, onQueued: () => queued++ });
    await store.addCustomer({ code: 'ACME', name: 'Acme Bank', kmsUrl: 'https://kms-acme.example:8790' }, 'admin:test');
    await store.addCustomer({ code: 'BETA', name: 'Beta Savings', kmsUrl: 'https://kms-beta.example:8790' }, 'admin:test');
  });

  const registered = async (customerCode = 'ACME') => {
    const terminal = new TerminalWithTk(newSerial());
    await store.addSerials([terminal.serial], customerCode, 'admin:test');
    await terminal.enrol(ca);
    return terminal;
  };
  const upload = async (terminal: TerminalWithTk, extra: Record<string, unknown> = {}) =>
    service.intakeTk(await terminal.signedRequest(service, operator, terminal.envelopeFor(intakeKey.publicKey), extra), operator);

  it('A3 looks a serial up: its customer code and name; an unknown serial is a typed 404 code', async () => {
    const terminal = await registered();
    expect(await service.lookup(terminal.serial, operator)).toEqual({ v: MESSAGE_VERSION, serial: terminal.serial, customerCode: 'ACME', customerName: 'Acme Bank' });
    await expect(service.lookup('PP-UNKNOWN', operator)).rejects.toMatchObject({ code: 'MTMS_SERIAL_UNKNOWN' });
    for (const bad of ['pp-lower', 'X', 'A'.repeat(33), '', 42]) {
      await expect(service.lookup(bad as string, operator)).rejects.toMatchObject({ code: 'PROTOCOL_MALFORMED' });
    }
  });

  it('A6/A14 answers a customer name only together with an existing serial, and audits every name asked', async () => {
    const terminal = await registered();
    expect(await service.customerNameFor(terminal.serial, 'BETA', operator)).toEqual({ v: MESSAGE_VERSION, serial: terminal.serial, customerCode: 'BETA', customerName: 'Beta Savings' });
    // No serial in hand, no name: the answer does not even say whether the customer exists.
    const noSerial = await service.customerNameFor('PP-NOT-MADE', 'BETA', operator).catch((e: unknown) => e);
    expect(noSerial).toMatchObject({ code: 'MTMS_SERIAL_UNKNOWN' });
    expect((noSerial as Error).message).not.toContain('Beta');
    await expect(service.customerNameFor(terminal.serial, 'NOSUCH', operator)).rejects.toMatchObject({ code: 'MTMS_CUSTOMER_UNKNOWN' });
    const asked = (await createAuditStore(database().db).listBySubject(`terminal:${terminal.serial}`)).filter((e) => e.action === 'mtms.customer-name.asked');
    expect(asked.map((e) => [e.actor, e.detail.customerCode, e.detail.found])).toEqual([
      ['operator:alice', 'BETA', true],
      ['operator:alice', 'NOSUCH', false],
    ]);
  });

  it('A14 offers no way to list customers or serials', () => {
    expect(Object.keys(service).sort()).toEqual(['customerNameFor', 'deviceChallenge', 'enrolDevice', 'intakePublicKey', 'intakeTk', 'lookup', 'transferOrder']);
  });

  it("A5/A10 takes the terminal's envelope, checks it in the HSM, records the TK's check value and queues the delivery", async () => {
    const terminal = await registered();
    const before = queued;
    const receipt = await upload(terminal);
    expect(receipt).toEqual({ v: MESSAGE_VERSION, serial: terminal.serial, customerCode: 'ACME', deliveryId: expect.stringMatching(/^tk-[0-9a-f]{32}$/) });
    expect(queued).toBe(before + 1);
    const intake = await store.latestIntake(terminal.serial);
    expect(intake).toMatchObject({ customerCode: 'ACME', deliveryId: receipt.deliveryId, tkKcv: terminal.kcv, operator });
    expect(await createOutboxStore(database().db, 'sqlite').byKey(receipt.deliveryId)).toMatchObject({ state: 'pending', destination: 'ACME' });
    // X1: the TK is nowhere in clear, only the envelope is kept.
    await expectNoClearTk(database().db, [terminal]);
  });

  it('A6 with another customer code the serial is re-associated, audited, and the TK goes to that customer', async () => {
    const terminal = await registered('ACME');
    const receipt = await upload(terminal, { customerCode: 'BETA' });
    expect(receipt.customerCode).toBe('BETA');
    expect(await service.lookup(terminal.serial, operator)).toMatchObject({ customerCode: 'BETA', customerName: 'Beta Savings' });
    const [moved] = (await createAuditStore(database().db).listBySubject(`terminal:${terminal.serial}`)).filter((e) => e.action === 'mtms.serial.reassociated');
    expect(moved).toMatchObject({ actor: 'operator:alice', detail: { from: 'ACME', to: 'BETA', operatorCertSerial: operator.certSerial, deliveryId: receipt.deliveryId } });
    // Naming the customer it already has is no re-association.
    await store.openRepair(terminal.serial, 60, 'admin:test'); // a new TK for a serial that has one is a repair (A13)
    const again = terminal.repaired();
    await upload(again, { customerCode: 'BETA' });
    expect((await createAuditStore(database().db).listBySubject(`terminal:${terminal.serial}`)).filter((e) => e.action === 'mtms.serial.reassociated')).toHaveLength(1);
  });

  it('A4/A5 refuses an upload the operator did not confirm, and malformed uploads, storing nothing', async () => {
    const terminal = await registered();
    const envelope = terminal.envelopeFor(intakeKey.publicKey);
    const before = await dumpRows(database().db);
    const bad: Record<string, unknown>[] = [
      { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: envelope, confirmed: false },
      { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: envelope },
      { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: envelope.slice(0, 100), confirmed: true },
      { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: 'ZZ'.repeat(100), confirmed: true },
      { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: 'AB'.repeat(257), confirmed: true },
      { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: envelope, confirmed: true, customerCode: 'lower' },
      { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: envelope, confirmed: true, extra: 1 },
      { v: 2, serial: terminal.serial, tkEnvelope: envelope, confirmed: true },
    ];
    for (const request of bad) {
      const error = await service.intakeTk(request, operator).catch((e: unknown) => e);
      expect(['PROTOCOL_MALFORMED', 'PROTOCOL_UNSUPPORTED_VERSION']).toContain((error as { code?: string }).code);
    }
    expect(await dumpRows(database().db)).toBe(before);
  });

  it('A10 refuses an envelope for another serial, another key or tampered, storing nothing and queueing nothing', async () => {
    const terminal = await registered();
    const other = await registered();
    const before = await dumpRows(database().db);
    const queuedBefore = queued;
    const stranger = (await hsm.generateKeyPair('P-256')).publicKey;
    const good = terminal.envelopeFor(intakeKey.publicKey);
    const tampered = good.slice(0, -2) + (good.endsWith('00') ? '01' : '00');
    const envelopes = [
      terminal.envelopeFor(intakeKey.publicKey, `paypad-tk|${other.serial}`),
      terminal.envelopeFor(stranger),
      tampered,
      Buffer.from(rng(100)).toString('hex'),
    ];
    for (const tkEnvelope of envelopes) {
      const error = await service.intakeTk(await terminal.signedRequest(service, operator, tkEnvelope), operator).catch((e: unknown) => e);
      expect(['KEY_UNWRAP_FAILED', 'KEY_ENVELOPE_UNSUPPORTED', 'PUBLIC_KEY_INVALID']).toContain((error as { code?: string }).code);
    }
    // Only an enrolled device hears that its serial is unknown (a certificate issued outside enrolment here).
    const unregistered = new TerminalWithTk('PP-NOT-MADE');
    await unregistered.enrol(ca);
    await expect(upload(unregistered)).rejects.toMatchObject({ code: 'MTMS_SERIAL_UNKNOWN' });
    await expect(upload(terminal, { customerCode: 'NOSUCH' })).rejects.toMatchObject({ code: 'MTMS_CUSTOMER_UNKNOWN' });
    expect(await dumpRows(database().db)).toBe(before);
    expect(queued).toBe(queuedBefore);
  });

  it('A9 an order transfer wakes the outbox only when it put a delivery on its way', async () => {
    const order = await store.createOrder('ACME', [newSerial(), newSerial()], 'admin:test');
    const before = queued;
    const result = await service.transferOrder(order.id, 'admin:test');
    expect(result.serials.map((s) => s.status)).toEqual(['no-tk', 'no-tk']);
    expect(queued).toBe(before);
  });

  it('keeps one intake key across starts, and refuses to start with another master key', async () => {
    expect(await loadMtmsIntakeKey(hsm, store)).toEqual(intakeKey);
    const otherHsm = await openSoftwareHsm({ lmkFile: join(await tempDir(), 'lmk.key'), rng: systemRng });
    try {
      await expect(loadMtmsIntakeKey(otherHsm, store)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await otherHsm.close();
    }
  });
});
