/**
 * The emulated PIN pad with its core in the XS engine (SPEC X3; issue 3): the key-loading
 * application (firmware/core/terminal) runs in xsnap-worker (terminalEntry.ts), its HAL bridged to the
 * emulated terminal's Node HAL (firmware/hal/node) by halDispatcher.ts, so its storage lands in
 * the state directory and its HTTPS goes to the KMS with the pinned CA. The local link listens in
 * Node (firmware/hal/node/localLinkServer) and moves each connection's bytes to a session in XS.
 *
 * Interchangeable with the Node engine (emulatedTerminal.ts). XsTerminalCore is the same core
 * without the listener, command by command with the worker's meter (bench/xs-onboarding.ts).
 */
import { fileURLToPath } from 'node:url';
import { PaypadError } from '../../../shared/errors';
import type { MobilePayment } from '../../../firmware/core/paymentClient';
import type { SlotStatus, TerminalStatus } from '../../../firmware/core/terminal';
import type { MobileLookupResponse, MobilePayResponse } from '../../../shared/protocol/transactions';
import type { TerminalIdentity } from '../../../firmware/core/terminalIdentity';
import { type LinkConnection, type LinkStream, listenLocalLink } from '../../../firmware/hal/node/localLinkServer';
import { openNodeDevice } from '../../../firmware/hal/node/nodeDevice';
import { lockKmsExchanges } from '../../../firmware/hal/node/stateLock';
import { bundleForXs } from '../bundle';
import { type XsMeter, XsWorker, XsWorkerError, type XsWorkerOptions } from '../xsWorker';
import { type EmulatedTerminal, type EmulatedTerminalOptions, type LoadKeysResult, type ManufactureResult, type TerminalEngine, loadKeysResult } from './emulatedTerminal';
import { type BridgeTraffic, type HalDispatcher, createHalDispatcher } from './halDispatcher';
import type { TerminalCommand, TerminalCommandName, TerminalReply, TerminalResults, TerminalWireError } from './terminalWire';
import { decodeWire, encodeWire } from './wireCodec';

export const XS_TERMINAL_ENTRY = fileURLToPath(new URL('./terminalEntry.ts', import.meta.url));

export interface XsTerminalOptions extends EmulatedTerminalOptions {
  /** `engine`: xs-budget (test/xs/budget) to run the core in the ESP32's fixed memory. */
  readonly worker?: Pick<XsWorkerOptions, 'timeoutMs' | 'meteringLimit' | 'engine'>;
}

export interface XsTerminalCoreOptions extends Pick<XsTerminalOptions, 'hal' | 'worker'> {
  /**
   * A ready script in place of a bundle, such as xs-budget's module loader
   * (test/xs/budget/deviceModules.ts importScript): if it evaluates to bytes, they say why
   * loading failed.
   */
  readonly script?: string;
}

/** A KMS or POSP refusal keeps the peer's code and status across the engine boundary, as KmsRefusal and PospRefusal have them. */
export type TerminalError = PaypadError & { readonly kmsCode?: string; readonly pospCode?: string; readonly status?: number };

function terminalError(wire: TerminalWireError): TerminalError {
  const error = new PaypadError(wire.code, wire.message);
  if (wire.pospCode !== undefined) return Object.assign(error, { pospCode: wire.pospCode, status: wire.status });
  return wire.kmsCode === undefined ? error : Object.assign(error, { kmsCode: wire.kmsCode, status: wire.status });
}

/**
 * The core in one worker over one state directory's HAL, without the link listener: what
 * XsTerminal runs, and what bench/xs-onboarding.ts meters command by command.
 */
export class XsTerminalCore {
  private constructor(
    /** For heap snapshots. */
    readonly worker: XsWorker,
    private readonly dispatcher: HalDispatcher,
  ) {}

  /** A worker with the core loaded, not booted; `manufacture` makes the root key first (as init does). */
  static async start(stateDir: string, options: XsTerminalCoreOptions = {}, manufacture = false): Promise<XsTerminalCore> {
    const device = { ...openNodeDevice(stateDir, { manufacture }), ...options.hal };
    const dispatcher = createHalDispatcher(device);
    const script = options.script ?? (await bundleForXs(XS_TERMINAL_ENTRY));
    const worker = await XsWorker.start(script, { name: 'xs-terminal', ...options.worker, onCommand: dispatcher.onCommand });
    if (worker.startReply.bytes.length > 0) {
      await worker.close();
      throw new XsWorkerError(`xs-terminal: loading failed: ${new TextDecoder().decode(worker.startReply.bytes)}`);
    }
    return new XsTerminalCore(worker, dispatcher);
  }

  /** One command; a PaypadError in XS is thrown here with the same code and message. `collect` runs a GC first. */
  async call<C extends TerminalCommandName>(command: Extract<TerminalCommand, { cmd: C }>, options: { collect?: boolean } = {}): Promise<{ result: TerminalResults[C]; meter: XsMeter }> {
    const { bytes, meter } = await this.worker.command(encodeWire({ ...command, ...(options.collect ? { collect: true } : {}) }));
    const reply = decodeWire(bytes) as TerminalReply<C>;
    if ('error' in reply) throw terminalError(reply.error);
    if (!('ok' in reply)) throw new XsWorkerError(`xs-terminal: the answer to ${command.cmd} has neither ok nor error`);
    return { result: reply.ok, meter };
  }

  /** HAL round trips the core made since resetTraffic(), per call name. */
  get traffic(): BridgeTraffic {
    return this.dispatcher.traffic;
  }

  resetTraffic(): void {
    this.dispatcher.resetTraffic();
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

export class XsTerminal implements EmulatedTerminal {
  private closed = false;

  private constructor(
    private readonly core: XsTerminalCore,
    private readonly stateDir: string,
    readonly serial: string,
    readonly linkHost: string,
    readonly linkPort: number,
    private readonly closeLink: () => Promise<void>,
  ) {}

  /**
   * `paypad terminal init` with the core in XS: the root key is made in Node (it is the platform's
   * secret, like NVS on the board), the identity is validated and stored by the core.
   */
  static async manufacture(stateDir: string, identity: TerminalIdentity, options: Pick<XsTerminalOptions, 'worker'> = {}): Promise<ManufactureResult> {
    const core = await XsTerminalCore.start(stateDir, options, true);
    try {
      const { result } = await core.call({ cmd: 'manufacture', identity });
      return { ...result, stateDir };
    } finally {
      await core.close();
    }
  }

  /** Boots the core in a new worker and opens the local link. */
  static async start(options: XsTerminalOptions): Promise<XsTerminal> {
    const core = await XsTerminalCore.start(options.stateDir, options);
    try {
      const { result } = await core.call({ cmd: 'boot' });
      const server = await listenLocalLink({
        host: options.linkHost ?? '127.0.0.1',
        port: options.linkPort ?? 0,
        connect: (stream) => linkConnection(core, stream),
      });
      return new XsTerminal(core, options.stateDir, result.serial, server.host, server.port, () => server.close());
    } catch (e) {
      await core.close();
      throw e;
    }
  }

  async loadKeys(): Promise<LoadKeysResult> {
    return this.withKmsLock(async () => {
      const tmk = (await this.core.call({ cmd: 'downloadTmk' })).result;
      return loadKeysResult(this.serial, tmk, (await this.core.call({ cmd: 'signOn' })).result);
    });
  }

  downloadTmk(): Promise<SlotStatus> {
    return this.withKmsLock(async () => (await this.core.call({ cmd: 'downloadTmk' })).result);
  }

  signOn(): Promise<SlotStatus[]> {
    return this.withKmsLock(async () => (await this.core.call({ cmd: 'signOn' })).result);
  }

  async status(): Promise<TerminalStatus> {
    return (await this.core.call({ cmd: 'status' })).result;
  }

  /** C3-C5 through POSP beside the KMS (firmware/core/paymentClient.ts). */
  lookupPayee(payeeMobile: string, payerMobile?: string): Promise<MobileLookupResponse> {
    return this.withKmsLock(async () => (await this.core.call({ cmd: 'lookupPayee', payeeMobile, ...(payerMobile === undefined ? {} : { payerMobile }) })).result);
  }

  /** C6-C8: the core enciphers the track and the PIN in its vault, in XS. */
  payByMobile(payment: MobilePayment): Promise<MobilePayResponse> {
    return this.withKmsLock(async () => (await this.core.call({ cmd: 'payByMobile', payment })).result);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.closeLink();
    } finally {
      await this.core.close();
    }
  }

  /** As `paypad terminal load-keys`: one process at a time talks to the KMS for a state directory. */
  private async withKmsLock<T>(work: () => Promise<T>): Promise<T> {
    const release = lockKmsExchanges(this.stateDir);
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/**
 * One TCP connection: a session in XS, opened at once, fed the bytes as they arrive. Its answers
 * go back on the socket, and when the session closes (a frame too long to resynchronise after)
 * so does the socket. listenLocalLink pauses the socket until receive settles.
 */
function linkConnection(core: XsTerminalCore, stream: LinkStream): LinkConnection {
  const opened = core.call({ cmd: 'link.open' });
  // A connection that closes before sending anything never awaits it; receive() reports failures.
  opened.catch(() => undefined);
  return {
    async receive(chunk) {
      try {
        const { session } = (await opened).result;
        const { data, closed } = (await core.call({ cmd: 'link.data', session, data: chunk })).result;
        if (data.length > 0) stream.write(data);
        if (closed) stream.close();
      } catch {
        // The engine is gone (closed, or failed): the board would stop answering; hang up instead.
        stream.close();
      }
    },
  };
}

export const xsTerminalEngine: TerminalEngine = {
  name: 'xs',
  manufacture: (stateDir, identity) => XsTerminal.manufacture(stateDir, identity),
  start: (options) => XsTerminal.start(options),
};
