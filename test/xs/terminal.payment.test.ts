/**
 * X3 with System C: the terminal core in XS pays by mobile number through POSP beside the host's
 * own KMS (host/kms + host/posp over HTTPS with a paypad CA certificate, the KMS's software HSM,
 * ISO 8583 over loopback TCP to the simulated provider's server). The vault in XS enciphers track 2
 * under TDK and the PIN under PIK, and MACs under MAK; POSP, written by another hand, must read all
 * three (C5-C8, X2).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex, toHex } from '../../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import type { CertificateAuthority } from '../../host/ca/authority';
import { ensureCa } from '../../host/ca/caStorage';
import { LMK_FILE_NAME, type RunningKms, kmsDirectory, startKms } from '../../host/kms/kmsInstance';
import { createLogger } from '../../host/log';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { useMigratedDatabase } from '../store/helpers/testDatabase';
import { seededRng } from '../support/opsRng';
import { openWithLmkFile } from '../unit/hsm/hsmTestKit';
import { type AcquiringSide, CUSTOMER, startAcquiringSide } from '../unit/posp/pospTestKit';
import { readOverLink } from './terminal/scenario';
import { XsTerminal } from './terminal/xsTerminal';
import { openTkEnvelope } from '../support/keyVaultFixture';

const SERIAL = 'PP-0003-0300';
const rng = seededRng(new TextEncoder().encode('xs payment test'));
const mtms = generateP256KeyPair(rng);
const database = useMigratedDatabase('sqlite');
const roots: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'paypad-xs-pay-'));
  roots.push(dir);
  return dir;
};
let ca: CertificateAuthority;
let kms: RunningKms;
let acquiring: AcquiringSide | undefined;
let terminal: XsTerminal | undefined;

beforeAll(async () => {
  ca = await ensureCa({ dataDir: tempDir(), db: database().db });
  const dataDir = tempDir();
  kms = await startKms({
    customerCode: CUSTOMER,
    dataDir,
    db: database().db,
    ca,
    port: 0,
    host: '127.0.0.1',
    logger: createLogger({ level: 'silent' }),
    posp: async ({ hsm, store }) => {
      const lmkFile = join(kmsDirectory(dataDir, CUSTOMER), LMK_FILE_NAME);
      acquiring = await startAcquiringSide({ database: database(), hsm, open: (handle) => openWithLmkFile(lmkFile, handle), kmsStore: store });
      return acquiring.posp;
    },
  });
  const stateDir = join(tempDir(), 'terminal');
  await XsTerminal.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: mtms.publicKey, kmsUrl: kms.url, trustAnchor: new Uint8Array(new X509Certificate(ca.caCertificatePem).raw) });
  terminal = await XsTerminal.start({ stateDir });
  // A2, A5-A7: the operator reads the envelope over TCP; MTMS re-addresses the TK to the KMS. Then A11, A12.
  const { serial, tkEnvelope } = await readOverLink(terminal);
  const tk = openTkEnvelope(mtms, fromHex(tkEnvelope), serial);
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, tk, tkTransportContext(serial), rng));
  await kms.service.receiveTk({ v: 1, deliveryId: 'xs-pay-1', serial, envelope: toHex(envelope), customerCode: CUSTOMER, intakeSequence: 1 });
  await terminal.loadKeys();
}, 120_000);
afterAll(async () => {
  await terminal?.close();
  await kms?.close({ graceMs: 0 });
  await acquiring?.close();
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

describe('X3: the XS core pays by mobile number through POSP', () => {
  it('C5, C8, X2: lookup, then a payment approved (00) and debited once; a wrong PIN is 55; both MAC\'d answers verified in XS', async () => {
    if (!terminal || !acquiring) throw new Error('beforeAll starts the terminal and POSP');
    acquiring.platform.payees.set('13800138000', '王小明');
    const payee = await terminal.lookupPayee('13800138000');
    expect(payee.maskedName).toBe('王*明');
    const pan = TEST_CARDS.unionPay.pan;
    const before = acquiring.provider.balanceOf(pan)!.balance;
    const approved = await terminal.payByMobile({ lookupId: payee.lookupId, amount: 2_500, currency: 'CNY', track2: asciiToBytes(`${pan}=30121011234`), pin: TEST_PIN });
    expect(approved).toMatchObject({ responseCode: '00', reason: 'Approved', maskedPan: '622202*********0017', amount: 2_500 });
    expect(acquiring.provider.balanceOf(pan)!.balance).toBe(before - 2_500);
    const wrongPin = await terminal.payByMobile({ lookupId: payee.lookupId, amount: 2_500, currency: 'CNY', track2: asciiToBytes(`${pan}=30121011234`), pin: '0000' });
    expect(wrongPin).toMatchObject({ responseCode: '55', reason: 'Incorrect PIN' });
    expect(acquiring.provider.balanceOf(pan)!.balance).toBe(before - 2_500);
    expect((await terminal.status()).lastSequence).toBe(5);
  });

  it('C4: an unknown payee comes back from XS as POSP_REFUSED with POSP\'s code', async () => {
    if (!terminal) throw new Error('beforeAll starts the terminal');
    await expect(terminal.lookupPayee('13700137000')).rejects.toMatchObject({ code: 'POSP_REFUSED', pospCode: 'PAYEE_UNKNOWN' });
  });
});
