/**
 * A deterministic Rng for tests and benchmarks, never for keys: the same seed gives the same bytes
 * in Node and in XS, so an operation that consumes randomness (PIN block fill, TR-31 padding,
 * ephemeral ECDH keys) can be compared byte for byte across the two engines.
 *
 *   stream = SHA-256(seed || 0x00000000) || SHA-256(seed || 0x00000001) || ...
 *
 * Runs in XS (bundled into the test script): no Node APIs.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { Rng } from '../../shared/bytes';
import { concatBytes, fromHex } from '../../shared/bytes';

/** Bytes expanded up front, so a benchmark's timed section rarely pays for the hashing. */
const PREFILL_BYTES = 64;

export function seededRng(seed: Uint8Array): Rng {
  let counter = 0;
  let pool: Uint8Array = new Uint8Array(0);
  const refill = (needed: number): void => {
    const blocks: Uint8Array[] = [pool];
    let have = pool.length;
    while (have < needed) {
      const block = sha256(concatBytes(seed, new Uint8Array([counter >>> 24, (counter >>> 16) & 255, (counter >>> 8) & 255, counter & 255])));
      counter++;
      blocks.push(block);
      have += block.length;
    }
    pool = concatBytes(...blocks);
  };
  refill(PREFILL_BYTES);
  return (length: number): Uint8Array => {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`seededRng: bad length ${length}`);
    if (pool.length < length) refill(length);
    const out = pool.slice(0, length);
    pool = pool.subarray(length);
    return out;
  };
}

/** Hands out exactly `bytes`, in order, and fails when asked for more: for published vectors. */
export function scriptedRng(bytes: Uint8Array): Rng {
  let offset = 0;
  return (length: number): Uint8Array => {
    if (offset + length > bytes.length) throw new RangeError(`scriptedRng: asked for ${length} bytes, ${bytes.length - offset} left`);
    offset += length;
    return bytes.slice(offset - length, offset);
  };
}

/** How an op's JSON arguments name their randomness: a seed to expand, or the exact bytes. */
export type RngArgs = { seed: string } | { random: string };

export function rngFromArgs(args: RngArgs): Rng {
  if ('random' in args) return scriptedRng(fromHex(args.random, 'random'));
  return seededRng(fromHex(args.seed, 'seed'));
}
