/**
 * The operations table (test/support/ops) running inside XS: one worker with the bundled entry,
 * spoken to in OpsMessages. Node runs the same table directly with opsRunner, so a test or a
 * benchmark holds the two side by side.
 */
import type { Json, Measurement, OpsMessage, Outcome } from '../support/opsRunner';
import { bundleForXs } from './bundle';
import { type XsMeter, XsWorker, XsWorkerError, type XsWorkerOptions } from './xsWorker';

/** Inputs per worker command: a few hundred cheap ops or ~100 ECDH ops stay well within a second. */
const DEFAULT_CHUNK = 100;

export class XsOps {
  private constructor(readonly worker: XsWorker) {}

  static async start(options: XsWorkerOptions = {}): Promise<XsOps> {
    return new XsOps(await XsWorker.start(await bundleForXs(), { name: 'xs-ops', ...options }));
  }

  /** Runs `op` on every input, in order, in as few worker commands as `chunk` allows. */
  async batch(op: string, inputs: Json[], chunk = DEFAULT_CHUNK): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < inputs.length; i += chunk) {
      const { reply } = await this.send<Outcome[]>({ kind: 'batch', op, inputs: inputs.slice(i, i + chunk) });
      outcomes.push(...reply);
    }
    return outcomes;
  }

  /** One op, with the meter of the command that ran it. */
  async call(op: string, args: Json): Promise<{ outcome: Outcome; meter: XsMeter }> {
    const { reply, meter } = await this.send<Outcome[]>({ kind: 'batch', op, inputs: [args] });
    return { outcome: reply[0], meter };
  }

  /** See opsRunner.measureOp; `collectFirst` runs a GC before the first parse. */
  measure(op: string, args: Json, iterations: number, opts: { runs?: boolean; collectFirst?: boolean } = {}): Promise<{ reply: Measurement; meter: XsMeter }> {
    return this.send<Measurement>({ kind: 'measure', op, args, iterations, runs: opts.runs ?? true, collectFirst: opts.collectFirst ?? false });
  }

  close(): Promise<void> {
    return this.worker.close();
  }

  private async send<T>(message: OpsMessage): Promise<{ reply: T; meter: XsMeter }> {
    const { result, meter } = await this.worker.request<{ reply?: T; failure?: string }>(message);
    if (result.failure !== undefined || result.reply === undefined) {
      throw new XsWorkerError(`XS ops script failed: ${result.failure ?? 'no reply'}`);
    }
    return { reply: result.reply, meter };
  }
}
