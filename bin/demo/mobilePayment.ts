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
import { type MobilePaymentScenarioResult, runMobilePaymentScenario } from './mobilePaymentScenario';
import { runDemo } from './demoHost';

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

process.exitCode = await runDemo({ name: 'demo:mobile-payment', usage: USAGE, demoData: true, run: runMobilePaymentScenario, report: formatReport }, process.argv.slice(2));
