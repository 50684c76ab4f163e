/**
 * X3 device budget, System B: after onboarding, a program update in the ESP32 creation, fixed
 * (xs-budget, test/xs/budget; manifest.json's `preload`): the query, the vendor's ECDSA P-256
 * signature, B3 (DWK-I opened under DMK in the vault, TAC-I checked, SAC-I made), every 4 KiB chunk
 * MAC-checked under its DWK-derived key and written through the Updater, the whole image hashed back
 * and the switch; then the first start's confirmation. Each must stay within the same 60% targets
 * as onboarding's (deviceBudget.ts). The image goes to the emulated terminal's slot over the HAL
 * bridge, as it goes to flash on the device: it is never held in the heap.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateP256KeyPair } from '../../shared/crypto/keyTransport';
import { FrameDecoder, LINK_VERSION, decodeLinkFrame, encodeLinkMessage, validateLinkResponse } from '../../shared/protocol/localLink';
import type { Http } from '../../firmware/hal/http';
import { createNodeHttp } from '../../firmware/hal/node/http';
import { ensureRootKey } from '../../firmware/hal/node/rootKey';
import { openSlotUpdater } from '../../firmware/hal/node/slotUpdater';
import { seededRng } from '../support/opsRng';
import { FakeTms, MODEL, PROGRAM, makePackage } from '../unit/update/fakeTms';
import { budgetEngine, buildXsBudget } from './budget/budgetEngine';
import { RESOURCES, type Resource, targetAmount } from './budget/deviceBudget';
import { deviceModules, importScript } from './budget/deviceModules';
import { FakeKms } from '../support/fakeKms';
import { makeTestPki } from './terminal/testPki';
import { XS_TERMINAL_ENTRY, XsTerminal, XsTerminalCore } from './terminal/xsTerminal';
import type { XsMemory } from './xsWorker';

const SERIAL = 'PP-BUDGET-0400';
const seed = (text: string) => seededRng(new TextEncoder().encode(text));
const CHUNK_BYTES = 4096;
const IMAGE = seed('update budget image')(16 * CHUNK_BYTES - 300);
const root = mkdtempSync(join(tmpdir(), 'paypad-xs-update-budget-'));
const peaks = new Map<string, XsMemory>();
let kms: FakeKms | undefined;
let tms: FakeTms | undefined;
let core: XsTerminalCore | undefined;
let versions: string[] = [];

beforeAll(async () => {
  await buildXsBudget();
  const modules = await deviceModules(XS_TERMINAL_ENTRY);
  const engine = await budgetEngine({ modules });
  const pki = await makeTestPki();
  kms = await FakeKms.start(pki.kms, 'update budget');
  const stateDir = join(root, 'terminal');
  mkdirSync(stateDir, { mode: 0o700 });
  ensureRootKey(stateDir, seed('update budget root key'));
  await XsTerminal.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: kms.mtms.publicKey, kmsUrl: kms.url, trustAnchor: pki.caDer });

  const vendor = generateP256KeyPair(seed('update budget vendor'));
  const nodeHttp = createNodeHttp();
  // The TMS serves beside the KMS, on its URL: /tms/ to the in-test TMS, everything else to the fake KMS over TLS.
  const http: Http = { request: (request) => (new URL(request.url).pathname.startsWith('/tms/') && tms ? tms.request(request) : nodeHttp.request(request)) };
  const start = (restarts: { n: number }) =>
    XsTerminalCore.start(stateDir, {
      hal: { rng: seed(`update budget rng ${restarts.n}`), http, updater: openSlotUpdater(stateDir, { factoryVersion: '1.0.0', restart: () => void restarts.n++ }) } as never,
      worker: { engine },
      script: importScript(modules.main),
    });
  const restarts = { n: 0 };
  const config = { model: MODEL, programName: PROGRAM, vendorKeys: [vendor.publicKey] };
  core = await start(restarts);
  const c = core;
  await c.call({ cmd: 'boot' });
  const { session } = (await c.call({ cmd: 'link.open' })).result;
  const tk = await c.call({ cmd: 'link.data', session, data: encodeLinkMessage({ v: LINK_VERSION, id: 1, op: 'tk' }) });
  const answer = validateLinkResponse(decodeLinkFrame(new FrameDecoder().push(tk.result.data)[0]), 'tk');
  if (!answer.ok) throw new Error(`tk refused: ${JSON.stringify(answer)}`);
  kms.receiveTransportKey(SERIAL, answer.tkEnvelope);
  await c.call({ cmd: 'downloadTmk' });
  await c.call({ cmd: 'signOn' });

  const rng = seed('update budget tms');
  tms = new FakeTms({ serial: SERIAL, mak: kms.workingKey(SERIAL, 'MAK'), dmk: kms.workingKey(SERIAL, 'DMK'), image: IMAGE, signed: makePackage(IMAGE, vendor), chunkBytes: CHUNK_BYTES, rng });
  const check = await c.call({ cmd: 'update.check', config }, { collect: true });
  peaks.set('check (query, signature, B3, 16 chunks, hash, switch)', check.meter.memory!);
  versions.push(check.result.outcome === 'installed' ? check.result.version : 'none');
  await c.close();
  core = undefined;

  // The first start of the new program: it confirms itself and reports success.
  core = await start(restarts);
  await core.call({ cmd: 'boot' });
  const confirm = await core.call({ cmd: 'update.start', config }, { collect: true });
  peaks.set('first start (confirm, report)', confirm.meter.memory!);
  versions.push(tms.reports.at(-1)?.version ?? 'none', String(restarts.n));
}, 300_000);

afterAll(async () => {
  await core?.close();
  await kms?.close();
  rmSync(root, { recursive: true, force: true });
});

const peak = (memory: XsMemory, resource: Resource): number => (resource === 'chunks' ? memory.chunksPeak : resource === 'slots' ? memory.slotsPeak : memory.stackPeak);

describe('X3 device budget: a program update in the ESP32 creation, fixed', () => {
  it('X3, B3, B4: the update and the first start each stay within 60% of the creation\'s chunks, slots and stack', () => {
    expect(versions).toEqual(['1.1.0', '1.1.0', '1']);
    expect(tms?.chunksServed.length).toBe(16);
    const over: string[] = [];
    const seen: string[] = [];
    for (const [step, memory] of peaks) {
      for (const resource of RESOURCES) {
        seen.push(`${step} ${resource} ${peak(memory, resource)}`);
        if (peak(memory, resource) > targetAmount(resource)) over.push(`${step} ${resource} ${peak(memory, resource)} > ${targetAmount(resource)}`);
      }
    }
    // The deepest chain of each step, frame by frame, names what to shorten when a step goes over.
    expect(over, `${seen.join('; ')}; ${[...peaks].map(([step, m]) => `${step}: ${m.deepest}`).join('; ')}`).toEqual([]);
  });
});
