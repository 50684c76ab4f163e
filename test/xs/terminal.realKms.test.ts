/**
 * Issue 3, X3: the terminal core in XS against the host's own KMS instance (host/kms: HTTPS with a
 * certificate from the paypad CA, software HSM, SQLite), not the test's fake: what the XS core
 * sends and accepts must agree with the KMS another hand wrote. MTMS's part (A5-A7) is played by
 * the test: it opens the envelope the operator read over the link and re-addresses the TK to the
 * KMS's intake key, as MTMS's HSM translates it.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import type { CertificateAuthority } from '../../host/ca/authority';
import { ensureCa } from '../../host/ca/caStorage';
import { type RunningKms, startKms } from '../../host/kms/kmsInstance';
import { createLogger } from '../../host/log';
import { connectTcpLink } from '../../host/operator/tcpLink';
import { useMigratedDatabase } from '../store/helpers/testDatabase';
import { seededRng } from '../support/opsRng';
import type { EmulatedTerminal } from './terminal/emulatedTerminal';
import { readOverLink } from './terminal/scenario';
import { XsTerminal } from './terminal/xsTerminal';
import { openTkEnvelope } from '../support/keyVaultFixture';

const SERIAL = 'PP-0003-0200';
const rng = seededRng(new TextEncoder().encode('real kms test'));
const mtms = generateP256KeyPair(rng);
const database = useMigratedDatabase('sqlite');
const roots: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'paypad-xs-realkms-'));
  roots.push(dir);
  return dir;
};
let ca: CertificateAuthority;
let kms: RunningKms;
let terminal: EmulatedTerminal | undefined;
let deliveries = 0;

beforeAll(async () => {
  ca = await ensureCa({ dataDir: tempDir(), db: database().db });
  kms = await startKms({ customerCode: 'ACME', dataDir: tempDir(), db: database().db, ca, port: 0, host: '127.0.0.1', logger: createLogger({ level: 'silent' }) });
});
afterAll(async () => {
  await terminal?.close();
  await kms?.close({ graceMs: 0 });
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

/** A2, A5-A7: the operator reads the envelope over TCP; MTMS re-addresses the TK to the KMS. */
async function deliverTk(link: EmulatedTerminal): Promise<void> {
  const { serial, tkEnvelope } = await readOverLink(link);
  const tk = openTkEnvelope(mtms, fromHex(tkEnvelope), serial);
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, tk, tkTransportContext(serial), rng));
  deliveries++;
  const ack = await kms.service.receiveTk({ v: 1, deliveryId: `xs-${deliveries}`, serial, envelope: toHex(envelope), customerCode: 'ACME', intakeSequence: deliveries });
  expect(ack.outcome).toBe('applied');
}

describe('issue 3 / X3: the XS core loads its keys from the host KMS', () => {
  it('A11, A12, X2: TMK download and sign-on, then a sign-on under MAK, over the KMS\'s real TLS', async () => {
    const stateDir = join(tempDir(), 'terminal');
    const caDer = new Uint8Array(new X509Certificate(ca.caCertificatePem).raw);
    await XsTerminal.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: mtms.publicKey, kmsUrl: kms.url, trustAnchor: caDer });
    terminal = await XsTerminal.start({ stateDir });
    await deliverTk(terminal);
    const loaded = await terminal.loadKeys();
    expect(Object.keys(loaded.kcv).sort()).toEqual(['DMK', 'MAK', 'PIK', 'TDK', 'TMK']);
    const status = await terminal.status();
    expect(status).toMatchObject({ stage: 'signed-on', lastSequence: 2 });
    // The KCVs the XS core checked and reports are the ones it holds.
    expect(Object.fromEntries(status.slots.filter((s) => s.slot !== 'TK').map((s) => [s.slot, 'kcv' in s ? s.kcv : s.error]))).toEqual(loaded.kcv);
    const again = await terminal.signOn();
    expect(again.find((k) => k.slot === 'MAK')).not.toEqual(status.slots.find((k) => k.slot === 'MAK'));
    expect((await terminal.status()).lastSequence).toBe(3);
  });

  it('A13: after repair over the link the KMS cannot authenticate the terminal until the new TK reaches it; then keys load again', async () => {
    if (!terminal) throw new Error('the first test manufactures the terminal');
    const link = await connectTcpLink({ host: terminal.linkHost, port: terminal.linkPort });
    try {
      expect(await link.repair(SERIAL)).toBe(SERIAL);
    } finally {
      await link.close();
    }
    await expect(terminal.downloadTmk()).rejects.toMatchObject({ code: 'KMS_RESPONSE_UNSIGNED' });
    await deliverTk(terminal);
    await terminal.loadKeys();
    expect(await terminal.status()).toMatchObject({ stage: 'signed-on', lastSequence: 3 });
  });
});
