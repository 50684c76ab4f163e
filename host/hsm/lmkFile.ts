/**
 * The software HSM's local master key (LMK): AES-256, 32 raw bytes in a file only its owner may
 * read or write (mode 0600). Every key the software HSM holds is a TR-31 block under it, so losing
 * the file loses every key, and reading it reads every key: it is written once, durably, and a
 * file that others may read is refused rather than used.
 *
 * The first open creates it. Two processes may start at once, so the key is written to a private
 * temporary file and linked into place (link(2) fails if the name exists): whoever links first
 * wins and the other reads the winner's key, never a half-written file.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Rng, wipe } from '../../shared/bytes';
import { PaypadError } from '../../shared/errors';

export const LMK_BYTES = 32;
export const LMK_FILE_MODE = 0o600;
const LMK_DIR_MODE = 0o700;
const GROUP_AND_OTHER = 0o077;

function invalid(file: string, problem: string): PaypadError {
  return new PaypadError('HSM_LMK_INVALID', `master key file ${file}: ${problem}`);
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

/** The LMK in `file`, created with `rng` if the file does not exist. The caller wipes it when done. */
export async function loadOrCreateLmk(file: string, rng: Rng): Promise<Uint8Array> {
  if (typeof file !== 'string' || file.length === 0) throw new PaypadError('BAD_ARGUMENT', 'master key file: expected a path');
  return (await readLmk(file)) ?? (await createLmk(file, rng)) ?? (await readExisting(file));
}

async function readExisting(file: string): Promise<Uint8Array> {
  const lmk = await readLmk(file);
  if (!lmk) throw invalid(file, 'disappeared while it was being created');
  return lmk;
}

/** The key, or undefined when there is no file. */
async function readLmk(file: string): Promise<Uint8Array | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw invalid(file, `cannot be opened (${errnoOf(e) ?? 'error'})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw invalid(file, 'is not a regular file');
    if ((stat.mode & GROUP_AND_OTHER) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
      throw invalid(file, `group or others have access (mode ${mode}); restrict it with chmod 600`);
    }
    if (stat.size !== LMK_BYTES) throw invalid(file, `expected ${LMK_BYTES} bytes, it has ${stat.size}`);
    const lmk = new Uint8Array(LMK_BYTES);
    const { bytesRead } = await handle.read(lmk, 0, LMK_BYTES, 0);
    if (bytesRead !== LMK_BYTES) {
      wipe(lmk);
      throw invalid(file, `read ${bytesRead} of ${LMK_BYTES} bytes`);
    }
    return lmk;
  } finally {
    await handle.close();
  }
}

/** A new key written to `file`, or undefined when another process created the file first. */
async function createLmk(file: string, rng: Rng): Promise<Uint8Array | undefined> {
  const dir = dirname(file);
  try {
    await mkdir(dir, { recursive: true, mode: LMK_DIR_MODE });
  } catch (e) {
    throw invalid(file, `its directory cannot be created (${errnoOf(e) ?? 'error'})`);
  }
  const lmk = rng(LMK_BYTES);
  if (!(lmk instanceof Uint8Array) || lmk.length !== LMK_BYTES) throw new PaypadError('RNG_FAILED', `rng must return ${LMK_BYTES} bytes`);
  const temporary = `${file}.${randomUUID()}.tmp`;
  try {
    const handle = await open(temporary, 'wx', LMK_FILE_MODE);
    try {
      await handle.write(lmk, 0, LMK_BYTES, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temporary, file);
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') {
        wipe(lmk);
        return undefined;
      }
      throw e;
    }
    await syncDirectory(dir);
    return lmk;
  } catch (e) {
    wipe(lmk);
    if (e instanceof PaypadError) throw e;
    throw invalid(file, `cannot be written (${errnoOf(e) ?? 'error'})`);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** The new directory entry must survive a crash, or every key made under this LMK is lost with it. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
