/**
 * `npm run demo:mobile-payment`: System C unattended (mobilePaymentScenario.ts; CN101976403A's
 * scenario). Starts a host of its own (a temporary data directory, every listener on a free
 * loopback port, the demo customers with a KMS and POSP each, the simulated card network and SMS
 * provider), onboards two terminals, registers a payee, pays them by their number at a terminal,
 * reconciles and verifies the ledger, printing each step and the POS screens. Exit 0 when every
 * step did what it should, 1 otherwise.
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
import { type MobilePaymentScenarioResult, runMobilePaymentScenario } from './mobilePaymentScenario';

const USAGE = `Usage: npm run demo:mobile-payment

Starts a paypad host of its own, onboards two emulated terminals, registers a payee by SMS code,
pays them by their mobile number at a terminal (masked name confirmed, test card swiped, PIN),
reconciles the day and verifies the ledger, printing each step. Exit 0 when every step worked.
Environment: DATABASE_URL (PostgreSQL; the demo uses a schema of its own and drops it),
LOG_LEVEL (the host's log on stderr, default error).`;

function formatReport(result: MobilePaymentScenarioResult): string {
  const lines = [`paypad mobile-number payment demo: ${result.payee.name} (${result.payee.mobile}) paid ${result.amount} fen by ${result.payerMobile}`, ''];
  for (const s of result.steps) {
    lines.push(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name}`, `      ${s.detail}`);
    if (s.screens) lines.push(...s.screens.split('\n').map((l) => `      ${l}`));
  }
  lines.push('', result.ok ? 'The payee was paid by their mobile number; the books balance.' : 'Some step did not do what it should: see FAIL lines.');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`demo:mobile-payment: takes no arguments\n\n${USAGE}\n`);
    return 2;
  }
  const root = await mkdtemp(join(tmpdir(), 'paypad-demo-pay-'));
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
      const result = await runMobilePaymentScenario({ host, workDir: join(root, 'work'), progress: say });
      process.stdout.write(formatReport(result));
      return result.ok ? 0 : 1;
    } finally {
      await host.close({ graceMs: 1_000 });
    }
  } catch (e) {
    process.stderr.write(`demo:mobile-payment: ${isPaypadError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await rm(root, { recursive: true, force: true });
    await schema?.drop();
  }
}

process.exitCode = await main(process.argv.slice(2));
