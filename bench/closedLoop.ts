/**
 * A closed-loop load generator: `workers` clients, each sending its next request as soon as the
 * last one answered. Closed loop is how terminals behave (one request in flight each), so ops/s
 * is what that many terminals get, and the latency is what each of them waits.
 *
 * Only the steady state is counted: requests that complete inside a window that opens after a
 * ramp and closes when requests stop starting. All clients start at once, so the first answers
 * come in a bunch about one latency later, and after the window requests drain at falling
 * concurrency; counting either would understate slow requests more than fast ones. Requests
 * outside the window are still checked (an error anywhere counts) and their CPU is still charged.
 *
 * Every failed request is counted by its error code (codes carry no key, PIN or PAN values) and
 * makes the measurement invalid: a fast error is not throughput.
 */
import { performance } from 'node:perf_hooks';
import { KmsRefusal } from '../firmware/core/kmsClient';
import { isPaypadError } from '../shared/errors';

export interface LoadOptions {
  /** Concurrent clients, each with one request in flight. */
  readonly workers: number;
  /** Load before the window opens: at least a typical latency, so every client is mid-stream. */
  readonly rampMs: number;
  /** The measuring window: no request starts after it. */
  readonly durationMs: number;
  /** No request starts after this many have started; the window then ends there. */
  readonly maxOps: number;
  /** One request of client `worker` (0 to workers - 1); throws on failure. */
  readonly op: (worker: number) => Promise<void>;
}

export interface LoadResult {
  /** Successful requests completed inside the window (ramp and drain excluded). */
  readonly ops: number;
  /** Failed requests, inside the window or draining after it. */
  readonly errors: number;
  readonly errorCodes: Readonly<Record<string, number>>;
  readonly windowMs: number;
  readonly opsPerSecond: number;
  /** Nearest-rank latency percentiles of the requests completed inside the window. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Ascending. */
  readonly latenciesMs: readonly number[];
  /** User + system CPU of this whole process, ramp, window and drain. */
  readonly cpuMs: number;
  /** Wall time of ramp, window and drain. */
  readonly wallMs: number;
  /** Successful requests, ramp, window and drain: what cpuMs paid for. */
  readonly completed: number;
}

/** CPU ms per successful request; NaN when none succeeded. */
export const cpuMsPerOp = (r: LoadResult): number => (r.completed === 0 ? Number.NaN : r.cpuMs / r.completed);

/** The code a failure is counted under; an authenticated KMS refusal shows the KMS's own code too. */
export function errorCodeOf(e: unknown): string {
  if (e instanceof KmsRefusal) return `${e.code}/${e.kmsCode}`;
  if (isPaypadError(e)) return e.code;
  return e instanceof Error ? e.name : 'thrown non-error';
}

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`; NaN for no samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

interface Tally {
  latenciesMs: number[];
  errors: number;
  errorCodes: Record<string, number>;
  windowMs: number;
  cpuMs: number;
  wallMs: number;
  completed: number;
}

function summarize(t: Tally): LoadResult {
  const latenciesMs = [...t.latenciesMs].sort((a, b) => a - b);
  return {
    ...t,
    latenciesMs,
    ops: latenciesMs.length,
    opsPerSecond: t.windowMs > 0 ? (latenciesMs.length * 1000) / t.windowMs : Number.NaN,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
  };
}

/** Several windows of the same load as one: requests, windows and CPU added, latencies merged. */
export function pooled(results: readonly LoadResult[]): LoadResult {
  const errorCodes: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errorCodes)) errorCodes[code] = (errorCodes[code] ?? 0) + n;
  const sum = (f: (r: LoadResult) => number) => results.reduce((total, r) => total + f(r), 0);
  return summarize({
    latenciesMs: results.flatMap((r) => r.latenciesMs),
    errors: sum((r) => r.errors),
    errorCodes,
    windowMs: sum((r) => r.windowMs),
    cpuMs: sum((r) => r.cpuMs),
    wallMs: sum((r) => r.wallMs),
    completed: sum((r) => r.completed),
  });
}

export async function runClosedLoop(options: LoadOptions): Promise<LoadResult> {
  const done: { end: number; latency: number }[] = [];
  const errorCodes: Record<string, number> = {};
  let errors = 0;
  let started = 0;
  let budgetSpentAt = Number.POSITIVE_INFINITY;
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  const windowStart = t0 + options.rampMs;
  const deadline = windowStart + options.durationMs;

  const worker = async (index: number): Promise<void> => {
    while (started < options.maxOps && performance.now() < deadline) {
      if (++started === options.maxOps) budgetSpentAt = performance.now();
      const begin = performance.now();
      try {
        await options.op(index);
        const end = performance.now();
        done.push({ end, latency: end - begin });
      } catch (e) {
        errors++;
        const code = errorCodeOf(e);
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers }, (_, i) => worker(i)));

  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpuBefore);
  const windowEnd = Math.min(deadline, budgetSpentAt);
  return summarize({
    latenciesMs: done.filter((d) => d.end > windowStart && d.end <= windowEnd).map((d) => d.latency),
    errors,
    errorCodes,
    windowMs: Math.max(0, windowEnd - windowStart),
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
    completed: done.length,
  });
}
