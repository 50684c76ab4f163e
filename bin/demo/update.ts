/**
 * `npm run demo:update`: System B unattended (updateScenario.ts; CN102707972A's scenario). Starts a
 * host of its own (a temporary data directory, every listener on a free loopback port, the demo
 * customers with a KMS, POSP and the TMS each), gives two emulated terminals their keys, signs and
 * deploys a new program with `paypad tms`, and updates one terminal by its schedule and the other
 * by the notice in its payment answer; both restart into the new program and report it. Exit 0
 * when every step did what it should, 1 otherwise.
 *
 * SQLite unless DATABASE_URL is set; then the demo works in a fresh schema of that database and
 * drops it at the end. Progress and the host's warnings go to stderr, the report to stdout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { isPaypadError } from '../../shared/errors';
import { loadConfig } from '../../host/config';
import { createLogger } from '../../host/log';
import { startHost } from '../../host/server';
import { freshSchema } from './demoSchema';
import { type UpdateScenarioResult, runUpdateScenario } from './updateScenario';

const USAGE = `Usage: npm run demo:update

Starts a paypad host of its own, gives two emulated terminals their keys, signs a new program with
a vendor key and deploys it with paypad tms, then updates terminal 1 on its schedule and terminal 2
on the notice in its payment answer; both restart into the new program and report its version.
Exit 0 when every step worked.
Environment: DATABASE_URL (PostgreSQL; the demo uses a schema of its own and drops it),
LOG_LEVEL (the host's log on stderr, default error).`;

function formatReport(result: UpdateScenarioResult): string {
  const lines = [`paypad program update demo: deployment ${result.deploymentId}`, ''];
  for (const s of result.steps) lines.push(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name}`, ...s.detail.split('\n').map((l) => `      ${l}`));
  lines.push('', result.ok ? 'Both terminals run the new program: one updated by its schedule, one by the notice.' : 'Some step did not do what it should: see FAIL lines.');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`demo:update: takes no arguments\n\n${USAGE}\n`);
    return 2;
  }
  const root = await mkdtemp(join(tmpdir(), 'paypad-demo-update-'));
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
      PAYPAD_DEMO_DATA: '1',
      DATABASE_URL: schema?.url ?? '',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    });
    const logger = createLogger({ level: config.logLevel, destination: pino.destination({ dest: 2, sync: true }) });
    say(`starting a host in ${root} on ${config.database.dialect}${schema ? ` (schema ${schema.name})` : ''}`);
    const host = await startHost(config, { logger });
    try {
      const result = await runUpdateScenario({ host, workDir: join(root, 'work'), progress: say });
      process.stdout.write(formatReport(result));
      return result.ok ? 0 : 1;
    } finally {
      await host.close({ graceMs: 1_000 });
    }
  } catch (e) {
    process.stderr.write(`demo:update: ${isPaypadError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await rm(root, { recursive: true, force: true });
    await schema?.drop();
  }
}

process.exitCode = await main(process.argv.slice(2));
