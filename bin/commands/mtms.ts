/**
 * `paypad mtms`: the MTMS administrator's commands (A3, A7, A9): customers and their KMS address,
 * serials, production orders and their transfer, and the outbox that forwards TKs. It uses the
 * database the host uses (--data-dir / PAYPAD_DATA_DIR, DATABASE_URL); a running host's outbox
 * worker sends what is queued here within its poll interval. Host modules load lazily: other
 * commands stay fast. Operators never use this: it lists what A14 keeps from them.
 * `device enrol` is the production line's: it talks to a terminal's local link and to MTMS over
 * mutual TLS with the station's certificate, not to the database.
 */
import { userInfo } from 'node:os';
import { type Command, commandGroup, EXIT_OK, parseFlags, required, UsageError, withFlagArguments } from '../args';
import { withHostDatabase } from '../hostDatabase';
import type { KmsKeyPins } from '../../host/mtms/kmsKeyPins';
import type { MtmsStore } from '../../host/mtms/mtmsStore';
import type { OutboxStore } from '../../host/outbox/outboxStore';
import { REPAIR_WINDOW_DEFAULT_MINUTES, REPAIR_WINDOW_MAX_MINUTES } from '../../host/mtms/repairAuthorisations';

const DATA_DIR_HELP = `  --data-dir DIR   the host's data directory (PAYPAD_DATA_DIR, default ./data); the database is
                   DATABASE_URL (postgres://...) or, unset, SQLite in the data directory`;

function print(text: string): number {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return EXIT_OK;
}

/** Who the audit log names for these changes: the account running the command. */
export function actor(): string {
  try {
    return `admin:${userInfo().username}`;
  } catch {
    return 'admin:cli';
  }
}

/** Opens the database (migrated, as the host would), runs `fn` with the MTMS store, the outbox and the KMS key pins, closes. */
async function withMtms<T>(dataDirFlag: string | undefined, fn: (store: MtmsStore, outbox: OutboxStore, kmsKeys: KmsKeyPins) => Promise<T>): Promise<T> {
  const [{ createMtmsStore }, { createOutboxStore }, { createKmsKeyPins }] = await Promise.all([
    import('../../host/mtms/mtmsStore'),
    import('../../host/outbox/outboxStore'),
    import('../../host/mtms/kmsKeyPins'),
  ]);
  return withHostDatabase(dataDirFlag, (database) =>
    fn(createMtmsStore(database.db, database.dialect), createOutboxStore(database.db, database.dialect), createKmsKeyPins(database.db, () => new Date())),
  );
}

/** The serials of a list command: --serials S1,S2 or, the same, --serial S1,S2 (people type either). */
function serialList(f: { serial?: string; serials?: string }): string[] {
  if (f.serial !== undefined && f.serials !== undefined) throw new UsageError('give the serials once: --serials S1,S2 (or --serial S1,S2)');
  const flag = f.serials !== undefined ? 'serials' : 'serial';
  return list(required(f.serials ?? f.serial, 'serials'), flag);
}

function list(value: string, flag: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${flag} takes a comma-separated list without empty items`);
  return items;
}

function positiveInteger(value: string, flag: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(value)) throw new UsageError(`--${flag} must be a positive integer, got '${value}'`);
  return Number(value);
}

const customerAdd: Command = {
  summary: 'add a customer (acquirer) and the address of its KMS',
  help: `Usage: paypad mtms customer add --code CODE --name NAME --kms-url URL [--data-dir DIR]

  --code CODE      2-16 of A-Z 0-9 _ -; the O= of that customer's KMS certificate
  --name NAME      shown to operators for this customer's serials (1-80 characters)
  --kms-url URL    https://host:port of the customer's KMS; MTMS calls it with mutual TLS
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { code: { type: 'string' }, name: { type: 'string' }, 'kms-url': { type: 'string' }, 'data-dir': { type: 'string' } });
    const input = { code: required(f.code, 'code'), name: required(f.name, 'name'), kmsUrl: required(f['kms-url'], 'kms-url') };
    return withMtms(f['data-dir'], async (store) => {
      const c = await withFlagArguments(store.addCustomer(input, actor()));
      return print(`added customer ${c.code} (${c.name}), KMS ${c.kmsUrl} over ${c.kmsProtocol}`);
    });
  },
};

const serialAdd: Command = {
  summary: "register serials for a customer",
  help: `Usage: paypad mtms serial add --serials S[,S...] --customer CODE [--data-dir DIR]

Registers all the serials or, if one is registered already, none.
  --serials S,...  4-32 of A-Z 0-9 - each (--serial is the same flag)
  --customer CODE  the customer the terminals are made for
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { serials: { type: 'string' }, serial: { type: 'string' }, customer: { type: 'string' }, 'data-dir': { type: 'string' } });
    const serials = serialList(f);
    const customer = required(f.customer, 'customer');
    return withMtms(f['data-dir'], async (store) => {
      await withFlagArguments(store.addSerials(serials, customer, actor()));
      return print(`registered ${serials.length} serial${serials.length === 1 ? '' : 's'} for customer ${customer}`);
    });
  },
};

const orderCreate: Command = {
  summary: 'create a production order: a batch of serials for one customer (A9)',
  help: `Usage: paypad mtms order create --customer CODE --serials S1,S2,... [--data-dir DIR]

New serials are registered for the customer; registered ones must be that customer's and in no
other order. Prints the order id.
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { customer: { type: 'string' }, serials: { type: 'string' }, serial: { type: 'string' }, 'data-dir': { type: 'string' } });
    const customer = required(f.customer, 'customer');
    const serials = serialList(f);
    return withMtms(f['data-dir'], async (store) => {
      const order = await withFlagArguments(store.createOrder(customer, serials, actor()));
      return print(`created production order ${order.id} for customer ${order.customerCode} with ${order.serials.length} serials`);
    });
  },
};

const orderTransfer: Command = {
  summary: "queue the TKs of an order's serials for the customer's KMS (A9)",
  help: `Usage: paypad mtms order transfer --id N [--data-dir DIR]

Queues each serial's newest TK; one already queued or delivered is not sent twice, and a dead
delivery is re-armed. Prints one line per serial: queued, requeued, pending, delivered,
discarded, no-tk (none uploaded yet) or reassigned (now another customer's).
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { id: { type: 'string' }, 'data-dir': { type: 'string' } });
    const id = positiveInteger(required(f.id, 'id'), 'id');
    return withMtms(f['data-dir'], async (store) => {
      const result = await store.transferOrder(id, actor());
      const rows = result.serials.map((s) => `${s.serial.padEnd(32)}  ${s.status.padEnd(10)}  ${s.deliveryId ?? ''}`.trimEnd());
      return print([`order ${result.orderId} for ${result.customerCode}: ${result.sent} sent`, `${'SERIAL'.padEnd(32)}  ${'STATUS'.padEnd(10)}  DELIVERY`, ...rows].join('\n'));
    });
  },
};

const repairAuthorize: Command = {
  summary: 'authorise one repair (a new TK) of a terminal that already has keys at its KMS (A13)',
  help: `Usage: paypad mtms repair authorize --serial S [--minutes N] [--data-dir DIR]

MTMS accepts a new TK for a serial whose KMS already holds one only against an authorisation:
one intake, within the window. Without it the upload is refused (MTMS_REPAIR_NOT_AUTHORISED)
and audited, so neither a device claiming the serial nor a replayed envelope can re-key it.
  --serial S       the terminal to be repaired
  --minutes N      how long the authorisation stays open (default ${REPAIR_WINDOW_DEFAULT_MINUTES}, at most ${REPAIR_WINDOW_MAX_MINUTES})
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { serial: { type: 'string' }, minutes: { type: 'string' }, 'data-dir': { type: 'string' } });
    const serial = required(f.serial, 'serial');
    const minutes = f.minutes === undefined ? REPAIR_WINDOW_DEFAULT_MINUTES : positiveInteger(f.minutes, 'minutes');
    return withMtms(f['data-dir'], async (store) => {
      const opened = await store.openRepair(serial, minutes, actor());
      return print(`repair of ${opened.serial} authorised until ${opened.expiresAt.toISOString()} (authorisation ${opened.id}): one new TK will be accepted`);
    });
  },
};

/** A repair command that takes one terminal's serial and the data directory. */
function repairCommand(summary: string, verb: string, action: (store: MtmsStore, serial: string) => Promise<string>): Command {
  return {
    summary,
    help: `Usage: paypad mtms repair ${verb} --serial S [--data-dir DIR]
${DATA_DIR_HELP}`,
    async run(argv) {
      const f = parseFlags(argv, { serial: { type: 'string' }, 'data-dir': { type: 'string' } });
      const serial = required(f.serial, 'serial');
      return withMtms(f['data-dir'], async (store) => print(await action(store, serial)));
    },
  };
}

const repairWithdraw = repairCommand("withdraw a terminal's open repair authorisations", 'withdraw', async (store, serial) => {
  return `withdrew ${await store.withdrawRepair(serial, actor())} open repair authorisation(s) of ${serial}`;
});

const repairList = repairCommand("list a terminal's repair authorisations, newest first", 'list', async (store, serial) => {
  const now = Date.now();
  const rows = (await store.repairAuthorisations(serial)).map((a) => {
    const state = a.closedAt ? `closed ${a.closedAt.toISOString()} by ${a.closedBy}` : a.expiresAt.getTime() > now ? 'open' : 'expired';
    return `${String(a.id).padEnd(6)}  ${a.openedAt.toISOString()}  ${a.expiresAt.toISOString()}  ${a.openedBy}  ${state}`;
  });
  return [`${'ID'.padEnd(6)}  ${'OPENED'.padEnd(24)}  ${'EXPIRES'.padEnd(24)}  BY  STATE`, ...rows].join('\n');
});

const kmsKeyList: Command = {
  summary: "show the intake key pinned for each customer's KMS, and changed keys waiting",
  help: `Usage: paypad mtms kms-key list [--data-dir DIR]

MTMS pins the intake key a customer's KMS presents at its first delivery and wraps TKs only for
it. A KMS that presents another key gets nothing until the change is accepted (kms-key accept).
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'data-dir': { type: 'string' } });
    return withMtms(f['data-dir'], async (_store, _box, kmsKeys) => {
      const rows = (await kmsKeys.kmsKeyPins()).map((p) =>
        [p.customerCode.padEnd(16), p.kcv.padEnd(10), p.pinnedAt.toISOString(), p.pinnedBy.padEnd(16), p.offered ? `${p.offered.kcv} since ${p.offered.at.toISOString()} (certificate ${p.offered.certSerial})` : ''].join('  ').trimEnd(),
      );
      return print([`${'CUSTOMER'.padEnd(16)}  ${'PINNED'.padEnd(10)}  ${'SINCE'.padEnd(24)}  ${'BY'.padEnd(16)}  CHANGED KEY WAITING`, ...rows].join('\n'));
    });
  },
};

const kmsKeyAccept: Command = {
  summary: "accept the changed intake key a customer's KMS presents",
  help: `Usage: paypad mtms kms-key accept --customer CODE --kcv KCV [--data-dir DIR]

Makes the key waiting for CODE (kms-key list) the pinned one, after you have checked its check
value with the KMS's operator (a KMS logs intakeKeyKcv when it starts). Queued deliveries then go
out at their next retry. Audited.
  --customer CODE  the customer whose KMS changed its key
  --kcv KCV        the check value of the key waiting (10 hex digits)
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { customer: { type: 'string' }, kcv: { type: 'string' }, 'data-dir': { type: 'string' } });
    const customer = required(f.customer, 'customer');
    const kcv = required(f.kcv, 'kcv');
    if (!/^[0-9A-Fa-f]{10}$/.test(kcv)) throw new UsageError(`--kcv must be 10 hex digits, got '${kcv}'`);
    return withMtms(f['data-dir'], async (_store, _box, kmsKeys) => {
      const pin = await kmsKeys.acceptKmsKey(customer, kcv, actor());
      return print(`the intake key ${pin.kcv} of the KMS of ${pin.customerCode} is now pinned`);
    });
  },
};

const deviceEnrol: Command = {
  summary: "enrol a terminal on the production line: its identity key certified by the CA (A8)",
  help: `Usage: paypad mtms device enrol --link HOST:PORT --mtms URL --cert FILE --key FILE --ca FILE [--crl FILE] [--json]

The last step of manufacture. The terminal makes its identity key (once; it never leaves the
device) and signs it over an MTMS challenge; MTMS has the CA issue its device certificate (role
device, CN = the serial), which the terminal keeps. From then on MTMS takes a TK for that serial
only signed by this device. A serial is enrolled once: a second device for it is refused
(MTMS_DEVICE_ENROLLED) until an administrator revokes the first certificate (paypad ca revoke).
  --link HOST:PORT  the terminal's local link (the emulated terminal prints it)
  --mtms URL        MTMS, https://host:port
  --cert FILE       the production station's certificate (PEM, role operator, from \`paypad ca issue\`)
  --key FILE        its private key (PEM)
  --ca FILE         the paypad CA certificate: MTMS must chain to it and be role mtms
  --crl FILE        the CA's current CRL (\`paypad ca crl\`): MTMS's certificate must not be on it
  --json            print the result as JSON
Exit codes: 0 enrolled; 1 refused or unreachable (the message says which); 2 the command line is wrong.`,
  async run(argv) {
    const f = parseFlags(argv, { link: { type: 'string' }, mtms: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' }, crl: { type: 'string' }, json: { type: 'boolean' } });
    const linkText = required(f.link, 'link');
    const mtmsUrl = required(f.mtms, 'mtms');
    const files = { cert: required(f.cert, 'cert'), key: required(f.key, 'key'), ca: required(f.ca, 'ca') };
    const [{ parseLinkAddress, connectTcpLink }, { createMtmsClient }, { readOperatorIdentity }, { readCrlRevocation }, { enrolTerminal }] = await Promise.all([
      import('../../host/operator/tcpLink'),
      import('../../host/operator/mtmsClient'),
      import('../../host/operator/operatorIdentity'),
      import('../../host/tls/crlRevocation'),
      import('../../host/operator/deviceEnrolment'),
    ]);
    const address = withUsage(() => parseLinkAddress(linkText));
    const { identity, subject } = await readOperatorIdentity(files);
    const revocation = f.crl === undefined ? undefined : await readCrlRevocation(f.crl, identity.caPem);
    const mtms = withUsage(() => createMtmsClient({ baseUrl: mtmsUrl, identity, revocation }));
    process.stderr.write(`Station ${subject.name}; terminal at ${linkText}; MTMS at ${mtmsUrl}\n`);
    const link = await connectTcpLink(address);
    try {
      const result = await enrolTerminal(link, mtms);
      return print(f.json ? JSON.stringify(result) : `terminal ${result.serial} enrolled: device certificate ${result.deviceCertSerial}, identity key ${result.publicKeyCheck}`);
    } finally {
      await link.close();
    }
  },
};

/** A flag value the protocol refuses is a command-line mistake: exit 2, not 1. */
function withUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const outbox: Command = {
  summary: 'show the outbox: messages per topic and state, and dead ones; re-arm a dead one',
  help: `Usage: paypad mtms outbox [--retry ID] [--data-dir DIR]

  --retry ID       queue the dead message ID again, from attempt 1
${DATA_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { retry: { type: 'string' }, 'data-dir': { type: 'string' } });
    const retry = f.retry === undefined ? undefined : positiveInteger(f.retry, 'retry');
    return withMtms(f['data-dir'], async (_store, box) => {
      if (retry !== undefined) {
        const row = await box.requeue(retry, new Date());
        return print(`outbox message ${row.id} (${row.topic} to ${row.destination}, key ${row.idempotencyKey}) is queued again`);
      }
      const status = await box.status({ deadLimit: 50 });
      const lines = [`${'TOPIC'.padEnd(16)}  ${'STATE'.padEnd(10)}  COUNT`, ...status.counts.map((c) => `${c.topic.padEnd(16)}  ${c.state.padEnd(10)}  ${c.count}`)];
      if (status.oldestPendingAt) lines.push(`oldest pending message due at ${status.oldestPendingAt.toISOString()}`);
      if (status.retrying.length > 0) {
        lines.push('', 'pending messages whose last attempt failed (next attempt first):');
        for (const r of status.retrying) {
          lines.push(`  ${r.id}  ${r.topic} to ${r.destination}  key ${r.idempotencyKey}  ${r.attempts} attempts  next ${r.nextAttemptAt.toISOString()}`, `      ${r.lastError ?? ''}`);
        }
      }
      if (status.dead.length > 0) {
        lines.push('', 'dead messages (newest first; re-arm with --retry ID):');
        for (const d of status.dead) {
          lines.push(`  ${d.id}  ${d.topic} to ${d.destination}  key ${d.idempotencyKey}  ${d.attempts} attempts  ${d.finishedAt?.toISOString() ?? ''}`, `      ${d.lastError ?? ''}`);
        }
      }
      return print(lines.join('\n'));
    });
  },
};

export const mtmsCommand: Command = commandGroup('MTMS administration: customers, serials, production orders, device enrolment, repair authorisations, outbox', 'Usage: paypad mtms <command> [...]', {
  customer: commandGroup('customers and their KMS address', 'Usage: paypad mtms customer <command> [...]', { add: customerAdd }),
  serial: commandGroup('the serial-number table', 'Usage: paypad mtms serial <command> [...]', { add: serialAdd }),
  order: commandGroup('production orders', 'Usage: paypad mtms order <command> [...]', { create: orderCreate, transfer: orderTransfer }),
  device: commandGroup('device identity: enrol a terminal on the production line', 'Usage: paypad mtms device <command> [...]', { enrol: deviceEnrol }),
  'kms-key': commandGroup("the intake key pinned for each customer's KMS", 'Usage: paypad mtms kms-key <command> [...]', { list: kmsKeyList, accept: kmsKeyAccept }),
  repair: commandGroup('repair authorisations: a new TK for a terminal that has keys', 'Usage: paypad mtms repair <command> [...]', {
    authorize: repairAuthorize,
    withdraw: repairWithdraw,
    list: repairList,
  }),
  outbox,
});
