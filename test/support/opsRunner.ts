/**
 * Runs the operations table (./ops) the same way in Node (imported) and in XS (bundled into the
 * test script by test/xs/bundle.ts): JSON in, JSON out, errors as outcomes, so two engines can be
 * compared by deep equality. Runs in XS: no Node APIs.
 */
import { PaypadError, isPaypadError, type ErrorCode } from '../../shared/errors';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An operation in two steps: `parse` turns JSON arguments into bytes; `run` is the work itself. */
export interface Op {
  parse(args: Json): unknown;
  run(prepared: unknown): Json | Promise<Json>;
}

/** Keeps each table entry typed while the table itself holds plain `Op`s. */
export function defineOp<A, P>(parse: (args: A) => P, run: (prepared: P) => Json | Promise<Json>): Op {
  return { parse: parse as unknown as (args: Json) => unknown, run: run as (prepared: unknown) => Json | Promise<Json> };
}

/**
 * `error`: a PaypadError, recognised by isPaypadError AND instanceof (both must hold in XS too).
 * `unexpected`: anything else, always a bug; its text may differ between engines.
 */
export type Outcome = { ok: Json } | { error: ErrorCode; message: string } | { unexpected: string };

export function outcomeOfError(e: unknown): Outcome {
  if (isPaypadError(e) && e instanceof PaypadError && e instanceof Error) return { error: e.code, message: e.message };
  return { unexpected: e instanceof Error ? `${e.name}: ${e.message}` : `non-error thrown: ${String(e)}` };
}

export async function runOp(table: Record<string, Op>, name: string, args: Json): Promise<Outcome> {
  const op = lookUp(table, name);
  try {
    return { ok: await op.run(op.parse(args)) };
  } catch (e) {
    return outcomeOfError(e);
  }
}

/** Sequential on purpose: ops that share state (lazy tables) must see the same order in both engines. */
export async function runBatch(table: Record<string, Op>, name: string, inputs: Json[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const args of inputs) outcomes.push(await runOp(table, name, args));
  return outcomes;
}

export interface Measurement {
  /** Wall time spent in `run` alone, summed over the iterations (0 when `runs` is false). */
  elapsedMs: number;
  /** Outcome of the last iteration (a benchmark of an error path is a mistake worth seeing). */
  outcome: Outcome;
}

/**
 * Parses `args` afresh and runs the op, `iterations` times (a fresh parse gives each run a fresh
 * seeded Rng, so no run pays for expanding the seed). With `runs` false it only parses: the
 * baseline a metered engine subtracts to get the cost of `run` alone.
 */
export async function measureOp(table: Record<string, Op>, name: string, args: Json, iterations: number, runs = true): Promise<Measurement> {
  const op = lookUp(table, name);
  try {
    let elapsedMs = 0;
    let last: Json | Promise<Json> = null;
    for (let i = 0; i < iterations; i++) {
      const prepared = op.parse(args);
      if (!runs) continue;
      const start = performance.now();
      last = op.run(prepared);
      // Awaited only when the op is async: a microtask per run would weigh on microsecond ops.
      if (last instanceof Promise) last = await last;
      elapsedMs += performance.now() - start;
    }
    return { elapsedMs, outcome: { ok: await last } };
  } catch (e) {
    return { elapsedMs: 0, outcome: outcomeOfError(e) };
  }
}

/** The messages the XS script answers (test/xs/entry.ts); Node calls the same functions directly. */
export type OpsMessage =
  | { kind: 'batch'; op: string; inputs: Json[] }
  | { kind: 'measure'; op: string; args: Json; iterations: number; runs: boolean; collectFirst: boolean };

export async function handleOpsMessage(table: Record<string, Op>, message: OpsMessage, collect: () => void): Promise<Json> {
  switch (message.kind) {
    case 'batch':
      return (await runBatch(table, message.op, message.inputs)) as unknown as Json;
    case 'measure':
      // A GC first makes the reply's slot count (meter.currentHeapCount) start from live data only.
      if (message.collectFirst) collect();
      return (await measureOp(table, message.op, message.args, message.iterations, message.runs)) as unknown as Json;
    default:
      throw new Error(`unknown message kind ${(message as { kind: string }).kind}`);
  }
}

function lookUp(table: Record<string, Op>, name: string): Op {
  const op = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
  if (!op) throw new Error(`no op named ${name}`);
  return op;
}
