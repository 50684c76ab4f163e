/**
 * Updater for builds without an update partition (the Moddable simulator on Linux and macOS): the
 * program slots of firmware/core/programSlots.ts as two files in the simulator's file system (Moddable's
 * `file` module, under config.file.root) and the boot record in its preference storage. Mapped as
 * module "platform/updater" for every platform but esp32 (manifest.json).
 *
 * What the simulator cannot do is run another program: mcsim runs the app it was built with. So a
 * download here is authenticated, MAC'd chunk by chunk, written, read back, hashed and checked
 * against the signed manifest exactly as on a board, and the switch, the trial start, the
 * confirmation and the rollback happen in the boot record as on a board; restart() says so on the
 * console and the simulator's runner (a person, the SDK test) starts it again. After that start the
 * terminal reports the installed version, confirms it and tells the TMS, as a new program would.
 */
import config from 'mc/config';
import { File } from 'file';
import { PaypadError } from 'shared/errors';
import { type SlotImages, type SlotName, openProgramSlots } from 'firmware/core/programSlots';
import type { Storage } from '../../storage';
import type { Updater } from '../../updater';

export function createUpdater(currentVersion: string, storage: Storage): Updater {
  const root = (config as { file?: { root?: string } }).file?.root ?? '/tmp/';
  return openProgramSlots(slotFiles(root), storage, {
    factoryVersion: currentVersion,
    restart() {
      trace('paypad: restart requested: the simulator starts the installed program when it is started again\n');
    },
  });
}

function slotFiles(root: string): SlotImages {
  const path = (slot: SlotName): string => `${root}paypad-slot-${slot}.bin`;
  const onFile = <T>(slot: SlotName, write: boolean, use: (file: File) => T): T => {
    let file: File | undefined;
    try {
      file = new File(path(slot), write);
      return use(file);
    } catch (e) {
      if (e instanceof PaypadError) throw e;
      throw new PaypadError('UPDATE_FAILED', `update: slot ${slot} (${e instanceof Error ? e.message : String(e)})`);
    } finally {
      file?.close();
    }
  };
  return {
    clear(slot) {
      if (File.exists(path(slot))) File.delete(path(slot));
      onFile(slot, true, () => undefined);
    },
    size(slot) {
      return File.exists(path(slot)) ? onFile(slot, false, (file) => file.length) : 0;
    },
    write(slot, offset, chunk) {
      // The module writes whole ArrayBuffers; a chunk may be a view into a larger one.
      const bytes = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk.buffer : chunk.slice().buffer;
      onFile(slot, true, (file) => {
        file.position = offset;
        file.write(bytes as ArrayBuffer); // flushed before it returns
      });
    },
    read(slot, offset, length) {
      return onFile(slot, false, (file) => {
        if (file.length < offset + length) throw new PaypadError('UPDATE_FAILED', `update: slot ${slot} is shorter than recorded`);
        file.position = offset;
        return new Uint8Array(file.read(ArrayBuffer, length));
      });
    },
  };
}
