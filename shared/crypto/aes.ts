/**
 * AES building blocks (FIPS 197) with paypad's typed errors, over the crypto-primitive seam.
 * Unpadded only: every payment standard paypad follows pads on its own terms.
 */
import { PaypadError } from '../errors';
import { aesDecryptCbc, aesDecryptEcb, aesEncryptCbc, aesEncryptEcb } from './primitives';

export const AES_BLOCK = 16;

/** Throws KEY_LENGTH unless `key` is an AES-128/192/256 key. */
export function assertAesKey(key: Uint8Array, what = 'AES key'): void {
  if (!(key instanceof Uint8Array) || (key.length !== 16 && key.length !== 24 && key.length !== 32)) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new PaypadError('KEY_LENGTH', `${what}: expected 16, 24 or 32 bytes, got ${got}`);
  }
}

function assertIv(iv: Uint8Array): void {
  if (!(iv instanceof Uint8Array) || iv.length !== AES_BLOCK) {
    throw new PaypadError('BAD_LENGTH', `AES-CBC IV: expected 16 bytes, got ${iv instanceof Uint8Array ? iv.length : typeof iv}`);
  }
}

function assertBlocks(data: Uint8Array, what: string): void {
  if (data.length % AES_BLOCK !== 0) {
    throw new PaypadError('BAD_LENGTH', `${what}: expected a multiple of 16 bytes, got ${data.length}`);
  }
}

/** AES-ECB over whole blocks (used for single-block operations: KCVs, PIN block format 4). */
export function aesEcbEncrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  assertAesKey(key);
  assertBlocks(data, 'AES-ECB input');
  return aesEncryptEcb(key, data);
}

export function aesEcbDecrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  assertAesKey(key);
  assertBlocks(data, 'AES-ECB input');
  return aesDecryptEcb(key, data);
}

export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  assertAesKey(key);
  assertIv(iv);
  assertBlocks(data, 'AES-CBC input');
  return aesEncryptCbc(key, iv, data);
}

export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  assertAesKey(key);
  assertIv(iv);
  assertBlocks(data, 'AES-CBC input');
  return aesDecryptCbc(key, iv, data);
}
