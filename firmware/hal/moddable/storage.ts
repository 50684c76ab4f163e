/**
 * Storage over Moddable's `preference` module: NVS on the ESP32, a file per domain in the
 * simulator. A namespace is a preference domain; values are stored as ArrayBuffer, the one
 * preference type that holds bytes.
 */
import Preference from 'preference';
import { PaypadError } from 'shared/errors';
import { storageNameProblem, storageValueProblem, type Storage } from '../storage';

export function createStorage(): Storage {
  return {
    get(namespace, key) {
      checkNames(namespace, key);
      const value = Preference.get(namespace, key);
      if (value === undefined) return undefined;
      // Another writer (an older firmware, a debugging session) stored a string or number here.
      if (!(value instanceof ArrayBuffer)) throw new PaypadError('STORAGE_CORRUPT', `storage ${namespace}/${key}: not a byte value`);
      return new Uint8Array(value);
    },
    set(namespace, key, value) {
      checkNames(namespace, key);
      const problem = storageValueProblem(value);
      if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
      // An ArrayBuffer of exactly the value (the view may be a window on a larger buffer),
      // wiped once NVS has its own copy.
      const copy = value.slice();
      try {
        Preference.set(namespace, key, copy.buffer);
      } catch (e) {
        throw new PaypadError('STORAGE_FAILED', `storage ${namespace}/${key}: write failed (${reason(e)})`);
      } finally {
        copy.fill(0);
      }
    },
    delete(namespace, key) {
      checkNames(namespace, key);
      try {
        Preference.delete(namespace, key);
      } catch (e) {
        throw new PaypadError('STORAGE_FAILED', `storage ${namespace}/${key}: delete failed (${reason(e)})`);
      }
    },
    keys(namespace) {
      const problem = storageNameProblem('namespace', namespace);
      if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
      return Preference.keys(namespace);
    },
  };
}

function checkNames(namespace: string, key: string): void {
  const problem = storageNameProblem('namespace', namespace) ?? storageNameProblem('key', key);
  if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
}

/** Platform error text (never value bytes: the platform never sees ours in a message). */
function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
