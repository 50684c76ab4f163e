/**
 * The shape every benchmark returns, and the one writer that turns it into
 * bench/results/<name>.md (for people) and bench/results/<name>.json (for tools and diffs).
 * Numbers are for comparing within one run (ratios), never for asserting in tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Cell = string | number | null;

export interface BenchColumn {
  key: string;
  label: string;
  /** Decimal places for numbers (default 0); numbers also get thousands separators. */
  digits?: number;
}

/** The columns every load benchmark reports: throughput, the latency percentiles, failures. */
export function throughputColumns(opsDigits: number): BenchColumn[] {
  return [
    { key: 'opsPerSecond', label: 'ops/s', digits: opsDigits },
    { key: 'p50Ms', label: 'p50 ms', digits: 1 },
    { key: 'p99Ms', label: 'p99 ms', digits: 1 },
    { key: 'errors', label: 'errors' },
  ];
}

/** The cells of throughputColumns, from a load run's result. */
export function throughputCells(result: { opsPerSecond: number; p50Ms: number; p99Ms: number; errors: number }): Record<'opsPerSecond' | 'p50Ms' | 'p99Ms' | 'errors', number> {
  return { opsPerSecond: result.opsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, errors: result.errors };
}

export interface BenchReport {
  /** File stem under bench/results/. */
  name: string;
  title: string;
  columns: BenchColumn[];
  /** Every row may carry more fields than `columns` shows; the JSON keeps them all. */
  rows: Record<string, Cell>[];
  /** Markdown lines printed under the table: what each number means and how it was taken. */
  notes: string[];
  /** Filled in by the writer with the host, Node version and time; a benchmark may add more. */
  environment: Record<string, string>;
  /**
   * Why the numbers do not stand (requests that failed, a final state that is wrong). The report
   * is still written, with these on top, and `npm run bench` exits non-zero.
   */
  failures?: string[];
}

export interface Benchmark {
  /** What `npm run bench -- <name>` selects. */
  name: string;
  run(): Promise<BenchReport>;
}

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export function hostEnvironment(): Record<string, string> {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}`,
    'load average (1 min)': loadavg()[0].toFixed(2),
  };
}

function formatCell(value: Cell, digits = 0): string {
  if (value === null) return 'n/a';
  if (typeof value === 'string') return value;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function renderMarkdown(report: BenchReport): string {
  const header = `| ${report.columns.map((c) => c.label).join(' | ')} |`;
  const rule = `|${report.columns.map((c, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`;
  const rows = report.rows.map((r) => `| ${report.columns.map((c) => formatCell(r[c.key] ?? null, c.digits)).join(' | ')} |`);
  const env = Object.entries(report.environment).map(([k, v]) => `${k}: ${v}`).join('; ');
  const failures = report.failures?.length ? ['**NOT VALID: the run had failures:**', '', ...report.failures.map((f) => `- ${f}`), ''] : [];
  return [`# ${report.title}`, '', ...failures, header, rule, ...rows, '', ...report.notes.map((n) => `- ${n}`), '', `_${env}_`, ''].join('\n');
}

/** Writes both files and returns the markdown. */
export function writeReport(report: BenchReport, dir = RESULTS_DIR): string {
  const full = { ...report, environment: { ...hostEnvironment(), ...report.environment } };
  const markdown = renderMarkdown(full);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${report.name}.md`), markdown);
  writeFileSync(join(dir, `${report.name}.json`), `${JSON.stringify(full, null, 2)}\n`);
  return markdown;
}

/**
 * A benchmark module run as a script (`npx tsx bench/<name>.ts [flags]`) rather than through
 * run.ts: its flags parsed (a wrong command line prints the usage and exits 2), the report written
 * and printed, exit 1 when the run had failures. Does nothing when the module was imported.
 */
export async function runAsScript<O>(moduleUrl: string, parse: (argv: readonly string[]) => O, run: (options: O) => Promise<BenchReport>): Promise<void> {
  if (process.argv[1] === undefined || moduleUrl !== new URL(`file://${process.argv[1]}`).href) return;
  let options: O;
  try {
    options = parse(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 2;
    return;
  }
  const report = await run(options);
  console.log(writeReport(report));
  if (report.failures?.length) process.exitCode = 1;
}
