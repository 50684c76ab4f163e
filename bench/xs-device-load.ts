/**
 * What loading the firmware core costs the ESP32's RAM, module by module, when nothing is
 * preloaded: the bundle the device-budget flow loads (test/xs/terminal/terminalEntry.ts, 'device'
 * flavour) with a mark at each of esbuild's module boundaries, run in xs-budget with room to spare
 * (so every module is measured, even past the creation). Each mark collects garbage and records
 * the app's chunk bytes and slots: the difference between two marks is what that module's
 * top-level statements leave alive (tables, schemas, classes, closures).
 *
 * Function declarations are hoisted: XS makes every one of them, for all modules, when the
 * bundle's scope is entered, before the first module's statements. That row is on its own, and
 * each module's row counts its top-level function declarations.
 */
import { XS_TERMINAL_ENTRY } from '../test/xs/terminal/xsTerminal';
import { bundleForXs } from '../test/xs/bundle';
import { budgetEngine } from '../test/xs/budget/budgetEngine';
import { ESP32_CREATION } from '../test/xs/budget/deviceBudget';
import { XsWorker } from '../test/xs/xsWorker';
import type { BenchReport, Benchmark, Cell } from './report';

const MODULE_COMMENT = /^ {2}\/\/ (\S+\.[jt]s)$/gm;
const FUNCTION_DECLARATION = /^ {2}(?:async )?function\*? /gm;

/** Room enough for any module; the stack and keys stay the creation's. */
const ROOMY = { ...ESP32_CREATION, chunk: 4 * 1024 * 1024, heap: 256 * 1024 };

interface ModuleCost {
  module: string;
  functions: number;
  chunks: number;
  slots: number;
}

interface Held {
  chunks: number;
  slots: number;
}

async function loadCosts(): Promise<{ entry: Held & { functions: number }; modules: ModuleCost[]; returned: Held; total: Held }> {
  const source = await bundleForXs(XS_TERMINAL_ENTRY, 'device');
  const modules: { module: string; functions: number }[] = [];
  let previous: { module: string; start: number } | undefined;
  const close = (end: number) => {
    if (previous) modules.push({ module: previous.module, functions: (source.slice(previous.start, end).match(FUNCTION_DECLARATION) ?? []).length });
  };
  for (const match of source.matchAll(MODULE_COMMENT)) {
    close(match.index);
    previous = { module: match[1], start: match.index };
  }
  close(source.length);
  const marks = modules.length + 3;
  const body = source.trimEnd();
  if (!body.endsWith('})();')) throw new Error('bench: the bundle is not an iife');
  const marked = [
    `const __marks = new Float64Array(${2 * marks}); let __markIndex = 0;`,
    'function __mark() { gc(); const m = memoryUsage(); __marks[__markIndex++] = m.chunks; __marks[__markIndex++] = m.slots; }',
    '__mark();',
    // A mark at each module, one at the end of the bundle's scope, one after it has returned.
    `${body.slice(0, -'})();'.length).replace(MODULE_COMMENT, (line) => `${line}\n  __mark();`)}  __mark();\n})();`,
    '__mark();',
  ].join('\n');
  const worker = await XsWorker.start(marked, { name: 'xs-device-load', engine: await budgetEngine({ creation: ROOMY, preload: false }) });
  try {
    const { bytes } = await worker.evaluate('__marks.buffer.slice(0)');
    const values = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const at = (i: number) => ({ chunks: values[2 * i], slots: values[2 * i + 1] });
    const functions = modules.reduce((n, m) => n + m.functions, 0);
    const last = marks - 1;
    return {
      entry: { functions, chunks: at(1).chunks - at(0).chunks, slots: at(1).slots - at(0).slots },
      modules: modules.map((m, i) => ({ ...m, chunks: at(i + 2).chunks - at(i + 1).chunks, slots: at(i + 2).slots - at(i + 1).slots })),
      returned: { chunks: at(last).chunks - at(last - 1).chunks, slots: at(last).slots - at(last - 1).slots },
      total: { chunks: at(last).chunks - at(0).chunks, slots: at(last).slots - at(0).slots },
    };
  } finally {
    await worker.close();
  }
}

const percentOf = (amount: number, of: number) => (100 * amount) / of;

export const xsDeviceLoadBenchmark: Benchmark = {
  name: 'xs-device-load',
  async run(): Promise<BenchReport> {
    const { entry, modules, returned, total } = await loadCosts();
    const row = (module: string, functions: number | null, chunks: number, slots: number): Record<string, Cell> => ({
      module,
      functions,
      chunks,
      chunksPercent: percentOf(chunks, ESP32_CREATION.chunk),
      slots,
      slotsPercent: percentOf(slots, ESP32_CREATION.heap),
    });
    const sorted = [...modules].sort((a, b) => b.slots - a.slots || b.chunks - a.chunks);
    return {
      name: 'device-load',
      title: 'Loading the firmware core without preloading: what each module leaves in the ESP32\'s RAM',
      columns: [
        { key: 'module', label: 'Module' },
        { key: 'functions', label: 'top-level functions' },
        { key: 'chunks', label: 'chunk bytes' },
        { key: 'chunksPercent', label: '% of chunk heap', digits: 1 },
        { key: 'slots', label: 'slots' },
        { key: 'slotsPercent', label: '% of slots', digits: 1 },
      ],
      rows: [
        row('all function declarations and top-level bindings (made on entering the bundle)', entry.functions, entry.chunks, entry.slots),
        ...sorted.map((m) => row(m.module, m.functions, m.chunks, m.slots)),
        row('the bundle\'s scope returned (what only its temporaries held is freed)', null, returned.chunks, returned.slots),
        row('total: held after loading', null, total.chunks, total.slots),
      ],
      notes: [
        `Against the ESP32 creation (${ESP32_CREATION.chunk.toLocaleString('en-US')} chunk bytes, ${ESP32_CREATION.heap.toLocaleString('en-US')} slots). Measured in xs-budget with room to spare, each module's row being the live chunk bytes and slots (after a collection) its top-level statements add; sorted by slots.`,
        'The first row is every top-level function declaration of every module, and the bundle scope\'s bindings, which XS makes on entering the bundle before any module runs (hoisting); a module\'s own functions are counted in its row but their slots are in the first row. On the device each module is loaded separately, with the same objects per module.',
        'Preloading (Moddable `preload`) moves all of this to flash: see bench/results/device-budget.md, "all modules preloaded".',
        'The last modules (test/xs/terminal) are the harness\'s HAL bridge, in place of the device\'s HAL.',
      ],
      environment: { engine: 'xs-budget (XS 13.3 from @agoric/xsnap, 64-bit)', bundle: 'test/xs/terminal/terminalEntry.ts, ES2022 with class static blocks lowered' },
    };
  },
};
