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

/**
 * The seam's streaming hash (shared/crypto/primitives Sha256Hash), declared here: on the device
 * that module name is this very file, so importing the type from it is circular for mcconfig's
 * tsc. The conformance check at the end holds the two to the same shape.
 */
interface Sha256Hash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** The C functions read whole ArrayBuffers: hand them a copy that this module wipes afterwards. */
function copyOf(bytes: Uint8Array): ArrayBuffer {
  const buffer = new ArrayBuffer(bytes.length);
  new Uint8Array(buffer).set(bytes);
  return buffer;
}

function wipeBuffer(buffer: ArrayBuffer): void {
  new Uint8Array(buffer).fill(0);
}

/**
 * One AES pass. This is the innermost frame of the terminal's deepest call chains, so it nests
 * no call in another's arguments (each would keep its pushed arguments on the stack meanwhile),
 * and the pass is a tail call. The C constructor copies the key into its own schedule, so the
 * copy made here for it is wiped at once (docs/firmware.md "Stack").
 */
function aes(mode: 'ECB' | 'CBC', decrypt: boolean, key: Uint8Array, iv: Uint8Array | undefined, data: Uint8Array): Uint8Array {
  const cipher = cipherFor(key);
  return pass(new Mode(mode, cipher, iv ? iv.slice().buffer : undefined, false), decrypt, data);
}

function cipherFor(key: Uint8Array): BlockCipher {
  const copy = key.slice();
  const cipher = new BlockCipher('AES', copy.buffer);
  copy.fill(0);
  return cipher;
}

function pass(cipher: Mode, decrypt: boolean, data: Uint8Array): Uint8Array {
  return new Uint8Array(decrypt ? cipher.decrypt(data) : cipher.encrypt(data));
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

/** The C digest streams: its state is outside the heap, each update only passes the bytes through. */
export function createSha256(): Sha256Hash {
  const digest = new Digest('SHA256');
  return {
    update(data: Uint8Array) {
      digest.write(data);
    },
    digest() {
      return new Uint8Array(digest.close());
    },
  };
}

export function p256PublicKey(privateKey: Uint8Array): Uint8Array {
  const scalar = copyOf(privateKey);
  try {
    return new Uint8Array(new Curve('secp256r1').dh(scalar));
  } finally {
    wipeBuffer(scalar);
  }
}

export function p256SharedSecretX(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const scalar = copyOf(privateKey);
  let point: ArrayBuffer | undefined;
  try {
    point = new Curve('secp256r1').dh(scalar, copyOf(publicKey));
    return new Uint8Array(point.slice(1, 33));
  } finally {
    wipeBuffer(scalar);
    if (point) wipeBuffer(point);
  }
}

export function p256Multiply(scalar: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(new Curve('secp256r1').dh(copyOf(scalar), copyOf(publicKey)));
}

// tsc fails here unless this module offers what shared/crypto/primitives offers, with the same signatures.
type Holds<T extends true> = T;
export type ConformsToPrimitives = Holds<typeof import('./nativePrimitives') extends typeof import('shared/crypto/primitives') ? true : false>;
