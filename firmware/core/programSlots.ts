/**
 * An Updater (updater.ts) over two program slots and a boot record: what a platform without
 * ESP-IDF's OTA partitions provides for itself, the emulated terminal (slot files in its state
 * directory) and the Moddable simulator (slot files in the simulator's file system).
 *
 *   slot a, slot b    the images, as bytes (SlotImages below); slot a holds the factory program
 *   boot record       which slot boots, each slot's version, the trial: one value in Storage
 *
 * The boot record is one Storage value, which every Storage adapter replaces whole or not at all
 * (NVS commits; the emulator writes a temporary file and renames it), so a power cut in the middle
 * of a switch leaves the old record or the new one: the terminal always starts a whole program.
 * Opening the slots is the bootloader's decision, as ESP-IDF's with app rollback enabled:
 *
 *   trial 'pending'  (switched, never started)      -> start the new slot, mark the trial 'started'
 *   trial 'started'  (started, never confirmed)     -> go back to the previous slot: 'rolledBack'
 *
 * Runs in XS: no Node APIs.
 */
import { utf8ToBytes } from 'shared/bytes';
import { PaypadError } from 'shared/errors';
import { programVersion } from 'shared/protocol/updateVersion';
import { type Infer, decodeJson, object, oneOf, optional } from 'shared/protocol/validate';
import type { Storage } from '../hal/storage';
import type { StartKind, Updater } from '../hal/updater';
import { ImageWrite, imageInProgress } from './imageWrite';

export type SlotName = 'a' | 'b';

/** The platform's two image stores. Failures throw PaypadError('UPDATE_FAILED'). */
export interface SlotImages {
  /** Empties the slot. */
  clear(slot: SlotName): void;
  /** How many bytes the slot holds (0 when it never held any). */
  size(slot: SlotName): number;
  /** Writes `chunk` at `offset`; the bytes are kept before it returns. */
  write(slot: SlotName, offset: number, chunk: Uint8Array): void;
  /** `length` bytes from `offset`, all of them held. */
  read(slot: SlotName, offset: number, length: number): Uint8Array;
}

export interface ProgramSlotsOptions {
  /** The version of the program in slot a at manufacture. */
  readonly factoryVersion: string;
  /** What a reboot is on this platform (a test: a counter; the simulator: a line for its runner). */
  readonly restart: () => void;
}

/** Where the boot record lives in Storage (NVS names: at most 15 characters). */
export const BOOT_NAMESPACE = 'boot';
const BOOT_KEY = 'pointer';
const BOOT_RECORD_MAX = 256;

const bootRecordSchema = object({
  active: oneOf('a', 'b'),
  a: programVersion,
  b: optional(programVersion),
  trial: optional(oneOf('pending', 'started')),
});
type BootRecord = Infer<typeof bootRecordSchema>;

function other(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a';
}

/** Opens the slots, deciding which program starts (see above). */
export function openProgramSlots(images: SlotImages, boot: Storage, options: ProgramSlotsOptions): Updater {
  const readRecord = (): BootRecord => {
    const bytes = boot.get(BOOT_NAMESPACE, BOOT_KEY);
    if (bytes === undefined) return { active: 'a', a: programVersion(options.factoryVersion, 'factoryVersion') };
    return decodeJson(bytes, BOOT_RECORD_MAX, bootRecordSchema, 'boot record');
  };
  const writeRecord = (next: BootRecord): void => boot.set(BOOT_NAMESPACE, BOOT_KEY, utf8ToBytes(JSON.stringify(next)));

  let record = readRecord();
  let startKind: StartKind = 'normal';
  if (record.trial === 'pending') {
    record = { active: record.active, a: record.a, b: record.b, trial: 'started' };
    writeRecord(record);
    startKind = 'trial';
  } else if (record.trial === 'started') {
    record = { active: other(record.active), a: record.a, b: record.b };
    writeRecord(record);
    startKind = 'rolledBack';
  }
  const running = record.active;
  const inactive = other(running);
  let image: ImageWrite | undefined;

  return {
    currentVersion: (running === 'a' ? record.a : record.b) as string,
    startKind,
    begin(byteLength) {
      image = undefined;
      const next = ImageWrite.begin(byteLength);
      images.clear(inactive);
      image = next;
    },
    resume(byteLength, written) {
      image = undefined;
      const next = ImageWrite.resume(byteLength, written);
      const held = images.size(inactive);
      if (held < written) throw new PaypadError('UPDATE_STATE', `update: slot ${inactive} holds ${held} bytes, not the ${written} recorded`);
      image = next;
    },
    write(offset, chunk) {
      const state = imageInProgress(image, 'write()');
      state.checkWrite(offset, chunk);
      images.write(inactive, offset, chunk);
      state.wrote(offset, chunk.length);
    },
    read(offset, length) {
      imageInProgress(image, 'read()').checkRead(offset, length);
      return images.read(inactive, offset, length);
    },
    complete(version) {
      imageInProgress(image, 'complete()').checkComplete();
      programVersion(version, 'version');
      const next: BootRecord =
        inactive === 'a' ? { active: 'a', a: version, b: record.b, trial: 'pending' } : { active: 'b', a: record.a, b: version, trial: 'pending' };
      writeRecord(next);
      record = next;
      image = undefined;
    },
    cancel() {
      image = undefined;
    },
    confirm() {
      if (record.trial !== 'started') return;
      const confirmed: BootRecord = { active: record.active, a: record.a, b: record.b };
      writeRecord(confirmed);
      record = confirmed;
    },
    restart() {
      options.restart();
    },
  };
}
