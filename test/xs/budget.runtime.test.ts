/**
 * X3: xs-budget (test/xs/budget) runs the firmware's JavaScript as the Moddable runtime on an ESP32
 * does, not as xsnap: no TextEncoder/TextDecoder, no crypto, no timers or console, built-ins frozen
 * (Error.prototype among them), and the manifest's creation enforced resource by resource. Each
 * difference is shown against xsnap-worker running the same code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForXs } from './bundle';
import { budgetEngine } from './budget/budgetEngine';
import { ESP32_CREATION } from './budget/deviceBudget';
import type { RuntimeProbe } from './budget/runtimeProbeEntry';
import { type XsEngine, XsWorker, XsWorkerError } from './xsWorker';

const PROBE_ENTRY = new URL('./budget/runtimeProbeEntry.ts', import.meta.url).pathname;

let engine: XsEngine;
let device: XsWorker;
let xsnap: XsWorker;
const workers: XsWorker[] = [];

beforeAll(async () => {
  engine = await budgetEngine();
  device = await XsWorker.start(await bundleForXs(PROBE_ENTRY, 'device'), { name: 'xs-budget-runtime', engine });
  xsnap = await XsWorker.start(await bundleForXs(PROBE_ENTRY), { name: 'xsnap-runtime' });
  workers.push(device, xsnap);
}, 300_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
});

async function probe(worker: XsWorker, name: RuntimeProbe): Promise<unknown> {
  const { bytes } = await worker.command(new Uint8Array(Buffer.from(name)));
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}

/** What `code` evaluates to, as text, or the error it throws. */
async function evaluate(worker: XsWorker, code: string): Promise<string> {
  try {
    const { bytes } = await worker.evaluate(`(() => { const t = String(${code}); const b = new Uint8Array(t.length); for (let i = 0; i < t.length; i++) b[i] = t.charCodeAt(i); return b.buffer; })()`);
    return Buffer.from(bytes).toString('latin1');
  } catch (e) {
    if (e instanceof XsWorkerError && !e.abort) return e.message.replace(/^.*uncaught in XS: /s, 'threw ');
    throw e;
  }
}

describe('X3: the device runtime, not xsnap', () => {
  it('X3: no TextEncoder or TextDecoder: code that touches them throws ReferenceError (xsnap has both)', async () => {
    expect(await evaluate(device, 'new TextEncoder().encode("x").length')).toMatch(/^threw ReferenceError: .*TextEncoder/);
    expect(await evaluate(device, 'new TextDecoder().decode(new Uint8Array(1))')).toMatch(/^threw ReferenceError: .*TextDecoder/);
    expect(await evaluate(xsnap, 'new TextEncoder().encode("x").length')).toBe('1');
  });

  it('X3: no crypto.getRandomValues: noble\'s default RNG fails with its own message, so no key can come from it by accident', async () => {
    expect(await evaluate(device, 'typeof crypto')).toBe('undefined');
    expect(await probe(device, 'nobleRandom')).toEqual({ threw: 'Error: crypto.getRandomValues must be defined' });
  });

  it('X3: Error.prototype is frozen: an Error subclass that assigns `name` throws "not writable"; PaypadError (which defines it) constructs with its name and code', async () => {
    expect(await evaluate(device, 'Object.isFrozen(Error.prototype)')).toBe('true');
    expect(await probe(device, 'assignedName')).toEqual({ threw: 'TypeError: set name: not writable' });
    expect(await probe(xsnap, 'assignedName')).toEqual({ ok: 'AssigningError' });
    expect(await probe(device, 'paypadError')).toEqual({ ok: { name: 'PaypadError', code: 'BAD_ARGUMENT', message: 'probe', isPaypadError: true, isError: true } });
  });

  it('X3: no timers, console, print or harden; built-ins frozen, globalThis not', async () => {
    expect(await evaluate(device, '[typeof setTimeout, typeof setImmediate, typeof setInterval, typeof console, typeof print, typeof harden].join()')).toBe('undefined,undefined,undefined,undefined,undefined,undefined');
    expect(await evaluate(device, '[Object.isFrozen(Array.prototype), Object.isFrozen(Uint8Array), Object.isFrozen(JSON), Object.isFrozen(globalThis)].join()')).toBe('true,true,true,false');
    expect(await evaluate(xsnap, 'typeof setImmediate')).toBe('function');
  });
});

describe('X3: the manifest\'s creation is enforced, resource by resource', () => {
  async function fresh(): Promise<XsWorker> {
    const worker = await XsWorker.start('globalThis.kept = [];', { name: 'xs-budget-limits', engine });
    workers.push(worker);
    return worker;
  }

  it(`X3: chunks: half the ${ESP32_CREATION.chunk}-byte chunk heap can be held, one byte more than all of it aborts with "memory full (chunks)"`, async () => {
    const worker = await fresh();
    const { meter } = await worker.evaluate(`kept.push(new Uint8Array(${ESP32_CREATION.chunk / 2}));`);
    expect(meter.memory?.chunks).toBeGreaterThanOrEqual(ESP32_CREATION.chunk / 2);
    const failed = await worker.evaluate(`kept.push(new Uint8Array(${ESP32_CREATION.chunk + 1}));`).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(XsWorkerError);
    expect((failed as XsWorkerError).abort).toMatchObject({ reason: 'memory full', resource: 'chunks' });
  });

  it(`X3: slots: ${ESP32_CREATION.heap} slots, no more: holding that many objects aborts with "memory full (slots)"`, async () => {
    const worker = await fresh();
    await worker.evaluate(`let n = null; for (let i = 0; i < ${ESP32_CREATION.heap / 4}; i++) n = { n }; kept.push(n);`);
    const failed = await worker.evaluate(`let m = null; for (let i = 0; i < ${ESP32_CREATION.heap}; i++) m = { m }; kept.push(m);`).catch((e: unknown) => e);
    expect((failed as XsWorkerError).abort).toMatchObject({ reason: 'memory full', resource: 'slots' });
  });

  it('X3: memoryUsage() gives the script its chunk bytes, slots and stack now and at their peaks; memoryUsage(true) starts the peaks again', async () => {
    const worker = await fresh();
    const held = await evaluate(worker, '(() => { const before = memoryUsage(true); kept.push(new Uint8Array(20000)); const after = memoryUsage(); return [after.chunks - before.chunks >= 20000, after.chunksPeak >= after.chunks, after.slots >= before.slots, after.stack > 0, after.stackPeak >= after.stack].join(); })()');
    expect(held).toBe('true,true,true,true,true');
    const reset = await evaluate(worker, '(() => { kept.length = 0; gc(); const peaked = memoryUsage(true); const fresh = memoryUsage(); return [peaked.chunksPeak >= 20000, fresh.chunks < 20000, fresh.chunksPeak < 20000].join(); })()');
    expect(reset).toBe('true,true,true');
  });

  it(`X3: stack: ${ESP32_CREATION.stack} slots: deep recursion aborts with "stack overflow (stack)", naming the functions and the slots of their frames`, async () => {
    const worker = await fresh();
    expect(await evaluate(worker, '(function shallow(n) { return n === 0 ? 0 : 1 + shallow(n - 1); })(20)')).toBe('20');
    const failed = await worker.evaluate('(function recurse(n) { return n === 0 ? 0 : 1 + recurse(n - 1); })(1000);').catch((e: unknown) => e);
    expect((failed as XsWorkerError).abort).toMatchObject({ reason: 'stack overflow', resource: 'stack' });
    expect((failed as XsWorkerError).abort?.detail).toMatch(/in (recurse \d+ < )+recurse \d+/);
  });

  it(`X3: keys: the app may create ${ESP32_CREATION.keys} property names at run time; more abort with "not enough keys (keys)"`, async () => {
    const worker = await fresh();
    await worker.evaluate(`const o = {}; for (let i = 0; i < ${ESP32_CREATION.keys / 2}; i++) o['a' + i] = i; kept.push(o);`);
    const failed = await worker.evaluate(`const p = {}; for (let i = 0; i < ${ESP32_CREATION.keys}; i++) p['b' + i] = i; kept.push(p);`).catch((e: unknown) => e);
    expect((failed as XsWorkerError).abort).toMatchObject({ reason: 'not enough keys', resource: 'keys' });
  });
});
