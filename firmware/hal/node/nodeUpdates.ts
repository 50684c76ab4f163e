/**
 * The emulated terminal's program updates, as its firmware would assemble them at a start: the
 * device of its state directory, its vault, the two program slots (the bootloader's decision made
 * as they open, slotUpdater.ts) and the update client (firmware/core/updateClient.ts). For
 * `paypad terminal` and the end-to-end tests; call `client.start()` first, as a new program must.
 */
import { KeyVault } from '../../core/keyVault';
import { KmsClient } from '../../core/kmsClient';
import { loadTerminalIdentity } from '../../core/terminalIdentity';
import { UpdateClient } from '../../core/updateClient';
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
}

export interface NodeUpdates {
  readonly client: UpdateClient;
  readonly updater: Updater;
}

export function openNodeUpdates(stateDir: string, options: NodeUpdatesOptions): NodeUpdates {
  const device = openNodeDevice(stateDir);
  const identity = loadTerminalIdentity(device.storage);
  const vault = new KeyVault({ storage: device.storage, rng: device.rng, rootKey: device.rootKey, serial: identity.serial });
  const kms = new KmsClient({ identity, vault, storage: device.storage, http: device.http });
  const updater = openSlotUpdater(stateDir, { factoryVersion: options.factoryVersion, restart: options.restart });
  const client = new UpdateClient({
    identity,
    vault,
    storage: device.storage,
    http: device.http,
    rng: device.rng,
    clock: device.clock,
    updater,
    model: options.model,
    programName: options.programName,
    vendorKeys: options.vendorKeys,
    // MAK speaks for the terminal only when it belongs to the TMK the vault holds now (kmsClient.ts).
    signedOn: () => kms.signOnKeyId() === 'MAK',
  });
  return { client, updater };
}
