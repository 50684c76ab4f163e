/**
 * The terminal firmware core in XS (bundled by test/xs/bundle.ts, driven by xsTerminal.ts): the
 * key-loading application (firmware/core/terminal) on a HAL whose every call is a round trip to
 * the Node HAL (bridgedDevice.ts), answering terminalWire's commands through handleCommand.
 *
 * The crypto primitives are shared/crypto/primitives' compact ones: no tables at import, so the
 * TK export's ECDH fits a ~150 KB heap (docs/firmware.md "Device budget"). Replies are `{ result: ArrayBuffer }` filled in by
 * a promise job; xsnap-worker runs every job before it reads `result` (test/xs/entry.ts).
 * Runs in XS: no Node APIs.
 */
import { concatBytes } from '../../../shared/bytes';
import { PaypadError, isPaypadError } from '../../../shared/errors';
import { KmsRefusal } from '../../../firmware/core/kmsClient';
import { PospRefusal } from '../../../firmware/core/paymentClient';
import { LocalLinkSession } from '../../../firmware/core/localLinkService';
import { Terminal } from '../../../firmware/core/terminal';
import { loadTerminalIdentity, provisionTerminal, publicKeyCheckValue } from '../../../firmware/core/terminalIdentity';
import { KeyVault } from '../../../firmware/core/keyVault';
import { UpdateClient } from '../../../firmware/core/updateClient';
import { TmsRefusal } from '../../../firmware/core/tmsExchange';
import { type IssueCommand, createBridgedDevice } from './bridgedDevice';
import { decodeWire, encodeWire } from './wireCodec';
import type { TerminalCommand, TerminalReply, TerminalRequest, TerminalWireError, UpdateConfig } from './terminalWire';

declare const issueCommand: IssueCommand;
declare const gc: () => void;

interface ReplyBox {
  result?: ArrayBuffer;
}

/** One local-link connection: its session and what the session wrote since the last command. */
interface LinkConnection {
  readonly session: LocalLinkSession;
  readonly written: Uint8Array[];
  closed: boolean;
}

let device: ReturnType<typeof createBridgedDevice> | undefined;
let updates: UpdateClient | undefined;
let terminal: Terminal | undefined;
/**
 * Open link sessions. One lives until it closes itself (an oversized frame) or the worker ends:
 * the Node listener (firmware/hal/node/localLinkServer) tells a connection's handler nothing of
 * the socket's end, so Node cannot ask for it to be dropped. Each is a frame decoder and a few
 * closures; a bench or test opens a handful.
 */
const connections = new Map<number, LinkConnection>();
let nextSession = 1;

function theDevice(): ReturnType<typeof createBridgedDevice> {
  device ??= createBridgedDevice(issueCommand);
  return device;
}

function booted(): Terminal {
  if (!terminal) throw new PaypadError('TERMINAL_STATE', 'the terminal has not booted');
  return terminal;
}

/**
 * The update client as firmware/main would build it, over the bridged HAL; the terminal's own
 * vault (a second KeyVault over the same storage: the vault keeps no key in memory) and a clock
 * that is the engine's. Made once per worker, as once per boot on the device.
 */
function updateClient(config: UpdateConfig): UpdateClient {
  const d = theDevice();
  const identity = loadTerminalIdentity(d.storage);
  updates ??= new UpdateClient({
    identity,
    vault: new KeyVault({ storage: d.storage, rng: d.rng, rootKey: d.rootKey, serial: identity.serial }),
    storage: d.storage,
    http: d.http,
    rng: d.rng,
    clock: { now: () => Date.now(), monotonic: () => Date.now(), set: () => undefined, isSet: () => true },
    updater: d.updater,
    model: config.model,
    programName: config.programName,
    vendorKeys: config.vendorKeys,
    signedOn: () => true,
  });
  return updates;
}

function connection(session: number): LinkConnection {
  const found = connections.get(session);
  if (!found) throw new PaypadError('BAD_ARGUMENT', `no local-link session ${session}`);
  return found;
}

function openLink(): number {
  const written: Uint8Array[] = [];
  const id = nextSession++;
  const link: LinkConnection = {
    written,
    closed: false,
    session: new LocalLinkSession(booted(), {
      write: (bytes) => written.push(bytes),
      close: () => (link.closed = true),
    }),
  };
  connections.set(id, link);
  return id;
}

async function linkData(session: number, data: Uint8Array): Promise<{ data: Uint8Array; closed: boolean }> {
  const link = connection(session);
  await link.session.receive(data);
  const out = concatBytes(...link.written.splice(0));
  // A closed session answers nothing more: forget it once its last words are out.
  if (link.closed) connections.delete(session);
  return { data: out, closed: link.closed };
}

async function run(command: TerminalCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'manufacture': {
      const stored = provisionTerminal(theDevice().storage, command.identity);
      return { serial: stored.serial, kmsUrl: stored.kmsUrl, mtmsKeyCheck: publicKeyCheckValue(stored.mtmsPublicKey) };
    }
    case 'boot':
      terminal = Terminal.open(theDevice());
      return { serial: terminal.serial };
    case 'link.open':
      return { session: openLink() };
    case 'link.data':
      return linkData(command.session, command.data);
    case 'downloadTmk':
      return booted().downloadTmk();
    case 'signOn':
      return booted().signOn();
    case 'lookupPayee':
      return booted().lookupPayee(command.payeeMobile, command.payerMobile);
    case 'payByMobile':
      return booted().payByMobile(command.payment);
    case 'status':
      return booted().status();
    case 'update.start':
      return updateClient(command.config).start().then(() => null);
    case 'update.check':
      return updateClient(command.config).check('manual');
    case 'collect':
      gc();
      return null;
    default:
      throw new PaypadError('BAD_ARGUMENT', `unknown terminal command ${JSON.stringify(String((command as { cmd?: unknown }).cmd).slice(0, 32))}`);
  }
}

function wireError(e: unknown): TerminalWireError {
  if (e instanceof KmsRefusal) return { code: e.code, message: e.message, kmsCode: e.kmsCode, status: e.status };
  if (e instanceof PospRefusal) return { code: e.code, message: e.message, pospCode: e.pospCode, status: e.status };
  if (e instanceof TmsRefusal) return { code: e.code, message: e.message, status: e.status };
  if (isPaypadError(e)) return { code: e.code, message: e.message };
  // Not a typed failure: a bug in the core or this harness. Name it, for the test to show.
  return { code: 'INTERNAL', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

function toBuffer(reply: TerminalReply): ArrayBuffer {
  return encodeWire(reply).buffer as ArrayBuffer;
}

(globalThis as unknown as { handleCommand: (message: ArrayBuffer) => ReplyBox }).handleCommand = (message) => {
  const box: ReplyBox = {};
  let request: TerminalRequest;
  try {
    request = decodeWire(new Uint8Array(message)) as TerminalRequest;
  } catch (e) {
    box.result = toBuffer({ error: wireError(e) });
    return box;
  }
  if (typeof request !== 'object' || request === null) {
    box.result = toBuffer({ error: { code: 'BAD_ARGUMENT', message: 'terminal command: expected an object' } });
    return box;
  }
  if (request.collect === true) gc();
  run(request).then(
    (ok) => (box.result = toBuffer({ ok } as TerminalReply)),
    (e: unknown) => (box.result = toBuffer({ error: wireError(e) })),
  );
  return box;
};
