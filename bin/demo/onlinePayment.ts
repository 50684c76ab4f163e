/**
 * `npm run demo:online-payment`: System E unattended (onlinePaymentScenario.ts). Starts a host of
 * its own (a temporary data directory, every listener on a free loopback port), a merchant of the
 * gateway and an emulated PIN pad as the shop's card reader, then pays an order as the checkout
 * page does, printing each step. Exit 0 when every step did what it should, 1 otherwise.
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
import { type OnlinePaymentScenarioResult, runOnlinePaymentScenario } from './onlinePaymentScenario';

const USAGE = `Usage: npm run demo:online-payment

Starts a paypad host of its own, a merchant that creates a signed order at the payment gateway and
an emulated PIN pad as the shop's secure card reader; pays the order as the checkout page does
(card read under DUKPT, PIN keyed on the payer's phone during the gateway's call, debit over
ISO 8583), then a card with too little money; printing each step. Exit 0 when every step worked.
Environment: DATABASE_URL (PostgreSQL; the demo uses a schema of its own and drops it),
LOG_LEVEL (the host's log on stderr, default error).`;

function formatReport(result: OnlinePaymentScenarioResult): string {
  const lines = ['paypad online card payment demo (System E)', ''];
  for (const s of result.steps) lines.push(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name}`, `      ${s.detail}`);
  lines.push('', result.ok ? 'The order was paid at the checkout; the merchant was told; the card data is gone.' : 'Some step did not do what it should: see FAIL lines.');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`demo:online-payment: takes no arguments\n\n${USAGE}\n`);
    return 2;
  }
  const root = await mkdtemp(join(tmpdir(), 'paypad-demo-online-'));
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
      PAYPAD_DEMO_DATA: '0',
      DATABASE_URL: schema?.url ?? '',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    });
    const logger = createLogger({ level: config.logLevel, destination: pino.destination({ dest: 2, sync: true }) });
    say(`starting a host in ${root} on ${config.database.dialect}${schema ? ` (schema ${schema.name})` : ''}`);
    const host = await startHost(config, { logger });
    try {
      const result = await runOnlinePaymentScenario({ host, workDir: join(root, 'work'), progress: say });
      process.stdout.write(formatReport(result));
      return result.ok ? 0 : 1;
    } finally {
      await host.close({ graceMs: 1_000 });
    }
  } catch (e) {
    process.stderr.write(`demo:online-payment: ${isPaypadError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await rm(root, { recursive: true, force: true });
    await schema?.drop();
  }
}

process.exitCode = await main(process.argv.slice(2));
