/**
 * X3, A8, device budget: enrolment (identity, certify) and the signed tk stay within the targets
 * of the ESP32 creation (test/xs/budget/deviceBudget.ts), run by xs-budget with the manifest's
 * preload, as terminal.budget.test.ts runs the onboarding. The identity key is made and used in
 * XS; its signature is checked here with OpenSSL (node:crypto).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../shared/bytes';
import { tkIntakeSignedBytes } from '../../shared/protocol/deviceIdentity';
import { FrameDecoder, LINK_VERSION, decodeLinkFrame, encodeLinkMessage, type LinkOp, type LinkRequest, validateLinkResponse } from '../../shared/protocol/localLink';
import { ensureRootKey } from '../../firmware/hal/node/rootKey';
import { seededRng } from '../support/opsRng';
import { budgetEngine, buildXsBudget } from './budget/budgetEngine';
import { RESOURCES, targetAmount } from './budget/deviceBudget';
import { deviceModules, importScript } from './budget/deviceModules';
import { FakeKms } from '../support/fakeKms';
import { makeTestPki, type TestPki } from './terminal/testPki';
import { XS_TERMINAL_ENTRY, XsTerminal, XsTerminalCore } from './terminal/xsTerminal';
import type { XsMemory } from './xsWorker';

const SERIAL = 'PP-BUDGET-0002';
const seed = (text: string) => seededRng(new TextEncoder().encode(text));
const NONCE = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('X3 A8 device budget: device identity in the ESP32 creation', () => {
  const root = mkdtempSync(join(tmpdir(), 'paypad-xs-identity-budget-'));
  const peaks: { op: string; memory: XsMemory }[] = [];
  let core: XsTerminalCore;
  let kms: FakeKms;
  let pki: TestPki;
  let session: number;

  const send = async (request: Record<string, string> & { op: LinkOp }) => {
    const reply = await core.call({ cmd: 'link.data', session, data: encodeLinkMessage({ v: LINK_VERSION, id: 1, ...request } as unknown as LinkRequest) });
    if (!reply.meter.memory) throw new Error('the engine reported no memory (not xs-budget?)');
    peaks.push({ op: request.op, memory: reply.meter.memory });
    const answer = validateLinkResponse(decodeLinkFrame(new FrameDecoder().push(reply.result.data)[0]), request.op);
    if (!answer.ok) throw new Error(`${request.op} refused: ${JSON.stringify(answer)}`);
    return answer as unknown as Record<string, string>;
  };

  beforeAll(async () => {
    await buildXsBudget();
    const modules = await deviceModules(XS_TERMINAL_ENTRY);
    const engine = await budgetEngine({ modules });
    pki = await makeTestPki();
    kms = await FakeKms.start(pki.kms, 'identity budget');
    const stateDir = join(root, 'terminal');
    mkdirSync(stateDir, { mode: 0o700 });
    ensureRootKey(stateDir, seed('identity budget root key'));
    await XsTerminal.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: kms.mtms.publicKey, kmsUrl: kms.url, trustAnchor: pki.caDer });
    core = await XsTerminalCore.start(stateDir, { hal: { rng: seed('identity budget rng') }, worker: { engine }, script: importScript(modules.main) });
    await core.call({ cmd: 'boot' });
    session = (await core.call({ cmd: 'link.open' })).result.session;
  }, 300_000);

  afterAll(async () => {
    await core?.close();
    await kms?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('X3 A8: identity (key pair made, public key signed), certify and a signed tk each peak within the targets, and the signature verifies', async () => {
    const identity = await send({ op: 'identity', nonce: toHex(NONCE) });
    await send({ op: 'certify', certificate: toHex(await pki.certifyDevice(SERIAL, fromHex(identity.publicKey))) });
    const tk = await send({ op: 'tk', nonce: toHex(NONCE) });
    const publicKey = new X509Certificate(fromHex(tk.certificate)).publicKey;
    expect(verify('sha256', tkIntakeSignedBytes(SERIAL, NONCE, fromHex(tk.tkEnvelope)), { key: publicKey, dsaEncoding: 'ieee-p1363' }, fromHex(tk.signature))).toBe(true);

    const peakOf = (m: XsMemory, resource: (typeof RESOURCES)[number]) => (resource === 'chunks' ? m.chunksPeak : resource === 'slots' ? m.slotsPeak : m.stackPeak);
    const over = peaks.flatMap(({ op, memory }) => RESOURCES.filter((r) => peakOf(memory, r) > targetAmount(r)).map((r) => `${op} ${r} ${peakOf(memory, r)} > ${targetAmount(r)}`));
    console.info(peaks.map(({ op, memory }) => `${op}: stack ${memory.stackPeak}, slots ${memory.slotsPeak}, chunks ${memory.chunksPeak}`).join('; '));
    expect(peaks.map((p) => p.op)).toEqual(['identity', 'certify', 'tk']);
    expect(over).toEqual([]);
  });
});
