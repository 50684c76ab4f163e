/**
 * `paypad serve` pays by mobile number (docs/payments.md; SPEC C3-C8, X5): the host with its demo
 * data runs each customer's KMS with POSP beside it, on the simulated card network the mobile
 * payment platform uses, after a simulated zone key ceremony. A terminal of a demo customer signs on
 * and pays a demo payee; the test plays MTMS's delivery of the TK.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, toHex } from '../../../shared/bytes';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { loadConfig } from '../../../host/config';
import { type RunningHost, startHost } from '../../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';
import type { Terminal } from '../../../firmware/core/terminal';
import { SERIAL, makeMtmsKey, manufacture, openTkEnvelope, rng, tempDirs } from '../terminal/support';
import { captureLogger } from './helpers/captureLogger';

const dirs = tempDirs();
const mtms = makeMtmsKey();
let dataDir: string;
let host: RunningHost;
let terminal: Terminal;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'paypad-serve-pay-'));
  const config = loadConfig({ PAYPAD_DATA_DIR: dataDir, PAYPAD_PORT: '0', PAYPAD_MTMS_PORT: '0', PAYPAD_KMS_BASE_PORT: '0', PAYPAD_DEMO_DATA: '1' });
  host = await startHost(config, { logger: captureLogger('silent').logger });
  const kms = host.kms.running()[0];
  const caDer = new Uint8Array(new X509Certificate(host.ca.caCertificatePem).raw);
  terminal = manufacture(dirs.make(), { mtms, kmsUrl: kms.url, caDer }).terminal;
  const answer = await terminal.handleLinkRequest({ v: 1, id: 1, op: 'tk' });
  if (!('tkEnvelope' in answer)) throw new Error('expected a tk answer');
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, openTkEnvelope(mtms, answer.tkEnvelope), asciiToBytes(`paypad-tk|${SERIAL}`), rng));
  await kms.service.receiveTk({ v: 1, deliveryId: 'serve-pay-1', serial: SERIAL, envelope: toHex(envelope), customerCode: kms.customerCode, intakeSequence: 1 });
  await terminal.downloadTmk();
  await terminal.signOn();
}, 60_000);
afterAll(async () => {
  await host?.close({ graceMs: 0 });
  rmSync(dataDir, { recursive: true, force: true });
  dirs.cleanup();
});

describe('paypad serve: a mobile-number payment through the POSP beside a demo customer\'s KMS', () => {
  it('C5, C8, X5: the demo payee is found masked, the card is debited on the simulated network (00), the payer is texted', async () => {
    const payee = await terminal.lookupPayee('13800138000', '13900139000');
    expect(payee.maskedName).toBe('王*明');
    const pan = TEST_CARDS.unionPay.pan;
    const provider = host.mobile.network.provider;
    const before = provider.balanceOf(pan)!.balance;
    const answer = await terminal.payByMobile({ lookupId: payee.lookupId, amount: 1_000, currency: 'CNY', track2: asciiToBytes(`${pan}=30121011234`), pin: TEST_PIN, payerMobile: '13900139000' });
    expect(answer).toMatchObject({ responseCode: '00', reason: 'Approved', maskedPan: '622202*********0017' });
    expect(provider.balanceOf(pan)!.balance).toBe(before - 1_000);
    await host.mobile.mobile.sendQueuedTexts();
    expect(host.mobile.sms.sent('+8613900139000').length).toBeGreaterThan(0);
  });

  it('C7: a card of a bank the provider has no contract with is refused with the reason', async () => {
    const payee = await terminal.lookupPayee('13800138000');
    const answer = await terminal.payByMobile({ lookupId: payee.lookupId, amount: 1_000, currency: 'CNY', track2: asciiToBytes(`${TEST_CARDS.nonContracted.pan}=30121011234`), pin: TEST_PIN });
    expect(answer.responseCode).toBe('57');
  });
});
