/**
 * The firmware core's onboarding in xs-budget (budgetEngine.ts), step by step, with what each step
 * held at its peak: the flow the device-budget test asserts and bench/xs-device-budget.ts reports.
 *
 *   load     the modules evaluated, one by one as the device's loader does (the firmware's
 *            imports at power-on); preloaded modules were evaluated at build time, in flash
 *   boot     Terminal.open over storage: identity read and checked
 *   tk       the local link's first `tk` (A1 + A10): TK generated, sealed, exported with ECDH
 *   tmk      TMK download (A11) from the fake KMS of test/xs/terminal, over real HTTPS
 *   signOn   sign-on (A12): four working keys under TMK
 *   idle     after a garbage collection: what the booted, signed-on terminal keeps
 *
 * Every HAL call is bridged to the emulated terminal's Node HAL (test/xs/terminal), whose costs
 * in XS (one JSON message per call) the device's native HAL does not pay. The run stops at the
 * first step that aborts (memory full, stack overflow, not enough keys) and says which.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINK_VERSION, FrameDecoder, decodeLinkFrame, encodeLinkMessage, validateLinkResponse } from '../../../shared/protocol/localLink';
import { ensureRootKey } from '../../../firmware/hal/node/rootKey';
import { seededRng } from '../../support/opsRng';
import { FakeKms } from '../../support/fakeKms';
import { makeTestPki } from '../terminal/testPki';
import { XS_TERMINAL_ENTRY, XsTerminal, XsTerminalCore } from '../terminal/xsTerminal';
import { type XsAbort, type XsMemory, type XsMeter, XsWorkerError } from '../xsWorker';
import { budgetEngine } from './budgetEngine';
import { deviceModules, importScript } from './deviceModules';
import { type Creation, ESP32_CREATION, RESOURCES, type Resource, targetAmount } from './deviceBudget';

export const PLANTED_TABLE_ENTRY = join(import.meta.dirname, 'plantedTableEntry.ts');

export type StepId = 'load' | 'boot' | 'tk' | 'tmk' | 'signOn' | 'idle';

export const STEPS: readonly { id: StepId; label: string }[] = [
  { id: 'load', label: 'load: the modules evaluated' },
  { id: 'boot', label: 'boot: Terminal.open over storage' },
  { id: 'tk', label: 'A1 + A10: first `tk` (TK generated, sealed, exported with ECDH P-256)' },
  { id: 'tmk', label: 'A11: TMK download (MAC\'d exchange, TR-31 import, KCV, seal)' },
  { id: 'signOn', label: 'A12: sign-on (4 TR-31 imports under TMK, KCVs, seals)' },
  { id: 'idle', label: 'idle: after a garbage collection' },
];

export interface StepMemory {
  readonly id: StepId;
  readonly memory: XsMemory;
  readonly compute: number;
}

export interface BudgetRun {
  /** The modules that were preloaded (flash), of how many. */
  readonly preloaded: readonly string[];
  readonly modules: number;
  readonly steps: StepMemory[];
  /** The step that aborted, and why; absent when the whole flow ran. */
  readonly failure?: { readonly step: StepId; readonly abort?: XsAbort; readonly message: string };
}

export interface BudgetFlowOptions {
  readonly creation?: Creation;
  /** true: every module preloaded; false: none; default: as the manifest's `preload` says. */
  readonly preload?: boolean;
  /** A table to plant in the core at boot (plantedTableEntry.ts). */
  readonly plant?: { kind: 'bytes' | 'slots'; bytes: number };
}

const SERIAL = 'PP-BUDGET-0001';
const seed = (text: string) => seededRng(new TextEncoder().encode(text));

/** Runs the flow in a new worker against a new fake KMS; never throws for a step that aborts. */
export async function runBudgetFlow(options: BudgetFlowOptions = {}): Promise<BudgetRun> {
  const modules = await deviceModules(options.plant ? PLANTED_TABLE_ENTRY : XS_TERMINAL_ENTRY);
  const engine = await budgetEngine({ creation: options.creation, modules, preload: options.preload });
  const preloaded = engine.args.filter((_, i) => engine.args[i - 1] === '--preload-module');
  const described = { preloaded, modules: modules.names.length };
  const pki = await makeTestPki();
  const kms = await FakeKms.start(pki.kms, 'budget');
  const root = mkdtempSync(join(tmpdir(), 'paypad-xs-budget-'));
  const stateDir = join(root, 'terminal');
  const steps: StepMemory[] = [];
  let core: XsTerminalCore | undefined;
  let current: StepId = 'load';
  const record = (id: StepId, meter: XsMeter) => {
    if (!meter.memory) throw new Error(`${id}: the engine reported no memory (not xs-budget?)`);
    steps.push({ id, memory: meter.memory, compute: meter.compute });
  };
  try {
    mkdirSync(stateDir, { mode: 0o700 });
    ensureRootKey(stateDir, seed('budget root key'));
    await XsTerminal.manufacture(stateDir, { serial: SERIAL, mtmsPublicKey: kms.mtms.publicKey, kmsUrl: kms.url, trustAnchor: pki.caDer });
    core = await XsTerminalCore.start(stateDir, { hal: { rng: seed('budget terminal rng') }, worker: { engine }, script: importScript(modules.main) });
    const c = core;
    record('load', c.worker.startReply.meter);
    if (options.plant) await c.worker.evaluate(`globalThis.plantTable = ${JSON.stringify(options.plant)};`);
    current = 'boot';
    record('boot', (await c.call({ cmd: 'boot' })).meter);
    current = 'tk';
    const { session } = (await c.call({ cmd: 'link.open' })).result;
    const tk = await c.call({ cmd: 'link.data', session, data: encodeLinkMessage({ v: LINK_VERSION, id: 1, op: 'tk' }) });
    const answer = validateLinkResponse(decodeLinkFrame(new FrameDecoder().push(tk.result.data)[0]), 'tk');
    if (!answer.ok) throw new Error(`tk refused: ${JSON.stringify(answer)}`);
    record('tk', tk.meter);
    kms.receiveTransportKey(SERIAL, answer.tkEnvelope);
    current = 'tmk';
    record('tmk', (await c.call({ cmd: 'downloadTmk' })).meter);
    current = 'signOn';
    record('signOn', (await c.call({ cmd: 'signOn' })).meter);
    current = 'idle';
    record('idle', (await c.call({ cmd: 'collect' })).meter);
    return { ...described, steps };
  } catch (e) {
    if (!(e instanceof XsWorkerError)) throw e;
    return { ...described, steps, failure: { step: current, abort: e.abort, message: e.message } };
  } finally {
    await core?.close();
    await kms.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** A step's peak of `resource`: bytes for chunks, slots for slots and stack ("idle" is what stays). */
export function peakOf(step: StepMemory, resource: Resource): number {
  const m = step.memory;
  if (step.id === 'idle') return resource === 'chunks' ? m.chunks : resource === 'slots' ? m.slots : m.stack;
  return resource === 'chunks' ? m.chunksPeak : resource === 'slots' ? m.slotsPeak : m.stackPeak;
}

/** Every peak over its target, as `step resource peak > target`. */
export function overTarget(run: BudgetRun, creation: Creation = ESP32_CREATION): string[] {
  const over: string[] = [];
  for (const step of run.steps) {
    for (const resource of RESOURCES) {
      const peak = peakOf(step, resource);
      if (peak > targetAmount(resource, creation)) over.push(`${step.id} ${resource} ${peak} > ${targetAmount(resource, creation)}`);
    }
  }
  return over;
}
