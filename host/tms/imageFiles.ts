/**
 * Program images in the data directory, `<dataDir>/tms/images/<sha256>.img`, mode 0600 like every
 * file the host writes (docs/host.md). Named by their SHA-256, so a file is written once and an
 * image read back is checked against its name: a file altered on disk is never served. The last
 * few images read stay in memory once checked: a download asks for its image once per chunk, and
 * hashing 1 MiB per 8 KiB chunk would cost more than everything else the chunk needs.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../shared/bytes';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { pathExists, SECRET_FILE_MODE, writeNewFile } from '../files';

export interface ImageFiles {
  /** Stores the image under its SHA-256 (uppercase hex); one already there is kept. */
  put(image: Uint8Array): Promise<string>;
  /** TMS_IMAGE_MISSING when the file is gone or no longer hashes to its name. */
  get(imageSha256: string): Promise<Uint8Array>;
}

export function imageDirectory(dataDir: string): string {
  return join(dataDir, 'tms', 'images');
}

/** Images kept in memory once checked (a few MiB at most: packages are being rolled out one or two at a time). */
const CACHED_IMAGES = 4;

export function createImageFiles(dataDir: string): ImageFiles {
  const dir = imageDirectory(dataDir);
  const cache = new Map<string, Uint8Array>();
  const pathOf = (digest: string) => join(dir, `${digest.toUpperCase()}.img`);
  return {
    async put(image) {
      const digest = toHex(sha256(image));
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (await pathExists(pathOf(digest))) return digest;
      try {
        await writeNewFile(pathOf(digest), image, SECRET_FILE_MODE);
      } catch (e) {
        // Another writer stored the same bytes first.
        if (!isPaypadError(e, 'FILE_EXISTS')) throw e;
      }
      return digest;
    },
    async get(imageSha256) {
      const digest = imageSha256.toUpperCase();
      const cached = cache.get(digest);
      if (cached !== undefined) return cached;
      let image: Uint8Array;
      try {
        image = new Uint8Array(await readFile(pathOf(imageSha256)));
      } catch (e) {
        throw Object.assign(new PaypadError('TMS_IMAGE_MISSING', `the image ${imageSha256} is not in ${dir}`), { cause: e });
      }
      if (toHex(sha256(image)) !== digest) throw new PaypadError('TMS_IMAGE_MISSING', `the image file ${imageSha256} was altered on disk`);
      if (cache.size >= CACHED_IMAGES) cache.delete(cache.keys().next().value as string);
      cache.set(digest, image);
      return image;
    },
  };
}
