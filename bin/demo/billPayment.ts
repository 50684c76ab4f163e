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
import { type BillPaymentScenarioResult, runBillPaymentScenario } from './billPaymentScenario';
import { runDemo } from './demoHost';

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

process.exitCode = await runDemo({ name: 'demo:bill-payment', usage: USAGE, demoData: true, run: runBillPaymentScenario, report: formatReport }, process.argv.slice(2));
