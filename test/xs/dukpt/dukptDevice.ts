/**
 * The DUKPT device entry (./dukptEntry) in xs-budget's ESP32 creation, loaded as the device loads
 * it: separate modules, the manifest's preload, the native crypto primitives (test/xs/budget).
 * Shared by test/xs/dukpt.budget.test.ts and bench/xs-dukpt.ts.
 */
import { fileURLToPath } from 'node:url';
import { budgetEngine, buildXsBudget } from '../budget/budgetEngine';
import { deviceModules, importScript } from '../budget/deviceModules';
import { type XsMemory, type XsMeter, XsWorker, XsWorkerError } from '../xsWorker';

export const DUKPT_DEVICE_ENTRY = fileURLToPath(new URL('./dukptEntry.ts', import.meta.url));

export interface DukptDeviceReply<T> {
  readonly ok?: T;
  readonly error?: string;
  readonly meter: XsMeter;
  readonly memory: XsMemory;
}

export class DukptDevice {
  private constructor(
    private readonly worker: XsWorker,
    /** What loading the modules left in RAM, before any command. */
    readonly loaded: XsMemory,
  ) {}

  static async start(): Promise<DukptDevice> {
    await buildXsBudget();
    const modules = await deviceModules(DUKPT_DEVICE_ENTRY);
    const worker = await XsWorker.start(importScript(modules.main), { name: 'xs-dukpt', engine: await budgetEngine({ modules }), timeoutMs: 120_000 });
    if (worker.startReply.bytes.length > 0) {
      await worker.close();
      throw new XsWorkerError(`xs-dukpt: loading failed: ${new TextDecoder().decode(worker.startReply.bytes)}`);
    }
    const loaded = worker.startReply.meter.memory;
    if (!loaded) throw new XsWorkerError('xs-dukpt: the engine reported no memory (not xs-budget?)');
    return new DukptDevice(worker, loaded);
  }

  async call<T>(command: Record<string, unknown>): Promise<DukptDeviceReply<T>> {
    const { bytes, meter } = await this.worker.command(new TextEncoder().encode(JSON.stringify(command)));
    const reply = JSON.parse(new TextDecoder().decode(bytes)) as { ok?: T; error?: string };
    return { ...reply, meter, memory: meter.memory! };
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
