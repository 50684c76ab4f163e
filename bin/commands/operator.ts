/**
 * `paypad operator`: the operating terminal (SPEC A2-A6, A10, A13, A14). It reads a terminal over
 * its local link, talks to MTMS over mutual TLS with an operator certificate, and asks the person
 * at the keyboard, or takes the answers from --yes / --customer when a script runs it.
 * The flow itself is host/operator/onboarding.ts; this file is flags, wiring and output.
 * Questions and progress go to stderr; stdout carries only the result (text, or JSON with --json).
 */
import { type Command, commandGroup, EXIT_OK, parseFlags, required, UsageError } from '../args';

const FLAGS = {
  link: { type: 'string' },
  mtms: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  crl: { type: 'string' },
  yes: { type: 'boolean' },
  customer: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const FLAG_HELP = `  --link HOST:PORT  the terminal's local link (the emulated terminal prints it)
  --mtms URL        MTMS, https://host:port
  --cert FILE       the operator certificate (PEM, role operator, from \`paypad ca issue\`)
  --key FILE        its private key (PEM)
  --ca FILE         the paypad CA certificate: MTMS must chain to it and be role mtms
  --crl FILE        the CA's current CRL (\`paypad ca crl\`): MTMS's certificate must not be on it
  --yes             answer yes to the repair and, without --customer, to the customer MTMS names
  --customer CODE   not the customer MTMS names: upload for customer CODE instead (A6); MTMS
                    shows its name and the serial is re-associated, audited
  --json            print the result as JSON
Without --yes or --customer the questions are asked at the terminal; with neither and no
terminal (stdin not a TTY) the command refuses to start (exit 2).
Exit codes: 0 the TK was accepted by MTMS; 1 it was not (refused, unreachable, not confirmed:
the message says which); 2 the command line is wrong.`;

async function run(argv: string[], repair: boolean): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  const linkText = required(f.link, 'link');
  const mtmsUrl = required(f.mtms, 'mtms');
  const files = { cert: required(f.cert, 'cert'), key: required(f.key, 'key'), ca: required(f.ca, 'ca') };
  const [{ customerCode }, { needsOperator, answeringPrompt }, { parseLinkAddress, connectTcpLink }, { createMtmsClient }, { readOperatorIdentity }, { readCrlRevocation }] = await Promise.all([
    import('../../shared/protocol/fields'),
    import('../../host/operator/prompt'),
    import('../../host/operator/tcpLink'),
    import('../../host/operator/mtmsClient'),
    import('../../host/operator/operatorIdentity'),
    import('../../host/tls/crlRevocation'),
  ]);

  const answers = { yes: f.yes === true, ...(f.customer === undefined ? {} : { customerCode: usage(() => customerCode(f.customer!.trim().toUpperCase(), '--customer')) }) };
  const interactive = needsOperator(answers, repair);
  if (interactive && process.stdin.isTTY !== true) {
    throw new UsageError(`no terminal to ask the operator at (stdin is not a TTY): give --yes${repair ? '' : ' or --customer CODE'}`);
  }
  const address = usage(() => parseLinkAddress(linkText));
  const { identity, subject } = await readOperatorIdentity(files);
  const revocation = f.crl === undefined ? undefined : await readCrlRevocation(f.crl, identity.caPem);
  const mtms = usage(() => createMtmsClient({ baseUrl: mtmsUrl, identity, revocation }));

  const say = (line: string) => void process.stderr.write(`${line}\n`);
  const tty = interactive ? (await import('../../host/operator/ttyPrompt')).createTtyPrompt(process.stdin, process.stderr) : undefined;
  try {
    const { onboardTerminal, repairTerminal } = await import('../../host/operator/onboarding');
    say(`Operator ${subject.name}; terminal at ${linkText}; MTMS at ${mtmsUrl}`);
    const link = await connectTcpLink(address);
    try {
      const ports = { link, mtms, prompt: answeringPrompt(answers, say, tty) };
      const result = repair ? await repairTerminal(ports) : await onboardTerminal(ports);
      if (f.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
      } else {
        const moved = result.reassociatedFrom === undefined ? '' : `; serial re-associated from customer ${result.reassociatedFrom}`;
        process.stdout.write(`TK of terminal ${result.serial} accepted by MTMS for customer ${result.customerCode} ${result.customerName} (delivery ${result.deliveryId})${moved}\n`);
      }
      return EXIT_OK;
    } finally {
      await link.close();
    }
  } finally {
    tty?.close();
  }
}

/** A flag value the protocol refuses is a command-line mistake: exit 2, not 1. */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const onboard: Command = {
  summary: "onboard a terminal: confirm its customer at MTMS and upload its TK envelope",
  help: `Usage: paypad operator onboard --link HOST:PORT --mtms URL --cert FILE --key FILE --ca FILE
                               [--yes | --customer CODE] [--json]

Reads the serial from the terminal (A2), shows the customer MTMS has for it (A3, A4) and, once
confirmed, relays the terminal's TK envelope to MTMS (A5). The envelope is sealed for MTMS: the
operating terminal cannot read the TK (A10). A serial MTMS does not know stops the run.
${FLAG_HELP}`,
  run: (argv) => run(argv, false),
};

const repairCommand: Command = {
  summary: 'repair a terminal: it zeroizes its keys and makes a new TK, then onboard it again',
  help: `Usage: paypad operator repair --link HOST:PORT --mtms URL --cert FILE --key FILE --ca FILE
                              [--yes] [--customer CODE] [--json]

Reads the serial, asks to confirm (unless --yes), has the terminal zeroize its key vault and make
a new TK (A13), then runs the onboarding as \`paypad operator onboard\` does.
${FLAG_HELP}`,
  run: (argv) => run(argv, true),
};

export const operatorCommand = commandGroup('the operating terminal: onboard or repair a terminal (A2-A6, A13)', 'Usage: paypad operator <command> [...]', {
  onboard,
  repair: repairCommand,
});
