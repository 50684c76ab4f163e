/**
 * The board's device root key (firmware/hal/moddable/rootKey.ts) on HAL Storage: made once from
 * the RNG at manufacture, read back on every later boot, never silently replaced.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { PaypadError, isPaypadError } from '../../../shared/errors';
import { ROOT_KEY_BYTES, ROOT_KEY_NAME, ROOT_KEY_NAMESPACE, ensureDeviceRootKey, readDeviceRootKey } from '../../../firmware/hal/moddable/rootKey';
import { MemoryStorage } from '../../support/memoryStorage';
import { seededRng } from '../../support/opsRng';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPaypadError(e) ? e.code : `not a PaypadError: ${String(e)}`;
  }
  return undefined;
}

describe('device root key in NVS (docs/key-loading.md "Keys")', () => {
  it('A1: the first boot makes 32 bytes from the HAL Rng, stores them in their own domain, and later reads return them', () => {
    const storage = new MemoryStorage();
    const rng = seededRng(new TextEncoder().encode('root key'));
    const expected = seededRng(new TextEncoder().encode('root key'))(ROOT_KEY_BYTES);
    const made = ensureDeviceRootKey(storage, rng);
    expect(toHex(made)).toBe(toHex(expected));
    expect(storage.keys(ROOT_KEY_NAMESPACE)).toEqual([ROOT_KEY_NAME]);
    expect(toHex(readDeviceRootKey(storage))).toBe(toHex(expected));
  });

  it('an interrupted manufacture keeps the key already stored instead of making another', () => {
    const storage = new MemoryStorage();
    const first = ensureDeviceRootKey(storage, seededRng(new TextEncoder().encode('first')));
    const again = ensureDeviceRootKey(storage, seededRng(new TextEncoder().encode('second')));
    expect(toHex(again)).toBe(toHex(first));
  });

  it('returns copies: wiping one leaves the stored key intact', () => {
    const storage = new MemoryStorage();
    const key = ensureDeviceRootKey(storage, seededRng(new TextEncoder().encode('copy')));
    const kept = toHex(key);
    key.fill(0);
    expect(toHex(readDeviceRootKey(storage))).toBe(kept);
  });

  it('a missing key is ROOT_KEY_INVALID on read, never a new key (the sealed vault would be orphaned)', () => {
    const storage = new MemoryStorage();
    expect(codeOf(() => readDeviceRootKey(storage))).toBe('ROOT_KEY_INVALID');
    expect(storage.keys(ROOT_KEY_NAMESPACE)).toEqual([]);
  });

  it('a stored value of the wrong size is ROOT_KEY_INVALID, whichever function reads it', () => {
    for (const size of [16, 31, 33]) {
      const storage = new MemoryStorage();
      storage.set(ROOT_KEY_NAMESPACE, ROOT_KEY_NAME, new Uint8Array(size).fill(7));
      expect(codeOf(() => readDeviceRootKey(storage)), `${size} bytes`).toBe('ROOT_KEY_INVALID');
      expect(codeOf(() => ensureDeviceRootKey(storage, seededRng(new Uint8Array([size]))))).toBe('ROOT_KEY_INVALID');
    }
  });

  it('an Rng that returns the wrong length stores nothing', () => {
    const storage = new MemoryStorage();
    expect(codeOf(() => ensureDeviceRootKey(storage, () => new Uint8Array(16)))).toBe('BAD_LENGTH');
    expect(storage.keys(ROOT_KEY_NAMESPACE)).toEqual([]);
  });

  it('a failing NVS write leaves no key and reports the storage error', () => {
    const storage = new MemoryStorage();
    storage.beforeWrite = () => {
      throw new PaypadError('STORAGE_FAILED', 'flash full');
    };
    expect(codeOf(() => ensureDeviceRootKey(storage, seededRng(new Uint8Array([1]))))).toBe('STORAGE_FAILED');
    expect(storage.keys(ROOT_KEY_NAMESPACE)).toEqual([]);
  });
});
