/**
 * `paypad phone`: the payment client of a phone, in a shell (SPEC D1, D3, D4, D6, D7;
 * docs/bill-payments.md "The phone client"; the gateway's orders, E3, in phoneOrders.ts). It runs the same client core as the browser app
 * (shared/client) with the CLI's secure element: a key file of mode 0600 in the client's directory
 * (--home), beside its state (bin/commands/phoneElement.ts). Card numbers are read from standard
 * input and PINs with echo off (or --pin-stdin), never from a flag: a flag shows in `ps` and in
 * the shell's history. stdout carries the results as JSON; questions and notes go to stderr.
 *
 * Exit codes: 0 done, 1 refused or failed (insufficient funds included: try another card), 2 a
 * wrong command line.
 */
import { PaypadError } from '../../shared/errors';
import type { PhoneBill } from '../../shared/protocol/phoneClient';
import { formatAmount } from '../../host/payments/mobile/notifications';
import { type Command, commandGroup, EXIT_FAILED, EXIT_OK, parseFlags, required, UsageError } from '../args';
import { ask, askCard, COMMON_FLAGS, COMMON_HELP, phone, pickCard, pinFromTty, print, stdinLine } from './phoneCli';
import { orderCommands } from './phoneOrders';
import { openPushSocket } from './phoneTransport';

function describeBill(b: PhoneBill): string {
  const who = b.forAnotherPerson ? `\n  ordered by ${b.buyerMobile}: you are paying for another person` : '';
  return `bill ${b.id} from ${b.merchantName} (certificate ${b.merchantCertificateSubject})\n  ${formatAmount(b.amountMinor, b.currency)} for ${b.goods}, order ${b.orderId}\n  to account ${b.receivingAccount}, until ${b.expiresAt}${who}`;
}

const enrol: Command = {
  summary: 'D1: enrol this phone for a mobile number: keys made and sent, a code texted to the number',
  help: `Usage: paypad phone enrol --mobile MOBILE [--home DIR] [--url URL]

Makes the element key (element.key, mode 0600) if there is none, agrees the session keys with the
platform, and has a six-digit code texted to MOBILE; finish with \`paypad phone confirm\`.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, mobile: { type: 'string' } });
    const mobile = required(f.mobile, '--mobile');
    if (!/^\d{11}$/.test(mobile)) throw new UsageError('--mobile: an 11-digit mainland-China mobile number');
    const { client } = await phone(f, true);
    print(await client.startEnrolment(mobile));
    process.stderr.write(`a code was texted to ${mobile}: paypad phone confirm --code CODE\n`);
    return EXIT_OK;
  },
};

const confirm: Command = {
  summary: 'D1: finish enrolment with the code texted to the number',
  help: `Usage: paypad phone confirm --code CODE [--home DIR] [--url URL]
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, code: { type: 'string' } });
    const code = required(f.code, '--code');
    if (!/^\d{6}$/.test(code)) throw new UsageError('--code: the six digits texted to the number');
    print(await (await phone(f)).client.finishEnrolment(code));
    return EXIT_OK;
  },
};

const bindCard: Command = {
  summary: 'D1: bind a bank card (its number on standard input), verified with its bank',
  help: `Usage: echo CARD | paypad phone bind-card --expiry YYMM --holder NAME [--home DIR] [--url URL]

The card's bank checks the number and the holder's name; the number and expiry are then kept on
this phone sealed by its element, and the platform keeps only a reference and the masked number.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, expiry: { type: 'string' }, holder: { type: 'string' } });
    const expiry = required(f.expiry, '--expiry');
    if (!/^\d{2}(0[1-9]|1[0-2])$/.test(expiry)) throw new UsageError('--expiry: YYMM, e.g. 3012');
    const holder = required(f.holder, '--holder');
    const { client } = await phone(f);
    if (process.stdin.isTTY) process.stderr.write('card number: ');
    print(await client.bindCard({ pan: await stdinLine(32), expiry, holder }));
    return EXIT_OK;
  },
};

const cards: Command = {
  summary: 'the cards bound to this phone (masked)',
  help: `Usage: paypad phone cards [--home DIR]
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, COMMON_FLAGS);
    for (const card of await (await phone(f)).client.cards()) print(card);
    return EXIT_OK;
  },
};

const bills: Command = {
  summary: 'D3: the open bills for this phone\'s number',
  help: `Usage: paypad phone bills [--home DIR] [--url URL]

One JSON line per bill; a description of each on stderr.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, COMMON_FLAGS);
    for (const bill of await (await phone(f)).client.bills()) {
      process.stderr.write(`${describeBill(bill)}\n`);
      print(bill);
    }
    return EXIT_OK;
  },
};

const pay: Command = {
  summary: 'D4, D6: pay a bill with a bound card and its PIN; after insufficient funds, another card',
  help: `Usage: paypad phone pay --bill ID [--card LAST4|REF] [--pin-stdin] [--yes] [--home DIR] [--url URL]

  --card C         the bound card: its last four digits, masked number or reference (asked when left out)
  --pin-stdin      read the PIN from the first line of standard input (never from a flag)
  --yes            the bill was confirmed (on a terminal you are asked)
On insufficient funds you are asked for another card on a terminal; otherwise run pay again with
another --card: the bill keeps its idempotency key, so it is paid at most once.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, bill: { type: 'string' }, card: { type: 'string' }, 'pin-stdin': { type: 'boolean' }, yes: { type: 'boolean' } });
    const billId = required(f.bill, '--bill');
    const tty = process.stdin.isTTY === true;
    if (f['pin-stdin'] && tty) throw new UsageError('--pin-stdin reads the PIN from a pipe; on a terminal leave it out and key the PIN when asked');
    if (!tty && (!f['pin-stdin'] || !f.yes || f.card === undefined)) throw new UsageError('without a terminal, give --card, --pin-stdin and --yes');
    const { client } = await phone(f);
    const bill = (await client.bills()).find((b) => b.id === billId);
    if (!bill) throw new PaypadError('BILL_NOT_FOUND', `no open bill ${billId.slice(0, 32)} for this phone (see paypad phone bills)`);
    process.stderr.write(`${describeBill(bill)}\n`);
    if (!f.yes && !/^y(es)?$/i.test(await ask('pay it? [y/N]'))) throw new PaypadError('OPERATOR_CANCELLED', 'not confirmed; nothing was paid');
    const bound = await client.cards();
    let card = f.card === undefined ? undefined : pickCard(bound, f.card);
    for (;;) {
      card ??= await askCard(bound);
      const pin = f['pin-stdin'] ? await stdinLine(16) : await pinFromTty();
      const answer = await client.pay(bill, card.cardRef, pin);
      print({ ...answer, card: card.maskedPan });
      if (answer.outcome === 'paid') {
        process.stderr.write(`paid with ${card.maskedPan}, reference ${answer.reference}\n`);
        return EXIT_OK;
      }
      if (answer.outcome === 'declined') {
        process.stderr.write(`declined by the bank (${answer.responseCode}); the bill is still open\n`);
        return EXIT_FAILED;
      }
      process.stderr.write(`insufficient funds on ${card.maskedPan}: the bill is still open, pick another card\n`);
      if (!tty) return EXIT_FAILED;
      card = undefined;
    }
  },
};

const refuse: Command = {
  summary: 'D7: refuse a bill (the merchant and the buyer are told)',
  help: `Usage: paypad phone refuse --bill ID [--home DIR] [--url URL]
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, bill: { type: 'string' } });
    print(await (await phone(f)).client.refuse(required(f.bill, '--bill')));
    return EXIT_OK;
  },
};

const watch: Command = {
  summary: 'D3: wait for bills pushed to this phone and print each (the open ones first)',
  help: `Usage: paypad phone watch [--count N] [--home DIR] [--url URL]

Connects to the platform's push channel and prints one JSON line per bill pushed, until Ctrl-C
or, with --count, after N bills.
${COMMON_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { ...COMMON_FLAGS, count: { type: 'string' } });
    const count = f.count === undefined ? Infinity : Number(f.count);
    if (!(count >= 1 && Number.isInteger(count) || count === Infinity)) throw new UsageError('--count: a whole number of bills, 1 or more');
    const { client, url } = await phone(f);
    const socket = openPushSocket(url);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', () => reject(new PaypadError('LINK_UNAVAILABLE', `no push channel answers at ${url}`))));
    const hello = await client.pushHello();
    socket.send(hello.frame);
    process.stderr.write('waiting for bills (Ctrl-C to stop)\n');
    let lastN = 0;
    let printed = 0;
    return new Promise<number>((resolve, reject) => {
      let reading = Promise.resolve();
      socket.on('message', (data) => {
        reading = reading.then(async () => {
          const message = await client.readPush(String(data), hello.hello, lastN);
          lastN = message.n;
          process.stderr.write(`${message.kind === 'waiting' ? 'waiting' : 'new'}: ${describeBill(message.bill)}\n`);
          print(message.bill);
          if (++printed >= count) socket.close();
        }).catch((e: unknown) => {
          socket.terminate();
          reject(e);
        });
      });
      socket.on('close', (code, reason) => {
        void reading.then(() => {
          if (printed >= count) resolve(EXIT_OK);
          else reject(new PaypadError('PHONE_PUSH_REFUSED', `the push channel closed (${code}${reason.length ? ` ${String(reason)}` : ''})`));
        });
      });
      process.once('SIGINT', () => {
        socket.close();
        resolve(EXIT_OK);
      });
    });
  },
};

export const phoneCommand: Command = commandGroup(
  'the payment client of a phone: enrol, bind cards, pay or refuse bills pushed to it, pay the gateway\'s orders by code',
  'Usage: paypad phone <command> [...]\n\nA phone\'s payment client against the running host (docs/bill-payments.md, docs/online-payments.md).',
  { enrol, confirm, 'bind-card': bindCard, cards, bills, pay, refuse, watch, ...orderCommands },
);
