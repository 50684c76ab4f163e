/**
 * One process at a time talks to the KMS for a state directory: two at once would read the same
 * last sequence number and send it twice, and the KMS would refuse one as a replay (X2). The lock
 * is <stateDir>/kms.lock holding the owner's pid, made with O_EXCL; a lock whose process is gone
 * (it crashed) is taken over. The local-link server needs none: its operations never touch the
 * sequence, and the vault's sealed records fail closed if they change under it.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PaypadError } from 'shared/errors';
import { errnoOf, PRIVATE_FILE_MODE } from './fileStorage';

export const KMS_LOCK_FILE = 'kms.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return errnoOf(e) === 'EPERM';
  }
}

/** Takes the lock or fails with DEVICE_BUSY naming the holder; returns the release function. */
export function lockKmsExchanges(stateDir: string): () => void {
  const path = join(stateDir, KMS_LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: PRIVATE_FILE_MODE });
      return () => rmSync(path, { force: true });
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw new PaypadError('STORAGE_FAILED', `cannot create ${path} (${errnoOf(e)})`);
    }
    let holder = NaN;
    try {
      holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
    } catch {
      // Removed between our attempt and this read: try again.
    }
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
      throw new PaypadError('DEVICE_BUSY', `process ${holder} is talking to the KMS for this terminal (${path}); try again when it is done`);
    }
    rmSync(path, { force: true });
  }
  throw new PaypadError('DEVICE_BUSY', `another process keeps taking ${path}; try again`);
}
