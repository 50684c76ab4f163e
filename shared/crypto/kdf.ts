/**
 * Key derivation, NIST SP 800-108r1 §4.1 (KDF in counter mode) with AES-CMAC (SP 800-38B) as PRF.
 *
 *   K(i)   = CMAC(KI, [i]_8 || FixedInput)        i = 1 .. n, n = ceil(L / 128)
 *   KO     = leftmost L bits of K(1) || ... || K(n)
 *
 * paypad's choices, fixed here rather than passed in, so every caller derives the same way:
 *   - the counter is r = 8 bits wide and comes BEFORE the fixed input (CAVP "RLEN=8_BITS",
 *     "CTRLOCATION=BEFORE_FIXED"), so at most 2^8 - 1 blocks, i.e. 4080 bytes, can be derived;
 *   - the fixed input is the layout SP 800-108r1 §4 suggests:
 *       Label || 0x00 || Context || [L]_32      (L = output length in bits, big-endian)
 *     The label names the purpose and must not contain 0x00, so the separator is unambiguous
 *     and no (label, context) pair can collide with another.
 *
 * Vectors: test/vectors/kdf.json (NIST CAVP KBKDF counter mode, CMAC-AES128/256, r = 8).
 */
import { concatBytes, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { AES_BLOCK, assertAesKey } from './aes';
import { aesCmac } from './cmac';

/** r: width of [i] in bits. */
export const KDF_COUNTER_BITS = 8;
/** Where [i] goes relative to the fixed input. */
export const KDF_COUNTER_LOCATION = 'before-fixed' as const;
/** Width of [L] in the fixed input, in bits. */
export const KDF_LENGTH_FIELD_BITS = 32;
/** SP 800-108r1 §4.1 step 2: n = ceil(L / h) must not exceed 2^r - 1. */
export const KDF_MAX_OUTPUT_BYTES = (2 ** KDF_COUNTER_BITS - 1) * AES_BLOCK;

export interface KdfParams {
  /** The purpose of the derived key, e.g. asciiToBytes('MAC'); non-empty, no 0x00 byte. */
  label: Uint8Array;
  /** Who and what the key is bound to, e.g. a serial number; may be empty. */
  context: Uint8Array;
  /** Output length in bytes, 1 .. KDF_MAX_OUTPUT_BYTES. */
  lengthBytes: number;
}

/** Derives `lengthBytes` of keying material from `key`, bound to `label` and `context`. */
export function deriveKeyCounterCmac(key: Uint8Array, params: KdfParams): Uint8Array {
  return kdfCounterCmacRaw(key, kdfFixedInput(params), params.lengthBytes);
}

/**
 * The fixed input paypad derives with: Label || 0x00 || Context || [L]_32. Exposed so an HSM
 * that runs the PRF itself (host/hsm's PKCS#11 backend) derives from the same bytes.
 */
export function kdfFixedInput(params: KdfParams): Uint8Array {
  if (typeof params !== 'object' || params === null) throw new PaypadError('BAD_ARGUMENT', 'KDF: expected { label, context, lengthBytes }');
  const { label, context, lengthBytes } = params;
  assertOutputLength(lengthBytes);
  if (!(label instanceof Uint8Array) || label.length === 0 || label.includes(0)) {
    throw new PaypadError('BAD_ARGUMENT', 'KDF label: expected non-empty bytes without a 0x00 byte');
  }
  if (!(context instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'KDF context: expected bytes');
  const lengthField = new Uint8Array(KDF_LENGTH_FIELD_BITS / 8);
  new DataView(lengthField.buffer).setUint32(0, lengthBytes * 8);
  return concatBytes(label, new Uint8Array([0]), context, lengthField);
}

/**
 * The bare counter-mode KDF over an opaque fixed input, as NIST CAVP tests it
 * ("FixedInputData"). Application code calls deriveKeyCounterCmac, which builds the fixed input.
 */
export function kdfCounterCmacRaw(key: Uint8Array, fixedInput: Uint8Array, lengthBytes: number): Uint8Array {
  assertAesKey(key, 'KDF key');
  return kdfCounterMode((input) => aesCmac(key, input), fixedInput, lengthBytes);
}

/**
 * The counter-mode loop over any CMAC implementation `prf` (returning a fresh 16-byte block it
 * may be wiped): K(i) = prf([i]_8 || FixedInput). Shared by the software KDF above and an HSM
 * whose token computes the CMAC.
 */
export function kdfCounterMode(prf: (input: Uint8Array) => Uint8Array, fixedInput: Uint8Array, lengthBytes: number): Uint8Array {
  assertOutputLength(lengthBytes);
  if (!(fixedInput instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'KDF fixed input: expected bytes');
  const out = new Uint8Array(lengthBytes);
  // One buffer for [i]_8 || FixedInput: only the counter byte changes between blocks.
  const input = new Uint8Array(1 + fixedInput.length);
  input.set(fixedInput, 1);
  for (let i = 1, offset = 0; offset < lengthBytes; i++, offset += AES_BLOCK) {
    input[0] = i;
    const block = prf(input);
    out.set(block.subarray(0, Math.min(AES_BLOCK, lengthBytes - offset)), offset);
    wipe(block);
  }
  return out;
}

function assertOutputLength(lengthBytes: number): void {
  if (!Number.isInteger(lengthBytes) || lengthBytes < 1 || lengthBytes > KDF_MAX_OUTPUT_BYTES) {
    throw new PaypadError('BAD_LENGTH', `KDF output: expected 1 to ${KDF_MAX_OUTPUT_BYTES} bytes, got ${lengthBytes}`);
  }
}
