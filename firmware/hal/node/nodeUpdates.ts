/**
 * The emulated terminal's program updates, as its firmware would assemble them at a start: the
 * terminal of its state directory, the two program slots (the bootloader's decision made as they
 * open, slotUpdater.ts), and the terminal's update client and triggers (Terminal.openUpdates). For
 * `paypad terminal` and the end-to-end tests; call `client.start()` first, as a new program must.
 */
import { Terminal, type UpdateSetup } from '../../core/terminal';
import type { UpdateClient } from '../../core/updateClient';
import type { UpdateSchedule, UpdateTriggers } from '../../core/updateTriggers';
import type { Updater } from '../updater';
import { openNodeDevice } from './nodeDevice';
import { openSlotUpdater } from './slotUpdater';

export interface NodeUpdatesOptions {
  /** The terminal's model, as packages name it. */
  readonly model: string;
  /** The program packages replace. */
  readonly programName: string;
  /** The vendor's P-256 public keys (SEC 1 uncompressed) the firmware trusts. */
  readonly vendorKeys: readonly Uint8Array[];
  /** The program in slot a at manufacture. */
  readonly factoryVersion: string;
  /** What a restart into the new program means to the caller (exit and start again, in a test: a counter). */
  readonly restart: () => void;
  /** B5, as the terminal's configuration gives it. */
  readonly schedule?: UpdateSchedule;
  /**
   * Where a check a POSP answer's notice started ends (B6). The default ignores it: the CLI's
   * payments run in processes of their own, and ask with `paypad terminal update --trigger notice`.
   */
  readonly onNoticeCheck?: UpdateSetup['onNoticeCheck'];
}

export interface NodeUpdates {
  readonly terminal: Terminal;
  readonly client: UpdateClient;
  readonly triggers: UpdateTriggers;
  readonly updater: Updater;
}

export function openNodeUpdates(stateDir: string, options: NodeUpdatesOptions): NodeUpdates {
  const device = openNodeDevice(stateDir);
  const terminal = Terminal.open(device);
  const updater = openSlotUpdater(stateDir, { factoryVersion: options.factoryVersion, restart: options.restart });
  const { client, triggers } = terminal.openUpdates({
    updater,
    clock: device.clock,
    model: options.model,
    programName: options.programName,
    vendorKeys: options.vendorKeys,
    schedule: options.schedule,
    onNoticeCheck: options.onNoticeCheck ?? (() => undefined),
  });
  return { terminal, client, triggers, updater };
}
