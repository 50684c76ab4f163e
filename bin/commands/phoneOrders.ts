/**
 * `paypad phone orders | order | pay-order`: the payment gateway's orders in the phone client (E3,
 * E6-E9; docs/online-payments.md "Paying from the phone client"). A shop gives the buyer a
 * transaction code (or names the buyer's paypad account, the phone's enrolled number, in the
 * order); the buyer looks the order up and pays it with a card bound to this phone and its PIN,
 * which leaves the phone only as a format 4 PIN block under K_pin.
 *
 * Exit codes as for the other `paypad phone` commands: 0 paid or shown, 1 refused (a mistyped or
 * expired code, insufficient funds, an order paid elsewhere ...), 2 a wrong command line.
 */
import { formatTransactionCode } from '../../host/gateway/transactionCode';
import { formatAmount } from '../../host/payments/mobile/notifications';
import { PaypadError } from '../../shared/errors';
import type { PhoneOrder } from '../../shared/protocol/phoneClient';
import { type Command, EXIT_OK, parseFlags, UsageError } from '../args';
import { ask, askCard, COMMON_FLAGS, COMMON_HELP, phone, pickCard, pinFromTty, print, stdinLine } from './phoneCli';

function describeOrder(o: PhoneOrder): string {
  const code = formatTransactionCode(o.transactionCode);
  const account = o.forThisAccount ? '\n  placed for your paypad account (this phone\'s number)' : '';
  return `order ${o.merchantOrderId} from ${o.merchantName}: ${o.description}\n  ${formatAmount(o.amountMinor, o.currency)}, code ${code}, ${o.state}, payable until ${o.expiresAt}${account}`;
}

const orders: Command = {
  summary: "E3: the gateway's orders open for this phone's paypad account (its number)",
  help: `Usage: paypad phone orders [--home DIR] [--url URL]

The orders shops created for your paypad account, which is this phone's enrolled number: one JSON
line each, newest first, a description of each on stderr. Pay one with
\`paypad phone pay-order --order ORDER_NUMBER\`.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, COMMON_FLAGS);
    for (const order of await (await phone(f)).client.accountOrders()) {
      process.stderr.write(`${describeOrder(order)}\n`);
      print(order);
    }
    return EXIT_OK;
  },
};

const order: Command = {
  summary: "E3: look a gateway order up by its transaction code",
  help: `Usage: paypad phone order --code CODE [--home DIR] [--url URL]

  --code CODE      the 12-digit transaction code the shop showed (spaces allowed: "4821 0937 5516")
A mistyped code is refused by its check digit (TRANSACTION_CODE_INVALID) before any order is looked up.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, code: { type: 'string' } });
    if (f.code === undefined) throw new UsageError('--code: the transaction code the shop showed');
    const found = await (await phone(f)).client.findOrder(f.code);
    process.stderr.write(`${describeOrder(found)}\n`);
    print(found);
    return EXIT_OK;
  },
};

const payOrder: Command = {
  summary: 'E3, E6-E9: pay a gateway order, by its code or (your account\'s) order number, with a bound card and its PIN',
  help: `Usage: paypad phone pay-order (--code CODE | --order NUMBER) [--card LAST4|REF] [--pin-stdin] [--yes] [--home DIR] [--url URL]

  --code CODE      the transaction code the shop showed
  --order NUMBER   an order listed by \`paypad phone orders\` (placed for this phone's account)
  --card C         the bound card: its last four digits, masked number or reference (asked when left out)
  --pin-stdin      read the PIN from the first line of standard input (never from a flag)
  --yes            the order was confirmed (on a terminal you are asked)
The shop is told, and a text goes to this phone's number. A refused payment (insufficient funds, a
declined card) ends the order: ask the shop for a new one to try another card.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, code: { type: 'string' }, order: { type: 'string' }, card: { type: 'string' }, 'pin-stdin': { type: 'boolean' }, yes: { type: 'boolean' } });
    if ((f.code === undefined) === (f.order === undefined)) throw new UsageError('give --code (the transaction code) or --order (an order of your account), one of them');
    const tty = process.stdin.isTTY === true;
    if (f['pin-stdin'] && tty) throw new UsageError('--pin-stdin reads the PIN from a pipe; on a terminal leave it out and key the PIN when asked');
    if (!tty && (!f['pin-stdin'] || !f.yes || f.card === undefined)) throw new UsageError('without a terminal, give --card, --pin-stdin and --yes');
    const { client } = await phone(f);
    const found = f.code !== undefined ? await client.findOrder(f.code) : (await client.accountOrders()).find((o) => o.orderNumber === f.order);
    if (!found) throw new PaypadError('GATEWAY_ORDER_NOT_FOUND', `no open order ${String(f.order).slice(0, 32)} for this phone's account (see paypad phone orders)`);
    process.stderr.write(`${describeOrder(found)}\n`);
    if (found.state !== 'created') throw new PaypadError('GATEWAY_ORDER_NOT_PAYABLE', found.state === 'paying' ? 'this order is being paid elsewhere' : `this order is ${found.state}, not open for payment`);
    if (!f.yes && !/^y(es)?$/i.test(await ask('pay it? [y/N]'))) throw new PaypadError('OPERATOR_CANCELLED', 'not confirmed; nothing was paid');
    const bound = await client.cards();
    const card = f.card === undefined ? await askCard(bound) : pickCard(bound, f.card);
    const pin = f['pin-stdin'] ? await stdinLine(16) : await pinFromTty();
    const paid = await client.payOrder(found, card.cardRef, pin, f.code);
    print(paid);
    process.stderr.write(`paid ${formatAmount(paid.order.amountMinor, paid.order.currency)} to ${paid.order.merchantName} with ${paid.maskedPan}, reference ${paid.reference}\n`);
    return EXIT_OK;
  },
};

export const orderCommands: Readonly<Record<string, Command>> = Object.freeze({ orders, order, 'pay-order': payOrder });
