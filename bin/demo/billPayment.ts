/**
 * `npm run demo:bill-payment`: System D unattended (billPaymentScenario.ts; CN101853458A's
 * scenario). Starts a host of its own (a temporary data directory, every listener on a free
 * loopback port, the demo merchant Harbour Books Ltd, the simulated card network and SMS
 * provider), and has `paypad phone` enrol a number, bind two cards and pay the merchant's bills
 * pushed to it: too little money on the first card, then another; a refusal; and an order placed
 * by another number. Prints each step; exit 0 when every step did what it should, 1 otherwise.
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
import { type BillPaymentScenarioResult, runBillPaymentScenario } from './billPaymentScenario';
import { freshSchema } from './demoSchema';

const USAGE = `Usage: npm run demo:bill-payment

Starts a paypad host of its own with its demo merchant; a phone's payment client (paypad phone)
enrols by SMS code and binds two cards; the merchant's signed order is pushed to the phone; the
first card has too little money, the second pays with the PIN; the merchant gets the signed
result and texts the buyer; the ledger verifies. Then a bill refused from the phone, and a bill
ordered by another number paid from this phone. Exit 0 when every step worked.
Environment: DATABASE_URL (PostgreSQL; the demo uses a schema of its own and drops it),
LOG_LEVEL (the host's log on stderr, default error).`;

function formatReport(result: BillPaymentScenarioResult): string {
  const lines = [`paypad bill payment demo: bills from Harbour Books Ltd pushed to ${result.payerMobile}; one ordered by ${result.otherBuyerMobile}`, ''];
  for (const s of result.steps) lines.push(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name}`, `      ${s.detail}`);
  lines.push('', result.ok ? 'Every bill reached the phone, was paid or refused as the user chose, and the merchant and the buyer were told; the books balance.' : 'Some step did not do what it should: see FAIL lines.');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`demo:bill-payment: takes no arguments\n\n${USAGE}\n`);
    return 2;
  }
  const root = await mkdtemp(join(tmpdir(), 'paypad-demo-bill-'));
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
      const result = await runBillPaymentScenario({ host, workDir: join(root, 'work'), progress: say });
      process.stdout.write(formatReport(result));
      return result.ok ? 0 : 1;
    } finally {
      await host.close({ graceMs: 1_000 });
    }
  } catch (e) {
    process.stderr.write(`demo:bill-payment: ${isPaypadError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await rm(root, { recursive: true, force: true });
    await schema?.drop();
  }
}

process.exitCode = await main(process.argv.slice(2));
