/**
 * The emulated terminal against the host's own KMS instance (host/kms: HTTPS listener with a
 * certificate from the paypad CA, software HSM, SQLite), not a fake: the two ends of A11, A12 and
 * X2 written by different hands must agree on paths, headers, MACs, key blocks and KCVs. MTMS's
 * part (A5-A7) is played by the test: it opens the terminal's envelope and re-addresses the TK to
 * the KMS's intake key, as MTMS's HSM translates it.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import type { CertificateAuthority } from '../../../host/ca/authority';
import { ensureCa } from '../../../host/ca/caStorage';
import { type RunningKms, startKms } from '../../../host/kms/kmsInstance';
import { createLogger } from '../../../host/log';
import { useMigratedDatabase } from '../../store/helpers/testDatabase';
import type { Terminal } from '../../../firmware/core/terminal';
import { type Manufactured, SERIAL, makeMtmsKey, manufacture, openTkEnvelope, reopen, rng, tempDirs } from './support';

const dirs = tempDirs();
const database = useMigratedDatabase('sqlite');
const mtms = makeMtmsKey();
let ca: CertificateAuthority;
let kms: RunningKms;
let deliveries = 0;

beforeAll(async () => {
  ca = await ensureCa({ dataDir: dirs.make(), db: database().db });
  kms = await startKms({ customerCode: 'ACME', dataDir: dirs.make(), db: database().db, ca, port: 0, host: '127.0.0.1', logger: createLogger({ level: 'silent' }) });
});
afterAll(async () => {
  await kms?.close({ graceMs: 0 });
  dirs.cleanup();
});

/** A1-A7: the operator reads the TK envelope; MTMS opens it and delivers the TK to the KMS. */
async function deliverTk(terminal: Terminal): Promise<void> {
  const answer = await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
  if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
  const tk = openTkEnvelope(mtms, answer.tkEnvelope);
  const context = asciiToBytes(`paypad-tk|${SERIAL}`);
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, tk, context, rng));
  // Each upload is a new MTMS intake: its sequence grows with the delivery number (A7, A13).
  const ack = await kms.service.receiveTk({ v: 1, deliveryId: `d-${++deliveries}`, serial: SERIAL, envelope: toHex(envelope), customerCode: 'ACME', intakeSequence: deliveries });
  expect(ack.outcome).toBe('applied');
}

describe('the emulated terminal and the host KMS (A11, A12, A13, X2)', () => {
  let unit: Manufactured;

  it('A11/A12 TMK download and sign-on (under TK, then under MAK) succeed, over the KMS\'s real TLS', async () => {
    const caDer = new Uint8Array(new X509Certificate(ca.caCertificatePem).raw);
    unit = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer });
    await deliverTk(unit.terminal);
    const tmk = await unit.terminal.downloadTmk();
    expect(tmk).toMatchObject({ slot: 'TMK', keyUsage: 'K1', exportability: 'N' });
    const keys = await unit.terminal.signOn();
    expect(keys.map((k) => k.slot)).toEqual(['PIK', 'MAK', 'TDK', 'DMK']);
    expect((await unit.terminal.status()).stage).toBe('signed-on');
    // The next sign-on goes under MAK, which the KMS accepts and rotates.
    const again = await reopen(unit.stateDir).signOn();
    expect(again.find((k) => k.slot === 'MAK')?.kcv).not.toBe(keys.find((k) => k.slot === 'MAK')?.kcv);
    expect((await unit.terminal.status()).lastSequence).toBe(3);
  });

  it('A13 after repair the old keys are gone; once the new TK reaches the KMS, key loading starts over on a new sequence', async () => {
    await unit.terminal.handleLinkRequest({ v: 1, id: 2, op: 'repair', serial: SERIAL });
    expect((await unit.terminal.status()).slots.map((s) => s.slot)).toEqual(['TK']);
    // Before the new TK reaches it, the KMS cannot authenticate the terminal: an unsigned refusal.
    await expect(unit.terminal.downloadTmk()).rejects.toMatchObject({ code: 'KMS_RESPONSE_UNSIGNED' });
    await deliverTk(unit.terminal);
    await unit.terminal.downloadTmk();
    await unit.terminal.signOn();
    // Sequence 1 went to the KMS before it had the new TK; the new TK reset its count, and 2 and 3 were accepted.
    expect(await unit.terminal.status()).toMatchObject({ stage: 'signed-on', lastSequence: 3 });
  });
});
