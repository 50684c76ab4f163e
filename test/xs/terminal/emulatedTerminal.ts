/**
 * One running emulated PIN pad, whichever engine runs its core: Node (nodeTerminal.ts, the same
 * calls as `paypad terminal run` and `load-keys`) or XS (xsTerminal.ts). A scenario written
 * against this runs unchanged against both, so a test can hold their results side by side.
 *
 * The shapes are the CLI's (bin/commands/terminal.ts): `init` prints ManufactureResult,
 * `load-keys` prints LoadKeysResult, `status` prints TerminalStatus.
 */
import { PaypadError } from '../../../shared/errors';
import type { SlotStatus, TerminalDevice, TerminalStatus } from '../../../firmware/core/terminal';
import type { TerminalIdentity } from '../../../firmware/core/terminalIdentity';

export interface ManufactureResult {
  readonly serial: string;
  readonly kmsUrl: string;
  readonly mtmsKeyCheck: string;
  readonly stateDir: string;
}

export interface LoadKeysResult {
  readonly serial: string;
  /** KCV (hex) of TMK, PIK, MAK, TDK and DMK, as the terminal computed them after unwrapping. */
  readonly kcv: Readonly<Record<string, string>>;
}

export interface EmulatedTerminalOptions {
  /** Made by manufacture; everything the terminal knows is there. */
  readonly stateDir: string;
  /** Local link address; default 127.0.0.1 and any free port. */
  readonly linkHost?: string;
  readonly linkPort?: number;
  /** Replaces parts of the Node HAL: a seeded Rng for runs that must repeat byte for byte, a failing Http. */
  readonly hal?: Partial<Pick<TerminalDevice, 'rng' | 'http'>>;
}

export interface EmulatedTerminal {
  readonly serial: string;
  readonly linkHost: string;
  readonly linkPort: number;
  /** A11 then A12, as `paypad terminal load-keys` (holding the state directory's KMS lock). */
  loadKeys(): Promise<LoadKeysResult>;
  downloadTmk(): Promise<SlotStatus>;
  signOn(): Promise<SlotStatus[]>;
  status(): Promise<TerminalStatus>;
  /** Stops the link listener (and the engine); the state directory stays. */
  close(): Promise<void>;
}

/** How a terminal is made and started, per engine. */
export interface TerminalEngine {
  readonly name: 'node' | 'xs';
  manufacture(stateDir: string, identity: TerminalIdentity): Promise<ManufactureResult>;
  start(options: EmulatedTerminalOptions): Promise<EmulatedTerminal>;
}

/** What load-keys prints, from the slots the two steps loaded. */
export function loadKeysResult(serial: string, tmk: SlotStatus, workingKeys: readonly SlotStatus[]): LoadKeysResult {
  const kcv: Record<string, string> = {};
  for (const slot of [tmk, ...workingKeys]) {
    // Only status() reports unreadable slots; a load answers the slots it just sealed.
    if ('error' in slot) throw new PaypadError('INTERNAL', `${slot.slot} was loaded but reads back as ${slot.error}`);
    kcv[slot.slot] = slot.kcv;
  }
  return { serial, kcv };
}
