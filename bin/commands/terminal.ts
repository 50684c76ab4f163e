/**
 * `paypad terminal`: the emulated PIN pad (docs/key-loading.md). The terminal application in
 * firmware/core runs here on the Node HAL (firmware/hal/node), with all its state in one
 * directory, so it can be stopped and started like a board that loses power.
 *
 *   init       manufacture: serial, MTMS intake public key, KMS URL and the paypad CA, pinned
 *   run        the local link the operating terminal talks to (A2, A10, A13)
 *   load-keys  TMK download (A11) then sign-on (A12) with the customer's KMS
 *   status     serial, stage, sequence and the KCV of every loaded slot (never a key)
 *   pay        the payment apps: mobile, pay someone by their mobile number (terminalPay.ts)
 *   update     start the program (a new one confirms itself) and check the TMS for an update (terminalUpdate.ts)
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fromHex } from '../../shared/bytes';
import { type Command, commandGroup, EXIT_OK, flagValue, parseFlags, required, UsageError } from '../args';
import { isPaypadError, PaypadError } from '../../shared/errors';
import { LocalLinkSession } from '../../firmware/core/localLinkService';
import { Terminal } from '../../firmware/core/terminal';
import { provisionTerminal } from '../../firmware/core/terminalIdentity';
import { publicKeyCheckValue } from '../../shared/protocol/publicKeyCheck';
import { listenLocalLink } from '../../firmware/hal/node/localLinkServer';
import { openNodeDevice } from '../../firmware/hal/node/nodeDevice';
import { lockKmsExchanges } from '../../firmware/hal/node/stateLock';
import { payCommand } from './terminalPay';
import { updateCommand } from './terminalUpdate';
import { readerCommand } from './terminalReader';

const STATE_DIR_HELP = '  --state-dir DIR   the terminal: its identity, sealed key vault and root key (created by init)';

function printJson(value: unknown): number {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  return EXIT_OK;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** The paypad CA certificate from a PEM file, as DER; it must be a CA certificate. */
function readCaCertificate(path: string): Uint8Array {
  const text = readText(path, 'the CA certificate');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) throw new UsageError(`${path}: expected exactly one PEM certificate (the paypad CA), found ${blocks.length}`);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(text);
  } catch {
    throw new UsageError(`${path}: not a readable X.509 certificate`);
  }
  if (!certificate.ca) throw new UsageError(`${path}: ${certificate.subject.replace(/\n/g, ', ')} is not a CA certificate`);
  return new Uint8Array(certificate.raw);
}

/** --mtms-key HEX or --mtms-key-file F (the same hex in a file): the 130 hex digits of the SEC 1 point. */
function readMtmsKey(hex: string | undefined, file: string | undefined): Uint8Array {
  if ((hex === undefined) === (file === undefined)) throw new UsageError('give the MTMS intake public key as exactly one of --mtms-key or --mtms-key-file');
  const text = (hex ?? readText(file as string, 'the MTMS key file')).trim();
  return flagValue(hex === undefined ? 'mtms-key-file' : 'mtms-key', () => fromHex(text, 'MTMS intake public key'));
}

function openTerminal(stateDir: string): Terminal {
  return Terminal.open(openNodeDevice(stateDir));
}

const init: Command = {
  summary: 'manufacture a terminal: serial, MTMS intake key, KMS URL and CA, pinned for life',
  help: `Usage: paypad terminal init --state-dir DIR --serial SN (--mtms-key HEX | --mtms-key-file FILE)
                           --kms-url https://HOST[:PORT] --ca-file FILE

Creates DIR (0700) and its device root key (DIR/root.key, 0600), then stores the terminal's
identity. Refuses a directory that already holds a terminal. Prints the identity as JSON.
${STATE_DIR_HELP}
  --serial SN        the serial on the label: 4 to 32 of A-Z 0-9 -
  --mtms-key HEX     MTMS's intake public key, uncompressed P-256 (130 hex digits)
  --mtms-key-file F  the same hex in a file
  --kms-url URL      the customer KMS, https://host[:port] without a path
  --ca-file FILE     the paypad CA certificate (PEM); the KMS's certificate must chain to it`,
  run(argv) {
    const f = parseFlags(argv, {
      'state-dir': { type: 'string' },
      serial: { type: 'string' },
      'mtms-key': { type: 'string' },
      'mtms-key-file': { type: 'string' },
      'kms-url': { type: 'string' },
      'ca-file': { type: 'string' },
    });
    const stateDir = required(f['state-dir'], 'state-dir');
    const serial = required(f.serial, 'serial');
    const kmsUrl = required(f['kms-url'], 'kms-url');
    const mtmsPublicKey = readMtmsKey(f['mtms-key'], f['mtms-key-file']);
    const trustAnchor = readCaCertificate(required(f['ca-file'], 'ca-file'));
    const device = openNodeDevice(stateDir, { manufacture: true });
    let identity;
    try {
      identity = provisionTerminal(device.storage, { serial, mtmsPublicKey, kmsUrl, trustAnchor });
    } catch (e) {
      // Every value it checks came from a flag: a serial, URL or key of the wrong form is a usage error.
      if (isPaypadError(e, 'BAD_ARGUMENT') || isPaypadError(e, 'PUBLIC_KEY_INVALID')) throw new UsageError(e.message);
      throw e;
    }
    return printJson({ serial: identity.serial, kmsUrl: identity.kmsUrl, mtmsKeyCheck: publicKeyCheckValue(identity.mtmsPublicKey), stateDir });
  },
};

const run: Command = {
  summary: 'run the terminal: answer the operating terminal on the local link until stopped',
  help: `Usage: paypad terminal run --state-dir DIR [--link-port N] [--link-host ADDRESS]

Listens for the operating terminal's local link (TCP standing in for the board's UART) and
prints "local link on HOST:PORT". Answers serial (A2), tk (A1, A10) and repair (A13). Stops on
SIGINT or SIGTERM; everything it knows stays in DIR for the next start.
${STATE_DIR_HELP}
  --link-port N      TCP port (default 0: any free port, printed)
  --link-host ADDR   address to listen on (default 127.0.0.1; the link carries no MAC, keep it local)`,
  async run(argv) {
    const f = parseFlags(argv, { 'state-dir': { type: 'string' }, 'link-port': { type: 'string' }, 'link-host': { type: 'string' } });
    const terminal = openTerminal(required(f['state-dir'], 'state-dir'));
    const portText = f['link-port'] ?? '0';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError('--link-port: expected a port number from 0 to 65535');
    const server = await listenLocalLink({
      host: f['link-host'] ?? '127.0.0.1',
      port: Number(portText),
      connect: (stream) => new LocalLinkSession(terminal, stream),
    });
    process.stdout.write(`terminal ${terminal.serial}: local link on ${server.host}:${server.port}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await server.close();
    return EXIT_OK;
  },
};

const loadKeys: Command = {
  summary: 'download the TMK (A11) and sign on for working keys (A12) from the KMS',
  help: `Usage: paypad terminal load-keys --state-dir DIR

Asks the KMS for a TMK under TK, then signs on for PIK, MAK, TDK and DMK under the TMK. Every
exchange is MAC'd and every answer's MAC and KCVs are checked before anything is stored. Prints
the key check values as the terminal computed them, as JSON. Needs the TK to have reached the
KMS (the operator uploaded it to MTMS, which delivered it).
${STATE_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'state-dir': { type: 'string' } });
    const stateDir = required(f['state-dir'], 'state-dir');
    const terminal = openTerminal(stateDir);
    const release = lockKmsExchanges(stateDir);
    try {
      const tmk = await terminal.downloadTmk().catch((e: unknown) => {
        throw unrecognised(e, terminal.serial, stateDir);
      });
      const workingKeys = await terminal.signOn();
      const kcv: Record<string, string> = {};
      for (const slot of [tmk, ...workingKeys]) kcv[slot.slot] = slot.kcv;
      return printJson({ serial: terminal.serial, kcv });
    } finally {
      release();
    }
  },
};

/**
 * A KMS that does not authenticate the terminal's first request (401 MAC_MISMATCH, unsigned: it
 * holds no TK for the serial, or another TK) says no more, on purpose. What to check is said here.
 */
function unrecognised(e: unknown, serial: string, stateDir: string): unknown {
  if (!isPaypadError(e) || !/MAC_MISMATCH/.test(e.message)) return e;
  return Object.assign(
    new PaypadError(
      e.code,
      `${e.message}\nThe KMS does not recognise the TK of terminal ${serial}. Check that \`paypad mtms outbox\` shows its TK delivered (not pending or dead), ` +
        `and that the terminal's kmsUrl (\`paypad terminal status --state-dir ${stateDir}\`) is its customer's KMS. After a repair, onboard the terminal again first.`,
    ),
    { cause: e },
  );
}

const status: Command = {
  summary: "show the terminal's serial, key-loading stage and slot KCVs",
  help: `Usage: paypad terminal status --state-dir DIR

Prints JSON: serial, KMS URL, the check value of the pinned MTMS key, the stage (no-tk, tk,
tmk, signed-on), the last sequence number sent to the KMS, and each loaded slot's TR-31
attributes and KCV. Key bytes never leave the vault.
${STATE_DIR_HELP}`,
  async run(argv) {
    const f = parseFlags(argv, { 'state-dir': { type: 'string' } });
    return printJson(await openTerminal(required(f['state-dir'], 'state-dir')).status());
  },
};

export const terminalCommand: Command = commandGroup(
  'the emulated PIN pad: manufacture, local link, key loading, payments, program updates',
  'Usage: paypad terminal <command> [...]\n\nThe PIN pad firmware\'s key-loading application on the Node HAL, state in one directory.',
  { init, run, 'load-keys': loadKeys, status, pay: payCommand, update: updateCommand, reader: readerCommand },
);
