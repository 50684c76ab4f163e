/**
 * `paypad terminal pay mobile`: the emulated terminal's payment app (firmware/core/
 * mobilePaymentApp), the same state machine the board runs, fed from a shell: each prompt's answer
 * becomes the key presses (or the swipe) the board would get, and each screen it shows is drawn on
 * stderr as the terminal's display would draw it (firmware/hal/moddable/paymentScreens).
 *
 *   payee    --payee MOBILE, or asked on a TTY; a number failing the rule is asked again (C4)
 *   confirm  --yes, or the masked name is shown and y/N asked (C5)
 *   amount   --amount in minor units (fen for CNY), --currency (default CNY)
 *   swipe    --card NAME (a simulated network's test card: unionPay, insufficientFunds, ...) or
 *            --card FILE (one line as a serial reader sends it: ";PAN=YYMM...?"); no PAN is ever printed
 *   PIN      --pin-stdin (a line on standard input) or, on a TTY, keyed with echo off, each digit
 *            handed to the app as a key press: never a flag, never printed
 *
 * stdout gets the outcome as JSON; exit 0 approved, 1 declined, refused or cancelled, 2 the
 * command line is wrong (a bad --payee is a command-line error, not a re-entry).
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { asciiToBytes } from '../../shared/bytes';
import { isMainlandMobileNumber } from '../../shared/mobileNumber';
import { MobilePaymentApp, PIN_MAX_DIGITS, PIN_MIN_DIGITS } from '../../firmware/core/mobilePaymentApp';
import { Terminal } from '../../firmware/core/terminal';
import type { Swipe } from '../../firmware/hal/cardReader';
import type { Screen } from '../../firmware/hal/display';
import type { Key } from '../../firmware/hal/keypad';
import { paymentScreen } from '../../firmware/hal/moddable/paymentScreens';
import { parseSwipeLine, SWIPE_LINE_MAX, wipeSwipe } from '../../firmware/hal/moddable/swipeFrame';
import { openNodeDevice } from '../../firmware/hal/node/nodeDevice';
import { lockKmsExchanges } from '../../firmware/hal/node/stateLock';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { type Command, commandGroup, EXIT_FAILED, EXIT_OK, parseFlags, required, UsageError } from '../args';

type TestCardName = keyof typeof TEST_CARDS;
const CURRENCY = /^[A-Z]{3}$/;
const AMOUNT = /^[1-9]\d{0,8}$/;
/** Track 2's service code and discretionary data after the expiry on the simulated cards (ISO/IEC 7813). */
const TRACK2_TAIL = '1011234';

/** What the payment app is fed: each answer from a flag or, when the flag is absent, a TTY prompt. */
interface PayInputs {
  payee(invalid: boolean): Promise<string>;
  confirm(maskedName: string): Promise<boolean>;
  amount(): Promise<string>;
  swipe(): Promise<Swipe>;
  /** Hands the PIN's digits to `press` one by one (then confirm); holds no copy. */
  pin(press: (key: Key) => void): Promise<void>;
  /** A PIN of the wrong length is keyed again (a TTY), or is a command-line error (a pipe). */
  readonly retryPin: boolean;
  close(): void;
}

const mobile: Command = {
  summary: 'C3-C8: pay someone by their mobile number on the emulated terminal (prompts, or flags for scripts)',
  help: `Usage: paypad terminal pay mobile --state-dir DIR [--payee MOBILE] [--amount MINOR] [--currency CUR]
                                  [--card NAME|FILE] [--pin-stdin] [--yes] [--payer MOBILE]

The terminal's payment app, as on the board: looks the payee up by number (C3-C5), shows the
name masked for the payer to confirm, takes the amount, the swipe and the PIN (enciphered by the
terminal's vault under PIK at once), and sends the payment to POSP (C6-C8). Each screen goes to
stderr; the outcome goes to stdout as JSON. Any value not given as a flag is asked on a TTY.
Exit 0 approved, 1 declined, refused or cancelled, 2 the command line is wrong.
  --state-dir DIR   the terminal (signed on: \`paypad terminal load-keys\`)
  --payee MOBILE    the payee's 11-digit mobile number
  --amount MINOR    the amount in minor units of the currency (fen for CNY: 1000 is 10.00)
  --currency CUR    ISO 4217 code (default CNY)
  --card NAME|FILE  the swipe: a test card of the simulated network (${Object.keys(TEST_CARDS).join(', ')}),
                    or a file holding one reader line: ;PAN=YYMM and the rest of track 2, then ?
  --pin-stdin       read the PIN from the first line of standard input (never from a flag)
  --yes             confirm the payee's masked name without asking
  --payer MOBILE    the payer's own number, texted on success (C8)`,
  async run(argv) {
    const f = parseFlags(argv, {
      'state-dir': { type: 'string' },
      payee: { type: 'string' },
      amount: { type: 'string' },
      currency: { type: 'string' },
      card: { type: 'string' },
      'pin-stdin': { type: 'boolean' },
      yes: { type: 'boolean' },
      payer: { type: 'string' },
    });
    const stateDir = required(f['state-dir'], 'state-dir');
    const currency = f.currency ?? 'CNY';
    if (!CURRENCY.test(currency)) throw new UsageError('--currency: expected an ISO 4217 code such as CNY');
    if (f.amount !== undefined && !AMOUNT.test(f.amount)) throw new UsageError('--amount: expected whole minor units from 1 to 999999999 (fen for CNY: 1000 is 10.00)');
    if (f.payer !== undefined && !isMainlandMobileNumber(f.payer)) throw new UsageError('--payer: expected an 11-digit mainland-China mobile number such as 13900139000');
    // C4 on the command line: a number the terminal would refuse is a mistake in the flag, not a re-entry.
    if (f.payee !== undefined && !isMainlandMobileNumber(f.payee)) throw new UsageError('--payee: MOBILE_NUMBER_INVALID: expected an 11-digit mainland-China mobile number such as 13800138000');
    const inputs = payInputs({ payee: f.payee, amount: f.amount, card: f.card, pinStdin: f['pin-stdin'] === true, yes: f.yes === true });
    const terminal = Terminal.open(openNodeDevice(stateDir));
    const release = lockKmsExchanges(stateDir);
    try {
      const app = new MobilePaymentApp({ terminal, currency, payerMobile: f.payer });
      await runApp(app, inputs);
      return report(app);
    } finally {
      inputs.close();
      release();
    }
  },
};

/** Drives the app to its result, drawing every screen. */
async function runApp(app: MobilePaymentApp, inputs: PayInputs): Promise<void> {
  while (!app.done) {
    const { view } = app;
    draw(paymentScreen(view));
    let exchange: Promise<void> | undefined;
    switch (view.step) {
      case 'payee':
        exchange = pressAll(app, await inputs.payee(view.invalidNumber));
        break;
      case 'confirm':
        app.press((await inputs.confirm(view.maskedName ?? '')) ? 'confirm' : 'cancel');
        break;
      case 'amount':
        pressAll(app, await inputs.amount());
        break;
      case 'swipe':
        app.swipe(await inputs.swipe());
        break;
      case 'pin':
        // Each digit goes straight to the app's wiped buffer; nothing here keeps one.
        await inputs.pin((key) => void (exchange = app.press(key) ?? exchange));
        if (app.view.step === 'pin') {
          app.press('clear');
          if (!inputs.retryPin) {
            app.press('cancel');
            throw new UsageError(`the PIN must be ${PIN_MIN_DIGITS} to ${PIN_MAX_DIGITS} digits`);
          }
        }
        break;
      default:
        throw new UsageError(`the payment app stopped at ${view.step}`);
    }
    if (exchange) {
      draw(paymentScreen(app.view));
      await exchange;
    }
  }
  draw(paymentScreen(app.view));
}

/** Each digit of `digits` then confirm, as keyed; the exchange the confirm started, if any. */
function pressAll(app: MobilePaymentApp, digits: string): Promise<void> | undefined {
  for (const c of digits) if (c >= '0' && c <= '9') app.press(c as Key);
  return app.press('confirm');
}

function report(app: MobilePaymentApp): number {
  const { outcome, maskedName } = app.view;
  if (outcome === undefined) return EXIT_FAILED;
  const common = { outcome: outcome.kind, payee: maskedName };
  if (outcome.kind === 'approved' || outcome.kind === 'declined') {
    // updateNotice (B6): the TMS has an update for this terminal; `paypad terminal update --trigger notice` asks for it.
    const { responseCode, reason, reference, amount, currency, maskedPan, approvalCode, updateNotice } = outcome.answer;
    print({ ...common, responseCode, reason, reference, amount, currency, maskedPan, approvalCode, updateNotice });
  } else if (outcome.kind === 'failed') {
    print({ ...common, code: outcome.pospCode ?? outcome.code, outcomeUnknown: outcome.unknown });
  } else {
    print(common);
  }
  return outcome.kind === 'approved' ? EXIT_OK : EXIT_FAILED;
}

function print(value: object): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The emulated terminal's display, on stderr. */
function draw(screen: Screen): void {
  const width = 22;
  const row = (text: string) => `| ${text.padEnd(width - 2).slice(0, width - 2)} |`;
  process.stderr.write([`+${'-'.repeat(width)}+`, row(screen.title), ...screen.lines.map(row), `+${'-'.repeat(width)}+`, ''].join('\n'));
}

interface PayFlags {
  readonly payee?: string;
  readonly amount?: string;
  readonly card?: string;
  readonly pinStdin: boolean;
  readonly yes: boolean;
}

function payInputs(flags: PayFlags): PayInputs {
  const tty = process.stdin.isTTY === true;
  const needsTty = [flags.payee === undefined && '--payee', flags.amount === undefined && '--amount', flags.card === undefined && '--card', !flags.pinStdin && '--pin-stdin', !flags.yes && '--yes'].filter(Boolean);
  if (!tty && needsTty.length > 0) throw new UsageError(`standard input is not a terminal: give ${needsTty.join(', ')}`);
  if (flags.pinStdin && tty) throw new UsageError('--pin-stdin reads the PIN from a pipe; on a terminal leave it out and key the PIN when asked');
  // A bad --card is a usage error before anything is sent.
  if (flags.card !== undefined) wipeSwipe(readSwipe(flags.card));
  const ask = (question: string): Promise<string> => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    return new Promise<string>((resolve) => {
      rl.once('close', () => resolve(''));
      rl.question(`${question} `, (answer) => {
        resolve(answer.trim());
        rl.close();
      });
    });
  };
  return {
    payee: (invalid) => (flags.payee !== undefined ? Promise.resolve(flags.payee) : ask(invalid ? 'Invalid number. Payee mobile number:' : 'Payee mobile number:')),
    confirm: (maskedName) => (flags.yes ? Promise.resolve(true) : ask(`Pay ${maskedName}? [y/N]`).then((a) => /^y(es)?$/i.test(a))),
    amount: () => (flags.amount !== undefined ? Promise.resolve(flags.amount) : ask('Amount in minor units (fen):')),
    swipe: async () => readSwipe(flags.card ?? (await ask(`Swipe: a test card (${Object.keys(TEST_CARDS).join(', ')}) or a card file:`))),
    pin: (press) => (flags.pinStdin ? pinFromStdin(press) : pinFromTty(press)),
    retryPin: !flags.pinStdin,
    close: () => undefined,
  };
}

/** The swipe for --card: a test card by name, or a file with one reader line; the bytes are the caller's to wipe. */
function readSwipe(card: string): Swipe {
  if (Object.hasOwn(TEST_CARDS, card)) {
    const { pan, expiry } = TEST_CARDS[card as TestCardName];
    return { status: 'read', track2: asciiToBytes(`${pan}=${expiry}${TRACK2_TAIL}`) };
  }
  let line: Buffer;
  try {
    line = readFileSync(card);
  } catch {
    throw new UsageError(`--card: '${card.slice(0, 40)}' is neither a test card (${Object.keys(TEST_CARDS).join(', ')}) nor a readable card file`);
  }
  const end = line.findIndex((b) => b === 0x0a || b === 0x0d);
  const bytes = new Uint8Array(line.subarray(0, end < 0 ? line.length : end));
  line.fill(0);
  const swipe = bytes.length > SWIPE_LINE_MAX ? ({ status: 'unreadable' } as const) : parseSwipeLine(bytes);
  bytes.fill(0);
  if (swipe.status !== 'read' || swipe.track2 === undefined) {
    wipeSwipe(swipe);
    throw new UsageError(`--card ${card}: no track 2 in the file (expected one line: ';', the PAN, '=', the expiry YYMM and the rest of track 2, then '?')`);
  }
  return swipe;
}

/** The first line of a piped standard input, digit by digit; the buffer is wiped. */
async function pinFromStdin(press: (key: Key) => void): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(0x0a)) break;
  }
  const data = Buffer.concat(chunks);
  for (const chunk of chunks) chunk.fill(0);
  try {
    for (const byte of data) {
      if (byte === 0x0a || byte === 0x0d) break;
      if (byte < 0x30 || byte > 0x39) throw new UsageError('--pin-stdin: the PIN is digits only');
      press(String.fromCharCode(byte) as Key);
    }
    press('confirm');
  } finally {
    data.fill(0);
  }
}

/** Keyed on the TTY with echo off: each digit a key press, '*' shown, backspace clears, Enter confirms. */
function pinFromTty(press: (key: Key) => void): Promise<void> {
  const input = process.stdin;
  // Echo off before the prompt shows: a PIN keyed the moment it appears must not be echoed.
  input.setRawMode(true);
  process.stderr.write('PIN (Enter when done): ');
  return new Promise((resolve) => {
    input.resume();
    const onData = (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte >= 0x30 && byte <= 0x39) {
          press(String.fromCharCode(byte) as Key);
          process.stderr.write('*');
        } else if (byte === 0x7f || byte === 0x08) {
          press('clear');
          process.stderr.write('\nPIN cleared, key it again: ');
        } else if (byte === 0x0d || byte === 0x0a || byte === 0x03) {
          press(byte === 0x03 ? 'cancel' : 'confirm');
          chunk.fill(0);
          input.off('data', onData);
          input.setRawMode(false);
          input.pause();
          process.stderr.write('\n');
          resolve();
          return;
        }
      }
      chunk.fill(0);
    };
    input.on('data', onData);
  });
}

export const payCommand: Command = commandGroup(
  'pay on the emulated terminal: mobile (pay someone by their mobile number)',
  'Usage: paypad terminal pay <command> [...]\n\nThe terminal\'s payment apps, driven from a shell.',
  { mobile },
);
