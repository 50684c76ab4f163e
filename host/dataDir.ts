/**
 * The data directory a host owns: made (or narrowed to) mode 0700, so nobody else on the machine
 * reads the database, the CA or the roles' key files, and locked for one host process at a time.
 * Two hosts on one data directory would issue duplicate certificates and demo data and run two
 * outbox workers on one SQLite file.
 *
 * The lock is <dataDir>/paypad.lock: JSON { pid, hostname, startedAt, token }, mode 0600, created
 * exclusively (written to a private temporary file, then link(2)ed into place, which fails if the
 * name exists, so the lock is never seen half-written). A lock whose process is gone (same host
 * name, kill(pid, 0) says ESRCH) is stale: a crashed host left it, and the next start takes it
 * over. A lock from another machine (a data directory on a network file system) cannot be checked
 * and is never taken over.
 *
 * Taking over is race-free between hosts starting at once: only the process that creates
 * <lock>.takeover-<token of the stale lock> exclusively may replace that lock, and it does so with
 * one rename(2) after checking the lock still carries that token. The others then find the new,
 * live lock.
 */
import { randomUUID } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PaypadError } from '../shared/errors';
import { SECRET_FILE_MODE, syncDirectory } from './files';
import type { Logger } from './log';

export const DATA_DIR_MODE = 0o700;
export const LOCK_FILE_NAME = 'paypad.lock';

interface LockRecord {
  readonly pid: number;
  readonly hostname: string;
  readonly startedAt: string;
  readonly token: string;
}

export interface DataDirLock {
  /** The lock file. */
  readonly path: string;
  /** Removes the lock if it is still this process's. Idempotent. */
  release(): Promise<void>;
}

/**
 * Makes `dataDir` (0700) or narrows an existing one to 0700, then takes its lock.
 * @throws PaypadError DATA_DIR_LOCKED naming the lock file and the PID that holds it.
 */
export async function lockDataDir(dataDir: string, logger?: Logger): Promise<DataDirLock> {
  await ensurePrivateDirectory(dataDir, logger);
  const path = join(dataDir, LOCK_FILE_NAME);
  const mine: LockRecord = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), token: randomUUID() };
  const temporary = `${path}.${mine.token}.tmp`;
  const handle = await open(temporary, 'wx', SECRET_FILE_MODE);
  try {
    await handle.writeFile(`${JSON.stringify(mine)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // Each round that fails has found a stale lock that another starting host is replacing.
    for (let round = 0; round < 5; round++) {
      try {
        await link(temporary, path);
        await syncDirectory(dataDir);
        return { path, release: once(() => releaseLock(path, mine.token)) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = await readLock(path);
      if (holder === undefined) continue; // released meanwhile
      refuseUnlessStale(path, holder);
      if (await replaceStaleLock(path, holder, temporary)) {
        await syncDirectory(dataDir);
        logger?.warn({ lock: path, pid: holder.pid, startedAt: holder.startedAt }, `took over the lock of a host that is no longer running (PID ${holder.pid})`);
        return { path, release: once(() => releaseLock(path, mine.token)) };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new PaypadError('DATA_DIR_LOCKED', `${path}: could not take the lock; another host keeps starting on this data directory`);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

async function ensurePrivateDirectory(dataDir: string, logger?: Logger): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  const mode = (await stat(dataDir)).mode & 0o777;
  if (mode !== DATA_DIR_MODE) {
    await chmod(dataDir, DATA_DIR_MODE);
    logger?.info({ dataDir, was: mode.toString(8) }, `data directory narrowed to mode 700 (it was ${mode.toString(8)})`);
  }
}

/** The lock's record; undefined when there is no lock file. */
async function readLock(path: string): Promise<LockRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const record = JSON.parse(text) as Partial<LockRecord>;
    if (Number.isInteger(record.pid) && typeof record.hostname === 'string' && typeof record.token === 'string' && typeof record.startedAt === 'string') return record as LockRecord;
  } catch {
    // fall through
  }
  throw new PaypadError('DATA_DIR_LOCKED', `${path} exists but is not a paypad lock; if no host runs on this data directory, remove it`);
}

function refuseUnlessStale(path: string, holder: LockRecord): void {
  if (holder.hostname !== hostname()) {
    throw new PaypadError(
      'DATA_DIR_LOCKED',
      `${path} is held by the paypad host with PID ${holder.pid} on machine ${holder.hostname} (since ${holder.startedAt}); if it is not running, remove the lock`,
    );
  }
  if (processAlive(holder.pid)) {
    throw new PaypadError('DATA_DIR_LOCKED', `${path} is held by the paypad host running as PID ${holder.pid} (since ${holder.startedAt}); stop it, or give this host another --data-dir`);
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Replaces the stale lock `holder` with `replacement` (renamed into place), unless another process
 * claimed it first or the lock changed meanwhile (false then).
 */
async function replaceStaleLock(path: string, holder: LockRecord, replacement: string): Promise<boolean> {
  const claim = `${path}.takeover-${holder.token}`;
  try {
    const handle = await open(claim, 'wx', SECRET_FILE_MODE);
    await handle.close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    if ((await readLock(path))?.token !== holder.token) return false;
    await rename(replacement, path);
    return true;
  } finally {
    // The stale token is gone from the lock either way: nobody can use this claim again.
    await unlink(claim).catch(() => undefined);
  }
}

async function releaseLock(path: string, token: string): Promise<void> {
  const holder = await readLock(path).catch(() => undefined);
  if (holder?.token === token) await unlink(path).catch(() => undefined);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
