/**
 * `paypad terminal reader`: the emulated PIN pad as the checkout page's secure card reader
 * (docs/card-readers.md):
 *
 *   inject  key injection: the reader's AES DUKPT initial key (hex on standard input, never a
 *           flag), or the key injection facility's derivation of it from the BDK's components
 *           as the gateway's ceremony takes them (--from-bdk), fills its future key registers,
 *           sealed in the state directory;
 *   run     dials the payment gateway's reader channel and serves its read requests until Ctrl-C:
 *           each swipe (the emulated read head: a test card) leaves sealed under DUKPT, with the
 *           PIN from standard input when the gateway asks for one.
 */
import { createInterface } from 'node:readline';
import { asciiToBytes, fromHex, wipe } from '../../shared/bytes';
import { dukptInitialKey } from '../../shared/crypto/dukpt';
import { SecureCardReader } from '../../firmware/core/secureCardReader';
import { SecureCardReaderService } from '../../firmware/core/secureCardReaderService';
import { createEmulatedSwipeReader } from '../../firmware/hal/node/emulatedSwipeReader';
import { connectCardReader } from '../../firmware/hal/node/nodeCardReaderLink';
import { openNodeDevice } from '../../firmware/hal/node/nodeDevice';
import { combineKeyComponents } from '../../host/hsm/keyComponents';
import { TEST_CARDS } from '../../host/simulators/testCards';
import { type Command, commandGroup, EXIT_OK, flagValue, parseFlags, required, UsageError } from '../args';
import { componentCount, readKeyComponents } from '../keyComponentInput';

/** Track 2 after the expiry on the emulated cards: service code 101, then discretionary data. */
const EMULATED_TRACK2_TAIL = '1011234';
const DEFAULT_HEARTBEAT_MS = 5_000;

const inject: Command = {
  summary: 'E4: load the reader\'s AES DUKPT initial key (hex on standard input)',
  help: `Usage: echo IK | paypad terminal reader inject --state-dir DIR --initial-key-id HEX
       paypad terminal reader inject --state-dir DIR --initial-key-id HEX --from-bdk --kcv KCV [--components 2|3]

Key injection for the secure card reader: the initial key (16, 24 or 32 bytes as hex, one line on
standard input) and its initial key ID (8 bytes: BDK ID and derivation ID) fill the reader's 32
future key registers, sealed in DIR under the device root key; the initial key itself is not kept.
Replaces any earlier DUKPT keys. Prints the first transaction counter as JSON.

With --from-bdk this is the key injection facility: the BDK's custodians enter its components as
for \`paypad gateway reader-bdk load\` (keyed with echo off at a terminal, or one "COMPONENT KCV"
line each from a pipe), each checked against its check value and the combined key against --kcv;
the initial key is derived from the BDK and the initial key ID (ANSI X9.24-3-2017) and injected,
and neither is kept or shown.
  --state-dir DIR        the emulated terminal (\`paypad terminal init\`)
  --initial-key-id HEX   16 hex digits
  --from-bdk             derive the initial key from the BDK's components instead of reading it
  --kcv KCV              with --from-bdk: the BDK's check value (10 hex digits, the CMAC KCV)
  --components N         with --from-bdk: 2 (the default) or 3`,
  async run(argv) {
    const f = parseFlags(argv, { 'state-dir': { type: 'string' }, 'initial-key-id': { type: 'string' }, 'from-bdk': { type: 'boolean' }, kcv: { type: 'string' }, components: { type: 'string' } });
    const stateDir = required(f['state-dir'], 'state-dir');
    const initialKeyId = flagValue('initial-key-id', () => fromHex(required(f['initial-key-id'], 'initial-key-id'), 'initial key ID'));
    if (!f['from-bdk'] && (f.kcv !== undefined || f.components !== undefined)) throw new UsageError('--kcv and --components go with --from-bdk');
    const initialKey = f['from-bdk'] ? await initialKeyFromBdk(initialKeyId, required(f.kcv, 'kcv'), componentCount(f.components)) : await pipedInitialKey();
    const device = openNodeDevice(stateDir);
    try {
      const counter = new SecureCardReader(device).loadInitialKey(initialKey, initialKeyId);
      process.stdout.write(`${JSON.stringify({ counter })}\n`);
    } finally {
      wipe(initialKey);
    }
    return EXIT_OK;
  },
};

const run: Command = {
  summary: 'E4: connect to the gateway as a secure card reader and serve its reads until Ctrl-C',
  help: `Usage: paypad terminal reader run --state-dir DIR --gateway URL --reader-id ID --card TESTCARD [--pin-stdin] [--heartbeat-ms N]

Opens a WebSocket to the payment gateway's reader channel (wss://HOST/gateway/card-readers in
production), says hello as ID and sends a heartbeat every N ms (5000 by default). For each read
the gateway asks for, the emulated read head swipes TESTCARD (${Object.keys(TEST_CARDS).join(', ')});
the track leaves sealed under the reader's AES DUKPT keys. When the gateway asks for the PIN, it is
the next line of standard input (--pin-stdin); without it the reader has no PIN pad. Exit 0 when the
gateway closes the connection.
  --state-dir DIR     the emulated terminal, keys injected (\`paypad terminal reader inject\`)
  --gateway URL       ws:// or wss:// URL of the reader channel
  --reader-id ID      the name a checkout is paired with (4 to 32 of A-Z a-z 0-9 -)
  --card TESTCARD     the card swiped at every read
  --pin-stdin         PINs, one line per read that asks for one, from standard input`,
  async run(argv) {
    const f = parseFlags(argv, { 'state-dir': { type: 'string' }, gateway: { type: 'string' }, 'reader-id': { type: 'string' }, card: { type: 'string' }, 'pin-stdin': { type: 'boolean' }, 'heartbeat-ms': { type: 'string' } });
    const stateDir = required(f['state-dir'], 'state-dir');
    const gateway = required(f.gateway, 'gateway');
    const readerId = required(f['reader-id'], 'reader-id');
    const card = required(f.card, 'card');
    if (!Object.hasOwn(TEST_CARDS, card)) throw new UsageError(`--card: one of ${Object.keys(TEST_CARDS).join(', ')}`);
    const heartbeatMs = f['heartbeat-ms'] === undefined ? DEFAULT_HEARTBEAT_MS : Number(f['heartbeat-ms']);
    if (!Number.isInteger(heartbeatMs) || heartbeatMs < 100 || heartbeatMs > 60_000) throw new UsageError('--heartbeat-ms: an integer from 100 to 60000');
    const device = openNodeDevice(stateDir);
    const reader = new SecureCardReader(device);
    const swipes = createEmulatedSwipeReader();
    const { pan, expiry } = TEST_CARDS[card as keyof typeof TEST_CARDS];
    swipes.onWaiting(() => setImmediate(() => swipes.swipe({ status: 'read', track2: asciiToBytes(`${pan}=${expiry}${EMULATED_TRACK2_TAIL}`) })));
    const pins = f['pin-stdin'] ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : undefined;
    const service = new SecureCardReaderService({
      reader,
      cardReader: swipes.reader,
      readerId,
      heartbeatMs,
      ...(pins === undefined ? {} : { pinEntry: () => pins.next().then((r) => (r.done ? undefined : r.value.trim())) }),
    });
    const link = await connectCardReader(gateway, service, heartbeatMs);
    process.stderr.write(`card reader ${readerId} connected to ${gateway}; Ctrl-C to unplug\n`);
    process.once('SIGINT', () => link.close());
    await link.closed;
    process.stderr.write(`card reader ${readerId} disconnected\n`);
    return EXIT_OK;
  },
};

export const readerCommand: Command = commandGroup(
  'E4: the PIN pad as the checkout page\'s secure card reader (AES DUKPT)',
  'Usage: paypad terminal reader <command> [...]',
  { inject, run },
);

async function pipedInitialKey(): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new UsageError('the initial key is read from standard input: pipe it in');
  const line = await firstLine();
  try {
    return fromHex(line, 'initial key');
  } catch {
    throw new UsageError('standard input: expected the initial key as 32, 48 or 64 hex digits');
  }
}

/** The key injection facility's derivation: the BDK from its checked components, the initial key from it; the BDK is wiped. */
async function initialKeyFromBdk(initialKeyId: Uint8Array, kcv: string, count: number): Promise<Uint8Array> {
  const components = await readKeyComponents(count);
  try {
    const bdk = combineKeyComponents(components, kcv);
    try {
      return dukptInitialKey(bdk, initialKeyId);
    } finally {
      wipe(bdk);
    }
  } finally {
    for (const component of components) wipe(component.value);
  }
}

/** One line of piped standard input, trimmed. */
async function firstLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line.trim();
  }
  throw new UsageError('standard input is empty: expected the initial key as hex');
}
