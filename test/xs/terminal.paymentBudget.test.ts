/**
 * X3 device budget, System C: after onboarding, a payee lookup and a mobile-number payment in the
 * ESP32 creation, fixed (xs-budget, test/xs/budget; manifest.json's `preload`), against the host's
 * own KMS with POSP beside it. The payment's steps (track 2 enciphered under TDK, the PIN block under
 * PIK, a MAC under MAK, the answer's MAC verified) must stay within the same 60% targets as
 * onboarding's (deviceBudget.ts): the device's stack is 512 slots.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex, toHex } from '../../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { FrameDecoder, LINK_VERSION, decodeLinkFrame, encodeLinkMessage, validateLinkResponse } from '../../shared/protocol/localLink';
import { tkTransportContext } from '../../shared/protocol/tkTransport';
import { ensureRootKey } from '../../firmware/hal/node/rootKey';
import type { CertificateAuthority } from '../../host/ca/authority';
import { ensureCa } from '../../host/ca/caStorage';
import { LMK_FILE_NAME, type RunningKms, kmsDirectory, startKms } from '../../host/kms/kmsInstance';
import { createLogger } from '../../host/log';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { useMigratedDatabase } from '../store/helpers/testDatabase';
import { seededRng } from '../support/opsRng';
import { openWithLmkFile } from '../unit/hsm/hsmTestKit';
import { type AcquiringSide, CUSTOMER, startAcquiringSide } from '../unit/posp/pospTestKit';
import { budgetEngine, buildXsBudget } from './budget/budgetEngine';
import { RESOURCES, type Resource, targetAmount } from './budget/deviceBudget';
import { deviceModules, importScript } from './budget/deviceModules';
import { XS_TERMINAL_ENTRY, XsTerminal, XsTerminalCore } from './terminal/xsTerminal';
import type { XsMemory } from './xsWorker';
import { openTkEnvelope } from '../support/keyVaultFixture';

const SERIAL = 'PP-BUDGET-0300';
const seed = (text: string) => seededRng(new TextEncoder().encode(text));
const rng = seed('payment budget');
const mtms = generateP256KeyPair(rng);
const database = useMigratedDatabase('sqlite');
const roots: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'paypad-xs-paybudget-'));
  roots.push(dir);
  return dir;
};

let ca: CertificateAuthority;
let kms: RunningKms;
let acquiring: AcquiringSide | undefined;
let core: XsTerminalCore | undefined;
const peaks = new Map<'lookup' | 'pay', XsMemory>();
let payResponseCode = '';

beforeAll(async () => {
  await buildXsBudget();
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
  const modules = await deviceModules(XS_TERMINAL_ENTRY);
  const engine = await budgetEngine({ modules });
  const stateDir = join(tempDir(), 'terminal');
  mkdirSync(stateDir, { mode: 0o700 });
  ensureRootKey(stateDir, seed('payment budget root key'));
  await XsTerminal.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: mtms.publicKey, kmsUrl: kms.url, trustAnchor: new Uint8Array(new X509Certificate(ca.caCertificatePem).raw) });
  core = await XsTerminalCore.start(stateDir, { hal: { rng: seed('payment budget terminal rng') }, worker: { engine }, script: importScript(modules.main) });
  const c = core;
  await c.call({ cmd: 'boot' });
  // A1-A7, then A11 and A12: the onboarding the device-budget test measures step by step.
  const { session } = (await c.call({ cmd: 'link.open' })).result;
  const tk = await c.call({ cmd: 'link.data', session, data: encodeLinkMessage({ v: LINK_VERSION, id: 1, op: 'tk' }) });
  const answer = validateLinkResponse(decodeLinkFrame(new FrameDecoder().push(tk.result.data)[0]), 'tk');
  if (!answer.ok) throw new Error(`tk refused: ${JSON.stringify(answer)}`);
  const clearTk = openTkEnvelope(mtms, fromHex(answer.tkEnvelope), SERIAL);
  const envelope = encodeKeyEnvelope(wrapKeyForRecipient(kms.service.intakePublicKey().publicKey, clearTk, tkTransportContext(SERIAL), rng));
  await kms.service.receiveTk({ v: 1, deliveryId: 'budget-pay-1', serial: SERIAL, envelope: toHex(envelope), customerCode: CUSTOMER, intakeSequence: 1 });
  await c.call({ cmd: 'downloadTmk' });
  await c.call({ cmd: 'signOn' });

  acquiring!.platform.payees.set('13800138000', '王小明');
  const lookup = await c.call({ cmd: 'lookupPayee', payeeMobile: '13800138000' });
  peaks.set('lookup', lookup.meter.memory!);
  const pan = TEST_CARDS.unionPay.pan;
  const pay = await c.call({ cmd: 'payByMobile', payment: { lookupId: lookup.result.lookupId, amount: 100, currency: 'CNY', track2: asciiToBytes(`${pan}=30121011234`), pin: TEST_PIN } });
  peaks.set('pay', pay.meter.memory!);
  payResponseCode = pay.result.responseCode;
}, 300_000);

afterAll(async () => {
  await core?.close();
  await kms?.close({ graceMs: 0 });
  await acquiring?.close();
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

const peak = (memory: XsMemory, resource: Resource): number => (resource === 'chunks' ? memory.chunksPeak : resource === 'slots' ? memory.slotsPeak : memory.stackPeak);

describe('X3 device budget: a mobile-number payment in the ESP32 creation, fixed', () => {
  it('X3, C5, C6, C8: the lookup and the payment (00) each stay within 60% of the creation\'s chunks, slots and stack', () => {
    expect(payResponseCode).toBe('00');
    const over: string[] = [];
    const seen: string[] = [];
    for (const [step, memory] of peaks) {
      for (const resource of RESOURCES) {
        seen.push(`${step} ${resource} ${peak(memory, resource)}`);
        if (peak(memory, resource) > targetAmount(resource)) over.push(`${step} ${resource} ${peak(memory, resource)} > ${targetAmount(resource)}`);
      }
    }
    expect(over, seen.join('; ')).toEqual([]);
  });
});
