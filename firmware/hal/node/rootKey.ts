/**
 * The emulated terminal's device root key (docs/key-loading.md "Keys"): the HAL secret that seals
 * every key vault slot at rest. On the ESP32 it lives in NVS; here it is <stateDir>/root.key,
 * 32 random bytes (AES-256), mode 0600, made once at manufacture (`paypad terminal init`).
 *
 * It is only ever created by ensureRootKey. Every later start reads it and fails if it is missing:
 * making a new one then would silently orphan every sealed slot (they would fail as
 * VAULT_RECORD_INVALID). A file that others can read is refused too (as ssh refuses such a key):
 * anyone who reads it can open the vault.
 */
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, type Rng } from 'shared/bytes';
import { PaypadError } from 'shared/errors';
import { errnoOf, PRIVATE_FILE_MODE, syncDirectory } from './fileStorage';

export const ROOT_KEY_FILE = 'root.key';
export const ROOT_KEY_BYTES = 32;

/** The root key of the terminal in `stateDir`. ROOT_KEY_INVALID when missing, exposed or the wrong size. */
export function readRootKey(stateDir: string): Uint8Array {
  const path = join(stateDir, ROOT_KEY_FILE);
  let bytes: Buffer;
  try {
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
      throw new PaypadError('ROOT_KEY_INVALID', `${path} can be read by other users: chmod 600 it, and consider the vault exposed`);
    }
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof PaypadError) throw e;
    const reason = errnoOf(e) === 'ENOENT' ? 'is missing (was the terminal made with paypad terminal init?)' : `cannot be read (${errnoOf(e)})`;
    throw new PaypadError('ROOT_KEY_INVALID', `the device root key ${path} ${reason}`);
  }
  if (bytes.length !== ROOT_KEY_BYTES) {
    throw new PaypadError('ROOT_KEY_INVALID', `the device root key ${path} has ${bytes.length} bytes, expected ${ROOT_KEY_BYTES}`);
  }
  const key = new Uint8Array(bytes);
  bytes.fill(0);
  return key;
}

/** Manufacture: makes the root key from `rng` unless the file exists (an interrupted init), then reads it. */
export function ensureRootKey(stateDir: string, rng: Rng): Uint8Array {
  const path = join(stateDir, ROOT_KEY_FILE);
  // Drawn before the file exists: a failing Rng must not leave an empty key file behind.
  const key = randomBytes(rng, ROOT_KEY_BYTES, 'the device root key');
  try {
    let fd: number;
    try {
      fd = openSync(path, 'wx', PRIVATE_FILE_MODE);
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') return readRootKey(stateDir);
      throw new PaypadError('ROOT_KEY_INVALID', `cannot create the device root key ${path} (${errnoOf(e)})`);
    }
    try {
      for (let done = 0; done < key.length; ) done += writeSync(fd, key, done, key.length - done);
      fsyncSync(fd);
      syncDirectory(stateDir);
    } catch (e) {
      rmSync(path, { force: true });
      throw new PaypadError('ROOT_KEY_INVALID', `cannot write the device root key ${path} (${errnoOf(e)})`);
    } finally {
      closeSync(fd);
    }
    return key.slice();
  } finally {
    key.fill(0);
  }
}
