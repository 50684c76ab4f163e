/**
 * What every `npm run demo:*` does around its scenario: takes no arguments (prints its usage on
 * --help), starts a host of its own on loopback in a temporary directory (SQLite, or a fresh
 * PostgreSQL schema when DATABASE_URL is set, dropped afterwards), runs the scenario, prints its
 * report on stdout and progress on stderr, and removes everything. Exit 0 when every step held,
 * 1 when one did not or the demo failed, 2 for a wrong command line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { isPaypadError } from '../../shared/errors';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { type RunningHost, startHost } from '../../host/server';
import { freshSchema } from './demoSchema';

export interface DemoScenario<R extends { readonly ok: boolean }> {
  /** e.g. 'demo:bill-payment'. */
  readonly name: string;
  readonly usage: string;
  /** Whether the host seeds its demo data (PAYPAD_DEMO_DATA). */
  readonly demoData: boolean;
  run(options: { host: RunningHost; workDir: string; progress: (line: string) => void }): Promise<R>;
  report(result: R): string;
}

export async function runDemo<R extends { readonly ok: boolean }>(demo: DemoScenario<R>, argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${demo.usage}\n`);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`${demo.name}: takes no arguments\n\n${demo.usage}\n`);
    return 2;
  }
  const root = await mkdtemp(join(tmpdir(), `paypad-${demo.name.replace(':', '-')}-`));
  const schema = process.env.DATABASE_URL ? await freshSchema(process.env.DATABASE_URL) : undefined;
  const say = (line: string) => void process.stderr.write(`- ${line}\n`);
  try {
    const config = loadConfig({
      ...process.env,
      PAYPAD_HOST: '127.0.0.1',
      PAYPAD_PORT: '0',
      PAYPAD_MTMS_PORT: '0',
      PAYPAD_KMS_BASE_PORT: '0',
      PAYPAD_DATA_DIR: join(root, 'data'),
      PAYPAD_DEMO_DATA: demo.demoData ? '1' : '0',
      DATABASE_URL: schema?.url ?? '',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    });
    const logger = createLogger({ level: config.logLevel, destination: pino.destination({ dest: 2, sync: true }) });
    say(`starting a host in ${root} on ${config.database.dialect}${schema ? ` (schema ${schema.name})` : ''}`);
    const host = await startHost(config, { logger });
    try {
      const result = await demo.run({ host, workDir: join(root, 'work'), progress: say });
      process.stdout.write(demo.report(result));
      return result.ok ? 0 : 1;
    } finally {
      await host.close({ graceMs: 1_000 });
    }
  } catch (e) {
    process.stderr.write(`${demo.name}: ${isPaypadError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await rm(root, { recursive: true, force: true });
    await schema?.drop();
  }
}
