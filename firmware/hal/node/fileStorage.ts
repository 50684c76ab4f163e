/**
 * HAL Storage for the emulated terminal: one file per value in the state directory,
 *
 *   <stateDir>/storage/<namespace>.ns/<key>.val
 *
 * with the device's limits (names of at most 15 characters from [A-Za-z0-9_.-], values of 1 to
 * 4000 bytes: firmware/hal/storage.ts), so code that runs here also fits NVS. The suffixes keep
 * every valid name, "." and ".." included, an ordinary file name.
 *
 * A write is atomic and durable, as an NVS commit is: the value goes to a new file in
 * <stateDir>/tmp, which is fsynced and renamed over the old one, then the directory is fsynced.
 * A crash leaves the old value or the new one, never a mix (POSIX rename(2)). Files are 0600 and
 * directories 0700: the vault's records are sealed, but the state is still nobody else's.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PaypadError } from 'shared/errors';
import { STORAGE_VALUE_MAX, type Storage, storageNameProblem, storageValueProblem } from '../storage';

export const STORAGE_DIR = 'storage';
export const SCRATCH_DIR = 'tmp';
const NAMESPACE_SUFFIX = '.ns';
const VALUE_SUFFIX = '.val';
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** The errno code of a Node fs error ('ENOENT'...): names the failure, never the data. */
export function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? 'error';
}

function checkNames(namespace: string, key?: string): void {
  const problem = storageNameProblem('namespace', namespace) ?? (key === undefined ? undefined : storageNameProblem('key', key));
  if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
}

/** fsync of a directory makes a rename in it durable (POSIX); platforms that refuse it lose nothing else. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EACCES'].includes(errnoOf(e))) throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function createFileStorage(stateDir: string): Storage {
  const root = join(stateDir, STORAGE_DIR);
  const scratch = join(stateDir, SCRATCH_DIR);
  const namespaceDir = (namespace: string) => join(root, namespace + NAMESPACE_SUFFIX);
  const valueFile = (namespace: string, key: string) => join(namespaceDir(namespace), key + VALUE_SUFFIX);

  return {
    get(namespace, key) {
      checkNames(namespace, key);
      let bytes: Buffer;
      try {
        bytes = readFileSync(valueFile(namespace, key));
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') return undefined;
        throw new PaypadError('STORAGE_FAILED', `storage ${namespace}/${key}: read failed (${errnoOf(e)})`);
      }
      if (bytes.length === 0 || bytes.length > STORAGE_VALUE_MAX) {
        throw new PaypadError('STORAGE_CORRUPT', `storage ${namespace}/${key}: ${bytes.length} bytes on disk, a value has 1 to ${STORAGE_VALUE_MAX}`);
      }
      return new Uint8Array(bytes);
    },

    set(namespace, key, value) {
      checkNames(namespace, key);
      const problem = storageValueProblem(value);
      if (problem) throw new PaypadError('STORAGE_LIMIT', problem);
      const dir = namespaceDir(namespace);
      const temp = join(scratch, `${randomBytes(8).toString('hex')}.tmp`);
      try {
        mkdirSync(scratch, { recursive: true, mode: PRIVATE_DIR_MODE });
        mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
        const fd = openSync(temp, 'wx', PRIVATE_FILE_MODE);
        try {
          for (let done = 0; done < value.length; ) done += writeSync(fd, value, done, value.length - done);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(temp, valueFile(namespace, key));
        syncDirectory(dir);
      } catch (e) {
        rmSync(temp, { force: true });
        throw new PaypadError('STORAGE_FAILED', `storage ${namespace}/${key}: write failed (${errnoOf(e)})`);
      }
    },

    delete(namespace, key) {
      checkNames(namespace, key);
      try {
        unlinkSync(valueFile(namespace, key));
        syncDirectory(namespaceDir(namespace));
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') return;
        throw new PaypadError('STORAGE_FAILED', `storage ${namespace}/${key}: delete failed (${errnoOf(e)})`);
      }
    },

    keys(namespace) {
      checkNames(namespace);
      let names: string[];
      try {
        names = readdirSync(namespaceDir(namespace));
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') return [];
        throw new PaypadError('STORAGE_FAILED', `storage ${namespace}: listing failed (${errnoOf(e)})`);
      }
      return names
        .filter((name) => name.endsWith(VALUE_SUFFIX))
        .map((name) => name.slice(0, -VALUE_SUFFIX.length))
        .filter((key) => storageNameProblem('key', key) === undefined);
    },
  };
}
