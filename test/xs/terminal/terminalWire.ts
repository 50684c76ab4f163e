/**
 * What Node asks the terminal core in XS (xsTerminal.ts -> terminalEntry.ts, over the worker's
 * handleCommand), and what it answers. The operations are the emulated terminal's
 * (bin/commands/terminal.ts): manufacture, the local link byte stream, TMK download, sign-on,
 * status. Encoded by wireCodec.ts both ways (JSON with raw byte blobs).
 *
 * The local link crosses as raw stream bytes, not as frames: the session that decodes frames and
 * answers them (firmware/core/localLinkService LocalLinkSession) runs in XS, as it runs on the
 * board behind its UART, and Node only moves TCP bytes (firmware/hal/node/localLinkServer).
 * Runs in XS and Node: no Node APIs.
 */
import type { MobilePayment } from '../../../firmware/core/paymentClient';
import type { SlotStatus, TerminalStatus } from '../../../firmware/core/terminal';
import type { MobileLookupResponse, MobilePayResponse } from '../../../shared/protocol/transactions';
import type { TerminalIdentity } from '../../../firmware/core/terminalIdentity';
import type { UpdateCheckResult } from '../../../firmware/core/updateClient';
import type { WireError } from './halWire';

export type TerminalCommand =
  /** provisionTerminal: stores the identity (TERMINAL_ALREADY_INITIALIZED if there is one). */
  | { cmd: 'manufacture'; identity: TerminalIdentity }
  /** Terminal.open over the bridged HAL; every command below needs it first. */
  | { cmd: 'boot' }
  | { cmd: 'link.open' }
  | { cmd: 'link.data'; session: number; data: Uint8Array }
  | { cmd: 'downloadTmk' }
  | { cmd: 'signOn' }
  /** POSP beside the KMS (paymentClient.ts): C3-C5, then C6-C8. */
  | { cmd: 'lookupPayee'; payeeMobile: string; payerMobile?: string }
  | { cmd: 'payByMobile'; payment: MobilePayment }
  | { cmd: 'status' }
  /** The update client (firmware/core/updateClient.ts) over the bridged Updater: start() at boot, then a check (B1-B4). */
  | { cmd: 'update.start'; config: UpdateConfig }
  | { cmd: 'update.check'; config: UpdateConfig }
  /** Nothing but a garbage collection: the baseline heap count a measured command is compared with. */
  | { cmd: 'collect' };

export type TerminalCommandName = TerminalCommand['cmd'];

/** What the firmware is built with for updates: its model, its program's name, the vendor's public keys. */
export interface UpdateConfig {
  model: string;
  programName: string;
  vendorKeys: Uint8Array[];
}

export interface TerminalResults {
  /** As `paypad terminal init` prints it (less the state directory, which only Node knows). */
  manufacture: { serial: string; kmsUrl: string; mtmsKeyCheck: string };
  boot: { serial: string };
  'link.open': { session: number };
  /** What the session wrote in answer, and whether it closed the stream. */
  'link.data': { data: Uint8Array; closed: boolean };
  downloadTmk: SlotStatus;
  signOn: SlotStatus[];
  lookupPayee: MobileLookupResponse;
  payByMobile: MobilePayResponse;
  status: TerminalStatus;
  'update.start': null;
  'update.check': UpdateCheckResult;
  collect: null;
}

/** A PaypadError from the core; a KMS or POSP refusal (KMS_REFUSED, POSP_REFUSED) also carries the peer's code and status. */
export interface TerminalWireError extends WireError {
  kmsCode?: string;
  pospCode?: string;
  status?: number;
}

/** `collect`: run the garbage collector before the command, so the meter's heap count is its own. */
export type TerminalRequest = TerminalCommand & { collect?: boolean };

export type TerminalReply<C extends TerminalCommandName = TerminalCommandName> = { ok: TerminalResults[C] } | { error: TerminalWireError };
