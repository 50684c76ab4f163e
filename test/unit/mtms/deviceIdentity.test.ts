/**
 * A8: MTMS takes a TK only from the device enrolled under its serial, and enrols a device only
 * once per serial (host/mtms/deviceCertificates.ts, deviceEnrolment.ts, mtmsService.ts), with a
 * real software HSM, the host's CA code and SQLite. Every refusal has its typed code, is audited,
 * and records no intake and queues nothing. Signatures are made here with shared/crypto/ecdsa as
 * the PIN pad makes them, over bytes spelled out in shared/protocol/deviceIdentity's tests.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAuditStore } from '../../../host/audit/auditStore';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { openSoftwareHsm, systemRng } from '../../../host/hsm/index';
import type { KeyPair } from '../../../host/hsm/hsm';
import { createMtmsStore, type MtmsStore } from '../../../host/mtms/mtmsStore';
import { createMtmsService, loadMtmsIntakeKey, type MtmsService } from '../../../host/mtms/mtmsService';
import { DEVICE_CHALLENGE_TTL_MS } from '../../../host/mtms/deviceChallenges';
import { fromHex, toHex } from '../../../shared/bytes';
import { signP256Sha256 } from '../../../shared/crypto/ecdsa';
import { enrolmentSignedBytes } from '../../../shared/protocol/deviceIdentity';
import { MESSAGE_VERSION } from '../../../shared/protocol/messages';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import { dumpRows, tempDir, TerminalWithTk, testCa } from './mtmsTestKit';

const operator = { name: 'line 1', certSerial: '0A1B2C3D' };
const otherStation = { name: 'line 2', certSerial: '0A1B2C3E' };

describe('A8 device identity at MTMS', () => {
  const database = useMigratedDatabase('sqlite');
  let store: MtmsStore;
  let intakeKey: KeyPair;
  let service: MtmsService;
  let ca: CertificateAuthority;
  // Certificates are issued at the real time; the clock then only moves forward.
  let now = Date.now();
  let serialNo = 0;
  const newSerial = () => `PP-A8-${String(++serialNo).padStart(4, '0')}`;

  beforeAll(async () => {
    const hsm = await openSoftwareHsm({ lmkFile: join(await tempDir(), 'lmk.key'), rng: systemRng });
    store = createMtmsStore(database().db, 'sqlite');
    intakeKey = await loadMtmsIntakeKey(hsm, store);
    ca = await testCa(database().db);
    service = createMtmsService({ db: database().db, hsm, store, ca, intakeKey, clock: () => new Date(now) });
    await store.addCustomer({ code: 'ACME', name: 'Acme Bank', kmsUrl: 'https://kms-acme.example:8790' }, 'admin:test');
  });

  const registered = async (enrol = true) => {
    const terminal = new TerminalWithTk(newSerial());
    await store.addSerials([terminal.serial], 'ACME', 'admin:test');
    if (enrol) await terminal.enrol(ca);
    return terminal;
  };
  const refusalsOf = async (serial: string) =>
    (await createAuditStore(database().db).listBySubject(`terminal:${serial}`)).filter((e) => e.action === 'mtms.tk.refused').map((e) => e.detail.reason);
  /** Every refusal: its code, one audit entry each, no intake, nothing queued. */
  const expectRefused = async (terminal: TerminalWithTk, request: Record<string, unknown>, code: string, by = operator) => {
    const rows = await dumpRows(database().db);
    const audited = (await refusalsOf(terminal.serial)).length;
    await expect(service.intakeTk(request, by)).rejects.toMatchObject({ code });
    expect(await refusalsOf(terminal.serial)).toHaveLength(audited + 1);
    expect((await refusalsOf(terminal.serial)).at(-1)).toBe(code);
    // The one row the refusal wrote is its audit entry.
    expect(JSON.parse(await dumpRows(database().db)).mtms_tk_intakes).toEqual(JSON.parse(rows).mtms_tk_intakes);
    expect(JSON.parse(await dumpRows(database().db)).outbox).toEqual(JSON.parse(rows).outbox);
    expect(await store.latestIntake(terminal.serial)).toBeUndefined();
  };

  it('A8: an upload signed by the enrolled device over a fresh nonce is taken', async () => {
    const terminal = await registered();
    const receipt = await service.intakeTk(await terminal.signedRequest(service, operator, terminal.envelopeFor(intakeKey.publicKey)), operator);
    expect(receipt).toMatchObject({ serial: terminal.serial, customerCode: 'ACME' });
  });

  it('A8: without a device certificate, signature and nonce the upload is DEVICE_CERT_INVALID, for a registered serial and an unknown one alike (no serial oracle)', async () => {
    const terminal = await registered(false);
    const bare = { v: MESSAGE_VERSION, serial: terminal.serial, tkEnvelope: terminal.envelopeFor(intakeKey.publicKey), confirmed: true };
    await expectRefused(terminal, bare, 'DEVICE_CERT_INVALID');
    const stranger = new TerminalWithTk('PP-NEVER-MADE');
    await expectRefused(stranger, { ...bare, serial: stranger.serial, tkEnvelope: stranger.envelopeFor(intakeKey.publicKey) }, 'DEVICE_CERT_INVALID');
  });

  it("A8: a certificate for another serial, from another CA, of another role or not DER is DEVICE_CERT_INVALID", async () => {
    const [registeredOnly, neighbour] = [await registered(false), await registered()];
    // The neighbour's genuine device, key and certificate, claiming this serial.
    const terminal = new TerminalWithTk(registeredOnly.serial, neighbour.identity);
    terminal.certificate = neighbour.certificate;
    const envelope = terminal.envelopeFor(intakeKey.publicKey);
    await expectRefused(terminal, await terminal.signedRequest(service, operator, envelope), 'DEVICE_CERT_INVALID');
    // A device certificate for this serial from another CA (same code, another data directory).
    const foreign = await testCa(database().db);
    await terminal.enrol(foreign);
    await expectRefused(terminal, await terminal.signedRequest(service, operator, envelope), 'DEVICE_CERT_INVALID');
    // An operator certificate of our CA is not a device's.
    const station = await ca.issue({ subject: { role: 'operator', name: terminal.serial } });
    const request = await terminal.signedRequest(service, operator, envelope);
    await expectRefused(terminal, { ...request, deviceCertificate: toHex(new Uint8Array(Buffer.from(station.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'))) }, 'DEVICE_CERT_INVALID');
    await expectRefused(terminal, { ...request, deviceCertificate: '30'.repeat(200) }, 'DEVICE_CERT_INVALID');
  });

  it('A8: a revoked device certificate is DEVICE_CERT_REVOKED', async () => {
    const terminal = await registered(false);
    const certSerial = await terminal.enrol(ca);
    await ca.revoke(certSerial, 'keyCompromise');
    await expectRefused(terminal, await terminal.signedRequest(service, operator, terminal.envelopeFor(intakeKey.publicKey)), 'DEVICE_CERT_REVOKED');
  });

  it('A8: a signature over another envelope, another nonce, or by another key is DEVICE_SIGNATURE_INVALID', async () => {
    const terminal = await registered();
    const envelope = terminal.envelopeFor(intakeKey.publicKey);
    const signed = await terminal.signedRequest(service, operator, envelope);
    await expectRefused(terminal, { ...signed, tkEnvelope: terminal.envelopeFor(intakeKey.publicKey) }, 'DEVICE_SIGNATURE_INVALID');
    const { nonce } = await service.deviceChallenge(terminal.serial, 'tk', operator);
    await expectRefused(terminal, { ...signed, nonce }, 'DEVICE_SIGNATURE_INVALID');
    const flipped = fromHex(signed.deviceSignature as string);
    flipped[40] ^= 1;
    await expectRefused(terminal, { ...signed, deviceSignature: toHex(flipped) }, 'DEVICE_SIGNATURE_INVALID');
  });

  it('A8: a nonce used before, expired, issued to another station or for enrolment is MTMS_CHALLENGE_INVALID', async () => {
    const terminal = await registered(false);
    await terminal.enrol(ca);
    await store.openRepair(terminal.serial, 60, 'admin:test');
    const envelope = terminal.envelopeFor(intakeKey.publicKey);
    const first = await terminal.signedRequest(service, operator, envelope);
    await service.intakeTk(first, operator);
    const rows = JSON.parse(await dumpRows(database().db)).mtms_tk_intakes.length;
    await expect(service.intakeTk(first, operator)).rejects.toMatchObject({ code: 'MTMS_CHALLENGE_INVALID' });
    const expiring = await terminal.signedRequest(service, operator, envelope);
    now += DEVICE_CHALLENGE_TTL_MS;
    await expect(service.intakeTk(expiring, operator)).rejects.toMatchObject({ code: 'MTMS_CHALLENGE_INVALID' });
    await expect(service.intakeTk(await terminal.signedRequest(service, otherStation, envelope), operator)).rejects.toMatchObject({ code: 'MTMS_CHALLENGE_INVALID' });
    const { nonce } = await service.deviceChallenge(terminal.serial, 'enrol', operator);
    await expect(service.intakeTk({ ...first, ...terminal.vouch(envelope, nonce) }, operator)).rejects.toMatchObject({ code: 'MTMS_CHALLENGE_INVALID' });
    expect(JSON.parse(await dumpRows(database().db)).mtms_tk_intakes).toHaveLength(rows);
    expect((await refusalsOf(terminal.serial)).filter((r) => r === 'MTMS_CHALLENGE_INVALID')).toHaveLength(4);
  });

  describe('enrolment', () => {
    const enrolRequest = async (terminal: TerminalWithTk, by = operator) => {
      const { nonce } = await service.deviceChallenge(terminal.serial, 'enrol', by);
      const signature = signP256Sha256(terminal.identity.privateKey, enrolmentSignedBytes(terminal.serial, fromHex(nonce), terminal.identity.publicKey));
      return { v: MESSAGE_VERSION, serial: terminal.serial, publicKey: toHex(terminal.identity.publicKey), nonce, signature: toHex(signature) };
    };

    it('A8: a device proving its key gets a certificate (role device, CN = serial) whose uploads MTMS takes; audited', async () => {
      const terminal = await registered(false);
      const answer = await service.enrolDevice(await enrolRequest(terminal), operator);
      expect(answer.serial).toBe(terminal.serial);
      terminal.certificate = fromHex(answer.certificate);
      expect(await service.intakeTk(await terminal.signedRequest(service, operator, terminal.envelopeFor(intakeKey.publicKey)), operator)).toMatchObject({ serial: terminal.serial });
      const audit = (await createAuditStore(database().db).listBySubject(`terminal:${terminal.serial}`)).filter((e) => e.action.startsWith('mtms.device.'));
      expect(audit).toEqual([
        // The enrolment challenge is charged to the station's lookup bucket (A14).
        expect.objectContaining({ actor: 'operator:line 1', action: 'mtms.device.challenged', detail: expect.objectContaining({ found: true, operatorCertSerial: operator.certSerial }) }),
        expect.objectContaining({ actor: 'operator:line 1', action: 'mtms.device.enrolled', detail: expect.objectContaining({ operatorCertSerial: operator.certSerial }) }),
      ]);
    });

    it('A8: a second device for an enrolled serial is MTMS_DEVICE_ENROLLED until the first certificate is revoked', async () => {
      const terminal = await registered(false);
      const first = await service.enrolDevice(await enrolRequest(terminal), operator);
      const clone = new TerminalWithTk(terminal.serial);
      await expect(service.enrolDevice(await enrolRequest(clone), operator)).rejects.toMatchObject({ code: 'MTMS_DEVICE_ENROLLED' });
      const [inForce] = await ca.current({ role: 'device', name: terminal.serial }, new Date());
      expect(toHex(new Uint8Array(Buffer.from(inForce.certificatePem.replace(/-----[^-]+-----|\s/g, ''), 'base64')))).toBe(first.certificate);
      await ca.revoke(inForce.serial, 'superseded');
      await expect(service.enrolDevice(await enrolRequest(clone), operator)).resolves.toMatchObject({ serial: terminal.serial });
    });

    it('A8 A13: a terminal already in the field (its certificate revoked, say) is enrolled again only while a repair authorisation is open', async () => {
      const terminal = await registered();
      await service.intakeTk(await terminal.signedRequest(service, operator, terminal.envelopeFor(intakeKey.publicKey)), operator);
      const [inForce] = await ca.current({ role: 'device', name: terminal.serial }, new Date());
      await ca.revoke(inForce.serial, 'keyCompromise');
      const replacement = new TerminalWithTk(terminal.serial);
      await expect(service.enrolDevice(await enrolRequest(replacement), operator)).rejects.toMatchObject({ code: 'MTMS_REPAIR_NOT_AUTHORISED' });
      expect(await ca.current({ role: 'device', name: terminal.serial }, new Date())).toEqual([]);
      await store.openRepair(terminal.serial, 10, 'admin:test');
      await expect(service.enrolDevice(await enrolRequest(replacement), operator)).resolves.toMatchObject({ serial: terminal.serial });
      // Enrolment leaves the authorisation open for the new TK that follows.
      expect((await store.repairAuthorisations(terminal.serial))[0].closedAt).toBeUndefined();
    });

    it('A8: a bad proof of possession, a reused nonce or an unknown serial is refused, audited, and certifies nothing', async () => {
      const terminal = await registered(false);
      const request = await enrolRequest(terminal);
      const other = new TerminalWithTk(terminal.serial);
      await expect(service.enrolDevice({ ...request, publicKey: toHex(other.identity.publicKey) }, operator)).rejects.toMatchObject({ code: 'DEVICE_SIGNATURE_INVALID' });
      await expect(service.enrolDevice(request, otherStation)).rejects.toMatchObject({ code: 'MTMS_CHALLENGE_INVALID' });
      await expect(service.enrolDevice({ ...request, publicKey: `04${'00'.repeat(64)}` }, operator)).rejects.toMatchObject({ code: 'PUBLIC_KEY_INVALID' });
      const stranger = new TerminalWithTk('PP-NOT-REGISTERED');
      await expect(service.enrolDevice(await enrolRequest(stranger), operator)).rejects.toMatchObject({ code: 'MTMS_SERIAL_UNKNOWN' });
      expect(await ca.current({ role: 'device', name: terminal.serial }, new Date())).toEqual([]);
      expect(await ca.current({ role: 'device', name: stranger.serial }, new Date())).toEqual([]);
      const refused = (await createAuditStore(database().db).listBySubject(`terminal:${terminal.serial}`)).filter((e) => e.action === 'mtms.device.refused');
      expect(refused.map((e) => e.detail.reason)).toEqual(['DEVICE_SIGNATURE_INVALID', 'MTMS_CHALLENGE_INVALID', 'PUBLIC_KEY_INVALID']);
    });
  });
});
