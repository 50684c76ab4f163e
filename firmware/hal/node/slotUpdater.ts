/**
 * The emulated terminal's program slots (../programSlots.ts) as files in its state directory:
 *
 *   D/program/slot-a/image, D/program/slot-b/image   the images (slot a holds the factory program)
 *   D/program/storage/boot/pointer                    the boot record
 *
 * The boot record is written as the emulated NVS writes any value (fileStorage.ts: a temporary
 * file, fsync, rename over the old one, fsync of the directory). Each chunk is written in place at
 * its offset and fsynced before write() returns, so the core may record its progress right after.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PaypadError } from 'shared/errors';
import { type ProgramSlotsOptions, type SlotImages, type SlotName, openProgramSlots } from '../../core/programSlots';
import type { Updater } from '../updater';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, createFileStorage, errnoOf } from './fileStorage';

export const PROGRAM_DIR = 'program';

/** Opens the slots of the terminal in `stateDir`, deciding which program starts. */
export function openSlotUpdater(stateDir: string, options: ProgramSlotsOptions): Updater {
  const root = join(stateDir, PROGRAM_DIR);
  mkdirSync(join(root, 'slot-a'), { recursive: true, mode: PRIVATE_DIR_MODE });
  mkdirSync(join(root, 'slot-b'), { recursive: true, mode: PRIVATE_DIR_MODE });
  return openProgramSlots(slotFiles(root), createFileStorage(root), options);
}

function slotFiles(root: string): SlotImages {
  const imageFile = (slot: SlotName): string => join(root, `slot-${slot}`, 'image');
  const onFile = <T>(slot: SlotName, flags: string, use: (fd: number) => T): T => {
    let fd: number | undefined;
    try {
      fd = openSync(imageFile(slot), flags, PRIVATE_FILE_MODE);
      return use(fd);
    } catch (e) {
      if (e instanceof PaypadError) throw e;
      throw new PaypadError('UPDATE_FAILED', `update: slot ${slot} (${errnoOf(e)})`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
  return {
    clear(slot) {
      onFile(slot, 'w', (fd) => fsyncSync(fd));
    },
    size(slot) {
      try {
        return statSync(imageFile(slot)).size;
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') return 0;
        throw new PaypadError('UPDATE_FAILED', `update: slot ${slot} (${errnoOf(e)})`);
      }
    },
    write(slot, offset, chunk) {
      onFile(slot, 'r+', (fd) => {
        for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done, offset + done);
        fsyncSync(fd);
      });
    },
    read(slot, offset, length) {
      return onFile(slot, 'r', (fd) => {
        const out = new Uint8Array(length);
        for (let done = 0; done < length; ) {
          const n = readSync(fd, out, done, length - done, offset + done);
          if (n === 0) throw new PaypadError('UPDATE_FAILED', `update: slot ${slot} is shorter than recorded`);
          done += n;
        }
        return out;
      });
    },
  };
}
