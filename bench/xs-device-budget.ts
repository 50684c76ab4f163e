/**
 * The firmware core's onboarding against a plain ESP32's JavaScript memory: the flow of
 * test/xs/budget/budgetFlow.ts in xs-budget (the manifest's creation, fixed), each step's peak of
 * chunk bytes, slots and stack against the creation and the target (test/xs/budget/deviceBudget.ts).
 *
 * Run twice: as the manifest builds the firmware (modules loaded into RAM at power-on unless the
 * manifest preloads them) and with every module preloaded (their objects in flash), so the report
 * shows what preloading would buy. A run that aborts stops at that step; the table says where and why.
 */
import { type BudgetRun, STEPS, type StepMemory, overTarget, peakOf, runBudgetFlow } from '../test/xs/budget/budgetFlow';
import { ESP32_CREATION, ESP32_SLOT_BYTES, HOST_SLOT_BYTES, MANIFEST_PRELOAD, ONBOARDING_TARGET, RESOURCES, TARGET_REASON, type Resource, capacity, targetAmount } from '../test/xs/budget/deviceBudget';
import type { BenchReport, Benchmark, Cell } from './report';

const percent = (amount: number, resource: Resource) => (100 * amount) / capacity(resource);

/** A stack deep enough for every step, to measure what the flow needs where the creation's overflows. */
const ROOMY_STACK = 2048;

function stepRow(mode: string, step: StepMemory): Record<string, Cell> {
  const row: Record<string, Cell> = { mode, step: STEPS.find((s) => s.id === step.id)?.label ?? step.id };
  for (const resource of RESOURCES) {
    const peak = peakOf(step, resource);
    row[resource] = peak;
    row[`${resource}Percent`] = percent(peak, resource);
  }
  row.deepest = step.memory.deepest;
  row.compute = step.compute;
  row.status = RESOURCES.filter((r) => peakOf(step, r) > targetAmount(r)).map((r) => `${r} over target`).join(', ') || 'within target';
  return row;
}

function runRows(mode: string, run: BudgetRun): Record<string, Cell>[] {
  const rows = run.steps.map((s) => stepRow(mode, s));
  if (run.failure) {
    const label = STEPS.find((s) => s.id === run.failure?.step)?.label ?? run.failure.step;
    const abort = run.failure.abort;
    rows.push({ mode, step: label, chunks: null, chunksPercent: null, slots: null, slotsPercent: null, stack: null, stackPercent: null, status: abort ? `ABORTED: ${abort.reason} (${abort.resource}): ${abort.detail}` : `FAILED: ${run.failure.message}` });
  }
  return rows;
}

export const xsDeviceBudgetBenchmark: Benchmark = {
  name: 'xs-device-budget',
  async run(): Promise<BenchReport> {
    const asBuilt = await runBudgetFlow();
    const noPreload = await runBudgetFlow({ preload: false });
    const preloaded = await runBudgetFlow({ preload: true });
    // The stack the flow needs, where the creation's is not enough: the same run with room.
    const roomyStack = await runBudgetFlow({ preload: true, creation: { ...ESP32_CREATION, stack: ROOMY_STACK } });
    const asBuiltMode = `as the manifest builds it (${MANIFEST_PRELOAD.length > 0 ? `${asBuilt.preloaded.length} of ${asBuilt.modules} modules preloaded` : 'nothing preloaded'})`;
    const modes: [string, BudgetRun][] = [
      [asBuiltMode, asBuilt],
      ...(MANIFEST_PRELOAD.length > 0 ? ([['no module preloaded', noPreload]] as [string, BudgetRun][]) : []),
      ['all modules preloaded', preloaded],
      [`all modules preloaded, stack of ${ROOMY_STACK} (what each step needs)`, roomyStack],
    ];
    const problems = modes.slice(0, -1).flatMap(([mode, run]) => [
      ...(run.failure ? [`${mode}: stopped at ${run.failure.step}: ${run.failure.abort ? `${run.failure.abort.reason} (${run.failure.abort.resource})` : run.failure.message}`] : []),
      ...overTarget(run).map((o) => `${mode}: ${o}`),
    ]);
    const c = ESP32_CREATION;
    return {
      name: 'device-budget',
      title: 'The firmware core\'s onboarding against a plain ESP32\'s JavaScript memory: peak per step',
      columns: [
        { key: 'mode', label: 'Modules' },
        { key: 'step', label: 'Step' },
        { key: 'chunks', label: 'chunk bytes' },
        { key: 'chunksPercent', label: '% of chunk heap', digits: 1 },
        { key: 'slots', label: 'slots' },
        { key: 'slotsPercent', label: '% of slots', digits: 1 },
        { key: 'stack', label: 'stack slots' },
        { key: 'stackPercent', label: '% of stack', digits: 1 },
        { key: 'status', label: 'against the target' },
      ],
      rows: modes.flatMap(([mode, run]) => runRows(mode, run)),
      notes: [
        problems.length > 0 ? `**Does not fit yet:** ${problems.join('; ')}.` : '**Fits:** every step of both runs is within its target.',
        `Creation (manifest.json): ${c.chunk.toLocaleString('en-US')} chunk bytes, ${c.heap.toLocaleString('en-US')} slots, ${c.stack} stack slots, ${c.keys} runtime keys, no growth. Target: at most ${RESOURCES.map((r) => `${Math.round(100 * ONBOARDING_TARGET[r])}%`).join(' / ')} of chunks / slots / stack at any step's peak (${RESOURCES.map((r) => targetAmount(r).toLocaleString('en-US')).join(' / ')}): ${TARGET_REASON}.`,
        'Each step is one command of xs-budget (test/xs/budget/xsBudget.c), an XS 13.3 host built from @agoric/xsnap\'s sources that gives the app exactly the creation: built-ins, byte code, string literals and the code\'s names are outside it, as in the device\'s flash. A peak is the live high-water mark during the step (the host collects garbage whenever use passes the peak so far by 1/200 of the creation, and records what survives); "idle" is what stays after a collection. The firmware runs as separate modules (test/xs/budget/deviceModules.ts), loaded one at a time as the device\'s loader does.',
        `Slots are counted as on the ESP32 (the same count, ${HOST_SLOT_BYTES} bytes each on this 64-bit host against ${ESP32_SLOT_BYTES} there). What XS keeps in chunks as slots or pointers (array items, arguments, key tables) takes twice the bytes here, so chunk numbers overstate the ESP32's: the 64-bit harness is the stricter one, like Moddable's Linux simulator.`,
        `The third run gives the stack ${ROOMY_STACK} slots so that every step runs and shows the depth it needs (% of the creation's ${c.stack}); its heaps are the creation's.`,
        'Stack: measured as the device would see it, the host\'s own roots (XS 13.3 keeps every built-in prototype on the stack) replaced by the ~32 a device machine keeps; the deepest call chain of each step is in the JSON (`deepest`, innermost first).',
        'The HAL is bridged to Node (test/xs/terminal): each storage, RNG or HTTPS call is a JSON message through issueCommand, which the device\'s native HAL does not pay; the device\'s TLS handshake and HTTP client, which this does not run, are what the target leaves room for.',
        'The crypto primitives are the device\'s: `shared/crypto/primitives` is firmware/hal/moddable/nativePrimitives.ts over Moddable\'s `crypt` and `curve` modules, which xs-budget provides as host constructors and functions in C over libcrypto (test/xs/budget/xsBudgetCrypt.c), as the ESP32\'s are C: the heap pays for their results, the stack for one host frame.',
        'Without preloading, every module\'s functions, classes and tables are made in RAM at power-on (the load step; bench/results/device-load.md splits it by module). A preloaded module was run at build time and its objects are in flash (Moddable `preload`), as the manifest\'s `preload` names them.',
      ],
      environment: { engine: 'xs-budget (XS 13.3 from @agoric/xsnap, 64-bit)', scenario: 'serial PP-BUDGET-0001, fake KMS over HTTPS on 127.0.0.1 (test/support/fakeKms.ts), seeded RNG' },
    };
  },
};
