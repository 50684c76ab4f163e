/**
 * The crypto primitives on the device: Moddable's native AES, SHA-256 and P-256 (C, in
 * $(MODDABLE)/modules/crypt), in place of shared/crypto/primitives' compact JavaScript.
 * manifest.json builds this file under the module name "shared/crypto/primitives", so everything
 * in shared/crypto runs on it unchanged; the last line holds it to that module's exports.
 *
 * The C code keeps its state outside the JS heap (its key schedule in a host chunk) and hands back
 * only the result, so the heap pays for outputs alone. Inputs were checked by the callers in
 * shared/crypto (key lengths, whole blocks, validated points and scalars).
 */
/// <reference path="../../types/crypt.d.ts" />
import { BlockCipher, Digest, Mode } from 'crypt';
import Curve from 'curve';

/** The C functions read whole ArrayBuffers: hand them a copy that this module wipes afterwards. */
function copyOf(bytes: Uint8Array): ArrayBuffer {
  const buffer = new ArrayBuffer(bytes.length);
  new Uint8Array(buffer).set(bytes);
  return buffer;
}

function wipeBuffers(...buffers: ArrayBuffer[]): void {
  for (const buffer of buffers) new Uint8Array(buffer).fill(0);
}

/**
 * One AES pass. The cipher is made in its own call and the key's copy wiped right after (the C
 * context keeps its own schedule): this frame is the innermost of the terminal's deepest chains,
 * so it holds as little as it can (docs/firmware.md "Stack").
 */
function aes(mode: 'ECB' | 'CBC', decrypt: boolean, key: Uint8Array, iv: Uint8Array | undefined, data: Uint8Array): Uint8Array {
  const cipher = modeFor(mode, key, iv);
  return new Uint8Array(decrypt ? cipher.decrypt(data) : cipher.encrypt(data));
}

function modeFor(mode: 'ECB' | 'CBC', key: Uint8Array, iv: Uint8Array | undefined): Mode {
  // Inputs were checked by shared/crypto/aes, so the constructor does not throw before the wipe.
  const keyBuffer = copyOf(key);
  const cipher = new BlockCipher('AES', keyBuffer);
  wipeBuffers(keyBuffer);
  return new Mode(mode, cipher, iv ? copyOf(iv) : undefined, false);
}

export function aesEncryptEcb(key: Uint8Array, data: Uint8Array): Uint8Array {
  return aes('ECB', false, key, undefined, data);
}

export function aesDecryptEcb(key: Uint8Array, data: Uint8Array): Uint8Array {
  return aes('ECB', true, key, undefined, data);
}

export function aesEncryptCbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return aes('CBC', false, key, iv, data);
}

export function aesDecryptCbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return aes('CBC', true, key, iv, data);
}

export function sha256(data: Uint8Array): Uint8Array {
  const digest = new Digest('SHA256');
  digest.write(data);
  return new Uint8Array(digest.close());
}

export function p256PublicKey(privateKey: Uint8Array): Uint8Array {
  const scalar = copyOf(privateKey);
  try {
    return new Uint8Array(new Curve('secp256r1').dh(scalar));
  } finally {
    wipeBuffers(scalar);
  }
}

export function p256SharedSecretX(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const scalar = copyOf(privateKey);
  let point: ArrayBuffer | undefined;
  try {
    point = new Curve('secp256r1').dh(scalar, copyOf(publicKey));
    return new Uint8Array(point.slice(1, 33));
  } finally {
    wipeBuffers(scalar, ...(point ? [point] : []));
  }
}

// tsc fails here unless this module offers what shared/crypto/primitives offers, with the same signatures.
type Holds<T extends true> = T;
export type ConformsToPrimitives = Holds<typeof import('./nativePrimitives') extends typeof import('shared/crypto/primitives') ? true : false>;
