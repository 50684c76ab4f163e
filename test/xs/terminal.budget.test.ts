/**
 * X3, device budget: the terminal firmware core onboards inside a plain ESP32's JavaScript memory
 * (manifest.json `creation`: 78,848 chunk bytes, 4,928 slots, 512 stack slots, no growth), run by
 * xs-budget (test/xs/budget) with its HAL bridged to the emulated terminal's, against the fake KMS
 * of test/xs/terminal. Targets: test/xs/budget/deviceBudget.ts. Numbers per step:
 * `npm run bench -- xs-device-budget` (bench/results/device-budget.md).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildXsBudget } from './budget/budgetEngine';
import { type BudgetRun, overTarget, peakOf, runBudgetFlow } from './budget/budgetFlow';
import { ESP32_CREATION, MANIFEST_PRELOAD, preloadedBy, targetAmount } from './budget/deviceBudget';

const TABLE_BYTES = 100 * 1024;

/** As the manifest builds the firmware, and with every module preloaded. */
let plain: BudgetRun;
let preloaded: BudgetRun;
beforeAll(async () => {
  await buildXsBudget();
  plain = await runBudgetFlow();
  preloaded = await runBudgetFlow({ preload: true });
}, 300_000);

/** What a run shows when it fails, for the assertion messages. */
const describeRun = (run: BudgetRun) =>
  `${run.steps.map((s) => `${s.id}: chunks ${s.memory.chunksPeak}, slots ${s.memory.slotsPeak}, stack ${s.memory.stackPeak}`).join('; ')}${run.failure ? `; stopped at ${run.failure.step}: ${run.failure.abort?.reason ?? ''} (${run.failure.abort?.resource ?? ''}) ${run.failure.abort?.detail ?? run.failure.message}` : ''}`;

describe('X3 device budget: onboarding in the ESP32 creation, fixed', () => {
  it(`X3, A1, A10, A11, A12: loading, boot, TK generation and export, TMK download, sign-on and idle each stay within 60% of the creation (preloaded as the manifest says: ${JSON.stringify(MANIFEST_PRELOAD)})`, () => {
    expect(plain.failure, describeRun(plain)).toBeUndefined();
    expect(plain.steps.map((s) => s.id)).toEqual(['load', 'boot', 'tk', 'tmk', 'signOn', 'idle']);
    expect(overTarget(plain), describeRun(plain)).toEqual([]);
  });

  it('X3: with every module preloaded the core boots, and boot reports its chunk bytes, slots and stack within the creation', () => {
    const boot = preloaded.steps.find((s) => s.id === 'boot');
    expect(boot, describeRun(preloaded)).toBeDefined();
    if (!boot) return;
    expect(peakOf(boot, 'chunks')).toBeGreaterThan(0);
    expect(peakOf(boot, 'chunks')).toBeLessThanOrEqual(ESP32_CREATION.chunk);
    expect(peakOf(boot, 'slots')).toBeGreaterThan(0);
    expect(peakOf(boot, 'slots')).toBeLessThanOrEqual(ESP32_CREATION.heap);
    expect(peakOf(boot, 'stack')).toBeGreaterThan(0);
    expect(peakOf(boot, 'stack')).toBeLessThanOrEqual(ESP32_CREATION.stack);
  });
});

// Planted in the preloaded firmware, which boots: the table is then what breaks the budget.
describe('X3 device budget: the harness fails a firmware that holds too much', () => {
  it(`X3: a ${TABLE_BYTES / 1024} KB byte table planted in the core at boot ends the run with "memory full" naming the chunk heap`, async () => {
    const run = await runBudgetFlow({ preload: true, plant: { kind: 'bytes', bytes: TABLE_BYTES } });
    expect(run.failure, describeRun(run)).toMatchObject({ step: 'boot', abort: { reason: 'memory full', resource: 'chunks' } });
    expect(run.failure?.abort?.detail).toContain(`${TABLE_BYTES + 16} bytes failed in fixed size heap`);
    // The same boot without the table ran: the table is what did not fit.
    expect(preloaded.steps.map((s) => s.id)).toContain('boot');
  });

  it(`X3: ${TABLE_BYTES / 1024} KB of objects (ESP32 slots) planted at boot ends the run with "memory full" naming the slots`, async () => {
    const run = await runBudgetFlow({ preload: true, plant: { kind: 'slots', bytes: TABLE_BYTES } });
    expect(run.failure, describeRun(run)).toMatchObject({ step: 'boot', abort: { reason: 'memory full', resource: 'slots' } });
  });

  it('X3: a 50 KB table fits the creation but puts boot over its chunk target, and the check says so', async () => {
    const run = await runBudgetFlow({ preload: true, plant: { kind: 'bytes', bytes: 50 * 1024 } });
    const boot = run.steps.find((s) => s.id === 'boot');
    expect(boot, describeRun(run)).toBeDefined();
    expect(peakOf(boot!, 'chunks')).toBeGreaterThan(targetAmount('chunks'));
    expect(overTarget(run)).toContain(`boot chunks ${peakOf(boot!, 'chunks')} > ${targetAmount('chunks')}`);
    expect(overTarget(preloaded).filter((o) => o.startsWith('boot chunks'))).toEqual([]);
  });
});

describe('X3 device budget: which modules count as preloaded', () => {
  it('X3: the manifest\'s `preload` names modules as mcconfig 8.2 does: exact names, or a prefix before `*` that matches JavaScript modules only', () => {
    const modules = [
      { name: 'shared/bytes', typescript: true },
      { name: 'shared/protocol/fields', typescript: true },
      { name: 'node_modules/lib/index', typescript: false },
      { name: 'firmware/core/terminal', typescript: true },
    ];
    expect(preloadedBy(['shared/bytes', 'firmware/core/terminal'], modules)).toEqual(['shared/bytes', 'firmware/core/terminal']);
    expect(preloadedBy(['shared/*'], modules)).toEqual([]);
    expect(preloadedBy(['node_modules/*'], modules)).toEqual(['node_modules/lib/index']);
    expect(preloadedBy(['shared/byte'], modules)).toEqual([]);
  });
});
