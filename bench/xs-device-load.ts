/**
 * What loading the firmware core costs the ESP32's RAM, module by module, when nothing is
 * preloaded: the modules the device-budget flow loads (test/xs/terminal/terminalEntry.ts as
 * separate modules, test/xs/budget/deviceModules.ts) imported one at a time in the order a loader
 * evaluates them (every module after its imports), in xs-budget with room to spare so every module
 * is measured even past the creation. Each import is one command that ends with a garbage
 * collection: the difference in live chunk bytes and slots is what that module leaves in RAM (its
 * functions, classes, tables and module record); the peak is the most it held while it ran.
 */
import { XS_TERMINAL_ENTRY } from '../test/xs/terminal/xsTerminal';
import { budgetEngine } from '../test/xs/budget/budgetEngine';
import { ESP32_CREATION } from '../test/xs/budget/deviceBudget';
import { deviceModules, evaluationOrder } from '../test/xs/budget/deviceModules';
import { XsWorker } from '../test/xs/xsWorker';
import type { BenchReport, Benchmark, Cell } from './report';

/** Room enough for every module; the stack and keys stay the creation's. */
const ROOMY = { ...ESP32_CREATION, chunk: 4 * 1024 * 1024, heap: 256 * 1024 };

interface ModuleCost {
  module: string;
  chunks: number;
  slots: number;
  stackPeak: number;
}

async function loadCosts(): Promise<{ modules: ModuleCost[]; total: { chunks: number; slots: number } }> {
  const modules = await deviceModules(XS_TERMINAL_ENTRY);
  const engine = await budgetEngine({ creation: ROOMY, modules, preload: false });
  const worker = await XsWorker.start('0', { name: 'xs-device-load', engine });
  try {
    const before = (await worker.evaluate('gc();')).meter.memory!;
    let previous = before;
    const costs: ModuleCost[] = [];
    for (const name of evaluationOrder(modules)) {
      const { memory } = (await worker.evaluate(`import(${JSON.stringify(name)}).then(() => gc(), (e) => trace(\`${name}: \${e}\\n\`));`)).meter;
      if (!memory) throw new Error('bench: xs-budget reported no memory');
      costs.push({ module: name, chunks: memory.chunks - previous.chunks, slots: memory.slots - previous.slots, stackPeak: memory.stackPeak });
      previous = memory;
    }
    return { modules: costs, total: { chunks: previous.chunks - before.chunks, slots: previous.slots - before.slots } };
  } finally {
    await worker.close();
  }
}

const percentOf = (amount: number, of: number) => (100 * amount) / of;

export const xsDeviceLoadBenchmark: Benchmark = {
  name: 'xs-device-load',
  async run(): Promise<BenchReport> {
    const { modules, total } = await loadCosts();
    const row = (module: string, chunks: number, slots: number, more: Record<string, Cell> = {}): Record<string, Cell> => ({
      module,
      chunks,
      chunksPercent: percentOf(chunks, ESP32_CREATION.chunk),
      slots,
      slotsPercent: percentOf(slots, ESP32_CREATION.heap),
      ...more,
    });
    const sorted = [...modules].sort((a, b) => b.slots - a.slots || b.chunks - a.chunks);
    return {
      name: 'device-load',
      title: 'Loading the firmware core without preloading: what each module leaves in the ESP32\'s RAM',
      columns: [
        { key: 'module', label: 'Module' },
        { key: 'chunks', label: 'chunk bytes kept' },
        { key: 'chunksPercent', label: '% of chunk heap', digits: 1 },
        { key: 'slots', label: 'slots kept' },
        { key: 'slotsPercent', label: '% of slots', digits: 1 },
        { key: 'stackPeak', label: 'stack at peak' },
      ],
      rows: [...sorted.map((m) => row(m.module, m.chunks, m.slots, { stackPeak: m.stackPeak })), row('total: kept after loading', total.chunks, total.slots)],
      notes: [
        `Against the ESP32 creation (${ESP32_CREATION.chunk.toLocaleString('en-US')} chunk bytes, ${ESP32_CREATION.heap.toLocaleString('en-US')} slots, ${ESP32_CREATION.stack} stack slots). Measured in xs-budget with room to spare; sorted by slots kept. "at peak" is the most the module's evaluation held above what was loaded before it, and the deepest stack (as the device counts it) while it ran.`,
        'Slots kept are the module\'s record and namespace, its functions (about 8 slots each: the function, its code and home, its prototype for a plain function), classes and their methods, and what its top-level statements build (validators, tables). Byte code, strings in the code and names are in flash and not counted.',
        'Preloading (Moddable `preload`) moves a module\'s share to flash: see bench/results/device-budget.md.',
        'test/xs/terminal/* are the harness\'s HAL bridge and command handler, in place of the device\'s HAL and firmware/main.',
      ],
      environment: { engine: 'xs-budget (XS 13.3 from @agoric/xsnap, 64-bit)', modules: 'test/xs/terminal/terminalEntry.ts and what it imports, ES2022, class static blocks lowered' },
    };
  },
};
