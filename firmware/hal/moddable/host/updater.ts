/**
 * Updater for builds without an update partition (the Moddable simulator on macOS/Linux). It
 * reports the running version and refuses to start an update, so the core's update flow fails
 * with a typed error instead of pretending. Mapped as module "platform/updater" for every
 * platform but esp32 (manifest.json).
 */
import { PaypadError } from 'shared/errors';
import type { Updater } from '../../updater';

export function createUpdater(currentVersion: string): Updater {
  const unsupported = (what: string) => new PaypadError('UPDATE_UNSUPPORTED', `update: ${what} needs a board with OTA partitions, not the simulator`);
  return {
    currentVersion,
    startKind: 'normal',
    begin() {
      throw unsupported('begin()');
    },
    resume() {
      throw unsupported('resume()');
    },
    read() {
      throw new PaypadError('UPDATE_STATE', 'update: read() before begin()');
    },
    write() {
      throw new PaypadError('UPDATE_STATE', 'update: write() before begin()');
    },
    complete() {
      throw new PaypadError('UPDATE_STATE', 'update: complete() before begin()');
    },
    cancel() {
      // Nothing can be in progress.
    },
    confirm() {
      // Nothing was ever installed: the running program is the one built.
    },
    restart() {
      throw unsupported('restart()');
    },
  };
}
