/**
 * The emulated terminal's Updater (firmware/hal/updater.ts): two program slots as directories and
 * a boot pointer, in the terminal's state directory:
 *
 *   D/program/slot-a/image, D/program/slot-b/image   the images (slot a holds the factory program)
 *   D/program/storage/boot/pointer                    which slot boots, each slot's version, the trial
 *
 * The boot pointer is written as the emulated NVS writes any value (fileStorage.ts: a temporary
 * file, fsync, rename over the old one, fsync of the directory), so a power cut in the middle of a
 * switch leaves the old pointer or the new one: the terminal always starts a whole program.
 * Opening the updater is the bootloader's decision, as ESP-IDF's with app rollback enabled:
 *
 *   trial 'pending'  (switched, never started)      -> start the new slot, mark the trial 'started'
 *   trial 'started'  (started, never confirmed)     -> go back to the previous slot: 'rolledBack'
 *
 * Each chunk is written in place at its offset and fsynced before write() returns, so the core may
 * record its progress right after.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToUtf8, utf8ToBytes } from 'shared/bytes';
import { PaypadError } from 'shared/errors';
import { programVersion } from 'shared/protocol/updateVersion';
import { object, oneOf, optional } from 'shared/protocol/validate';
import type { StartKind, Updater } from '../updater';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, createFileStorage, errnoOf } from './fileStorage';

export const PROGRAM_DIR = 'program';
type SlotName = 'a' | 'b';

const pointerSchema = object({
  active: oneOf('a', 'b'),
  a: programVersion,
  b: optional(programVersion),
  trial: optional(oneOf('pending', 'started')),
});
type BootPointer = ReturnType<typeof pointerSchema>;

const other = (slot: SlotName): SlotName => (slot === 'a' ? 'b' : 'a');

export interface SlotUpdaterOptions {
  /** The version of the program in slot a at manufacture. */
  readonly factoryVersion: string;
  /** What "reboot" means to the emulated terminal's host (a test, the CLI). */
  readonly restart: () => void;
}

/** Opens the slots of the terminal in `stateDir`, deciding which program starts (see above). */
export function openSlotUpdater(stateDir: string, options: SlotUpdaterOptions): Updater {
  const root = join(stateDir, PROGRAM_DIR);
  mkdirSync(join(root, 'slot-a'), { recursive: true, mode: PRIVATE_DIR_MODE });
  mkdirSync(join(root, 'slot-b'), { recursive: true, mode: PRIVATE_DIR_MODE });
  const nvs = createFileStorage(root);
  const readPointer = (): BootPointer => {
    const bytes = nvs.get('boot', 'pointer');
    if (bytes === undefined) return { active: 'a', a: programVersion(options.factoryVersion, 'factoryVersion') };
    return pointerSchema(JSON.parse(bytesToUtf8(bytes)), 'boot pointer');
  };
  const writePointer = (next: BootPointer): void => nvs.set('boot', 'pointer', utf8ToBytes(JSON.stringify(next)));

  let pointer = readPointer();
  let startKind: StartKind = 'normal';
  if (pointer.trial === 'pending') {
    pointer = { ...pointer, trial: 'started' };
    writePointer(pointer);
    startKind = 'trial';
  } else if (pointer.trial === 'started') {
    pointer = { active: other(pointer.active), a: pointer.a, ...(pointer.b === undefined ? {} : { b: pointer.b }) };
    writePointer(pointer);
    startKind = 'rolledBack';
  }
  const running = pointer.active;
  const inactive = other(running);
  const imageFile = join(root, `slot-${inactive}`, 'image');
  let update: { size: number; written: number } | undefined;

  const inProgress = (what: string): { size: number; written: number } => {
    if (update === undefined) throw new PaypadError('UPDATE_STATE', `update: ${what} before begin() or resume()`);
    return update;
  };
  const onFile = <T>(flags: string, use: (fd: number) => T): T => {
    let fd: number | undefined;
    try {
      fd = openSync(imageFile, flags, PRIVATE_FILE_MODE);
      return use(fd);
    } catch (e) {
      if (e instanceof PaypadError) throw e;
      throw new PaypadError('UPDATE_FAILED', `update: slot ${inactive} (${errnoOf(e)})`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
  const checkSize = (byteLength: number): void => {
    if (!Number.isSafeInteger(byteLength) || byteLength < 1) throw new PaypadError('BAD_ARGUMENT', 'update: byteLength must be a positive integer');
  };

  return {
    currentVersion: (running === 'a' ? pointer.a : pointer.b) as string,
    startKind,
    begin(byteLength) {
      checkSize(byteLength);
      onFile('w', (fd) => fsyncSync(fd));
      update = { size: byteLength, written: 0 };
    },
    resume(byteLength, written) {
      checkSize(byteLength);
      let held = 0;
      try {
        held = statSync(imageFile).size;
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') throw new PaypadError('UPDATE_FAILED', `update: slot ${inactive} (${errnoOf(e)})`);
      }
      if (!Number.isSafeInteger(written) || written < 0 || written > byteLength || held < written) {
        throw new PaypadError('UPDATE_STATE', `update: slot ${inactive} holds ${held} bytes, not the ${written} recorded`);
      }
      update = { size: byteLength, written };
    },
    write(offset, chunk) {
      const state = inProgress('write()');
      if (!(chunk instanceof Uint8Array) || !Number.isSafeInteger(offset) || offset < 0 || offset > state.written || offset + chunk.length > state.size) {
        throw new PaypadError('UPDATE_STATE', `update: a write at ${offset} does not continue the ${state.written} of ${state.size} bytes written`);
      }
      onFile('r+', (fd) => {
        for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done, offset + done);
        fsyncSync(fd);
      });
      state.written = Math.max(state.written, offset + chunk.length);
    },
    read(offset, length) {
      const state = inProgress('read()');
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 1 || offset + length > state.written) {
        throw new PaypadError('UPDATE_STATE', `update: read outside the ${state.written} bytes written`);
      }
      return onFile('r', (fd) => {
        const out = new Uint8Array(length);
        for (let done = 0; done < length; ) {
          const n = readSync(fd, out, done, length - done, offset + done);
          if (n === 0) throw new PaypadError('UPDATE_FAILED', `update: slot ${inactive} is shorter than recorded`);
          done += n;
        }
        return out;
      });
    },
    complete(version) {
      const state = inProgress('complete()');
      if (state.written !== state.size) throw new PaypadError('UPDATE_STATE', `update: complete() after ${state.written} of ${state.size} bytes`);
      programVersion(version, 'version');
      const next: BootPointer = { ...pointer, active: inactive, [inactive]: version, trial: 'pending' };
      writePointer(next);
      pointer = next;
      update = undefined;
    },
    cancel() {
      update = undefined;
    },
    confirm() {
      if (pointer.trial !== 'started') return;
      const { trial: _started, ...confirmed } = pointer;
      writePointer(confirmed);
      pointer = confirmed;
    },
    restart() {
      options.restart();
    },
  };
}
