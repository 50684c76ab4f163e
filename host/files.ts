/**
 * Writing key and certificate files so that a crash never leaves a half-written one and an
 * existing file is never replaced: exclusive create, fsync of the file, then of its directory
 * (a rename or create is durable only once the directory entry is on disk, see fsync(2)).
 */
import { open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PaypadError } from '../shared/errors';

/**
 * Every file the host writes, certificates included: owner read/write only. A certificate is not
 * secret, but the data directory as a whole says who is who, and nobody else needs to read it.
 */
export const SECRET_FILE_MODE = 0o600;

/**
 * Creates `path` with `mode` (the umask can only narrow it, so a key is never wider than 0600).
 * @throws PaypadError FILE_EXISTS when the file is already there.
 */
export async function writeNewFile(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  let file;
  try {
    file = await open(path, 'wx', mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new PaypadError('FILE_EXISTS', `${path} already exists; it is never overwritten`);
    throw e;
  }
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await syncDirectory(dirname(path));
}

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** True when `path` exists; any error other than "not found" is thrown, not taken for absence. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
