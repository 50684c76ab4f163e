/**
 * `npm run demo:online-payment`: System E unattended (onlinePaymentScenario.ts). Starts a host of
 * its own (a temporary data directory, every listener on a free loopback port), a merchant of the
 * gateway and an emulated PIN pad as the shop's card reader, then pays an order as the checkout
 * page does; then the buyer's phone (`paypad phone`) finds a second order by its transaction code
 * and pays it with a bound card. Prints each step. Exit 0 when every step did what it should, 1
 * otherwise.
 *
 * SQLite unless DATABASE_URL is set; then the demo works in a fresh schema of that database and
 * drops it at the end. Progress and the host's warnings go to stderr, the report to stdout.
 */
import { type OnlinePaymentScenarioResult, runOnlinePaymentScenario } from './onlinePaymentScenario';
import { runDemo } from './demoHost';

const USAGE = `Usage: npm run demo:online-payment

Starts a paypad host of its own, a merchant that creates a signed order at the payment gateway and
an emulated PIN pad as the shop's secure card reader; pays the order as the checkout page does
(card read under DUKPT, PIN keyed on the payer's phone during the gateway's call, debit over
ISO 8583), then a card with too little money. Then the buyer's phone client (paypad phone) enrols
by SMS code, binds a card, finds a second order by its transaction code and pays it with the card's
PIN. After each payment: the merchant's signed notification, the card data deleted, the buyer's
text, the ledger verified. Prints each step. Exit 0 when every step worked.
Environment: DATABASE_URL (PostgreSQL; the demo uses a schema of its own and drops it),
LOG_LEVEL (the host's log on stderr, default error).`;

function formatReport(result: OnlinePaymentScenarioResult): string {
  const lines = ['paypad online card payment demo (System E)', ''];
  for (const s of result.steps) lines.push(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name}`, `      ${s.detail}`);
  lines.push('', result.ok ? 'One order was paid at the checkout, the other from the phone; the merchant was told each time; the card data is gone; the books balance.' : 'Some step did not do what it should: see FAIL lines.');
  return lines.join('\n') + '\n';
}

process.exitCode = await runDemo({ name: 'demo:online-payment', usage: USAGE, demoData: false, run: runOnlinePaymentScenario, report: formatReport }, process.argv.slice(2));
