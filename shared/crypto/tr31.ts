/**
 * TR-31 key blocks, version D: the AES key derivation binding method of ANSI X9.143:2021 §7 and
 * TR-31:2018 §5.3.2.3. Vectors and their sources: test/vectors/tr31.json.
 *
 * From the key block protection key (KBPK) two keys are derived with AES-CMAC: the key block
 * encryption key (KBEK) and the key block MAC key (KBMK). The payload is the key length in bits
 * (2 bytes, big-endian), the key, and random padding up to a whole number of AES blocks
 * (TR-31:2018 §A.3 table 5). The MAC is AES-CMAC under the KBMK over the ASCII header followed by
 * the CLEAR payload, and that 16-byte MAC is the IV for AES-CBC encryption of the payload under
 * the KBEK. The block is header || hex(encrypted payload) || hex(MAC).
 *
 * Because the MAC covers the clear payload, unwrapping must decrypt before it can verify. It does
 * so into a scratch buffer, reads nothing from the decrypted bytes until the MAC has been checked
 * in constant time, answers every failure up to that point with the one code TR31_MAC_MISMATCH,
 * and wipes the buffer. Key usage, mode of use and algorithm are checked after the MAC, so a
 * tampered header is reported as tampering.
 *
 * Version B (TDES, the same structure with TDES-CMAC derivation and 8-byte blocks) would slot in
 * as a second row of VERSIONS with its own derivation; A and C (variant binding) are not planned.
 */
import { type Rng, asciiToBytes, randomBytes, constantTimeEqual, fromHex, toHex, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { AES_BLOCK, aesCbcDecrypt, aesCbcEncrypt, assertAesKey } from './aes';
import { aesCmac } from './cmac';
import { type Tr31Header, type Tr31HeaderInit, completeKeyBlockHeader, formatKeyBlockHeader, parseKeyBlockHeader } from './tr31Header';

export type { Tr31Header, Tr31HeaderInit, Tr31OptionalBlock } from './tr31Header';

/** Layout of each implemented version: cipher block size and MAC length in bytes. */
const VERSIONS: Readonly<Record<string, { readonly blockSize: number; readonly macLength: number }>> = Object.freeze({
  D: Object.freeze({ blockSize: AES_BLOCK, macLength: 16 }),
});

function versionLayout(versionId: string): { readonly blockSize: number; readonly macLength: number } {
  const layout = VERSIONS[versionId];
  if (!layout) throw new PaypadError('TR31_UNSUPPORTED', `key block version ${versionId} is not supported; paypad implements version D`);
  return layout;
}

/**
 * Key lengths in bytes each algorithm allows (X9.143:2021 §6.3.2 table 3). The last one is the
 * default length the key is masked to. Algorithms not listed (RSA, EC, HMAC, DSA, proprietary)
 * have variable-length keys and are not masked by default.
 */
const KEY_LENGTHS: Readonly<Record<string, readonly number[]>> = Object.freeze({
  A: Object.freeze([16, 24, 32]), // AES
  T: Object.freeze([16, 24]), // TDES, double and triple length
  D: Object.freeze([8]), // single DES (legacy)
});

/** The payload's key length field counts bits in 16 bits. */
const MAX_KEY_LENGTH = 0xffff >> 3;

function assertKeyLengthFor(algorithm: string, length: number): void {
  const allowed = KEY_LENGTHS[algorithm];
  if (allowed ? !allowed.includes(length) : length < 1 || length > MAX_KEY_LENGTH) {
    const expected = allowed ? allowed.join(', ') : `1 to ${MAX_KEY_LENGTH}`;
    throw new PaypadError('TR31_KEY_LENGTH', `a key of algorithm ${algorithm} must be ${expected} bytes, got ${length}`);
  }
}

/**
 * KBEK and KBMK from the KBPK (X9.143:2021 §7.2.1.1 table 24; TR-31:2018 §5.3.2.3 table 2).
 * Each is CMAC(KBPK, counter || usage || 00 || algorithm || length in bits), one 16-byte output
 * per counter value from 1 until the key is as long as the KBPK: usage 0000 derives the
 * encryption key, 0001 the MAC key; algorithm 0002/0003/0004 is AES-128/192/256.
 */
export function deriveKeyBlockKeys(kbpk: Uint8Array): KeyBlockKeys {
  assertAesKey(kbpk, 'KBPK');
  return { kbek: deriveKey(kbpk, 0), kbmk: deriveKey(kbpk, 1) };
}

/**
 * A KBPK's two derived keys. A holder that wraps and unwraps under one KBPK all the time (the
 * terminal's vault under its root key) derives them once and uses the `...Under` functions, which
 * saves two CMACs per block and keeps the derivation off every later call's stack.
 */
export interface KeyBlockKeys {
  readonly kbek: Uint8Array;
  readonly kbmk: Uint8Array;
}

function assertKeyBlockKeys(keys: KeyBlockKeys): void {
  if (typeof keys !== 'object' || keys === null) throw new PaypadError('BAD_ARGUMENT', 'key block keys: expected { kbek, kbmk }');
  assertAesKey(keys.kbek, 'KBEK');
  assertAesKey(keys.kbmk, 'KBMK');
  if (keys.kbek.length !== keys.kbmk.length) throw new PaypadError('KEY_LENGTH', 'KBEK and KBMK: expected the same length');
}

function deriveKey(kbpk: Uint8Array, usage: number): Uint8Array {
  const bits = kbpk.length * 8;
  const input = Uint8Array.of(0, 0, usage, 0, 0, kbpk.length / 8, bits >> 8, bits & 0xff);
  const out = new Uint8Array(kbpk.length);
  for (let offset = 0; offset < out.length; offset += AES_BLOCK) {
    input[0] = offset / AES_BLOCK + 1;
    const part = aesCmac(kbpk, input);
    out.set(part.subarray(0, Math.min(AES_BLOCK, out.length - offset)), offset);
    wipe(part);
  }
  return out;
}

export interface Tr31WrapOptions {
  /**
   * Pad the key as if it were this many bytes, so the block does not reveal the key's length
   * (TR-31:2018 §A.3). Default: the longest key of the header's algorithm (AES 32, TDES 24); for
   * variable-length algorithms, the key's own length. Pass the key's length to turn masking off.
   */
  readonly maskedKeyLength?: number;
}

/**
 * Wraps `key` under `kbpk` as a version D key block. A string header is parsed (its length field
 * is recomputed); an object header takes defaults from completeKeyBlockHeader. The random padding
 * comes from `rng`, so a test can reproduce a published block byte for byte.
 */
export function wrapKeyBlock(
  kbpk: Uint8Array,
  header: string | Tr31HeaderInit,
  key: Uint8Array,
  rng: Rng,
  opts: Tr31WrapOptions = {},
): string {
  const keys = deriveKeyBlockKeys(kbpk);
  try {
    return wrapKeyBlockUnder(keys, header, key, rng, opts);
  } finally {
    wipe(keys.kbek, keys.kbmk);
  }
}

/** wrapKeyBlock under a KBPK's derived keys (deriveKeyBlockKeys). */
export function wrapKeyBlockUnder(
  keys: KeyBlockKeys,
  header: string | Tr31HeaderInit,
  key: Uint8Array,
  rng: Rng,
  opts: Tr31WrapOptions = {},
): string {
  assertKeyBlockKeys(keys);
  // Checked, padded, laid out and sealed one after the other from this frame, none inside
  // another: the device's stack then holds only the deepest one's chain (docs/firmware.md "Stack").
  const h = resolveHeader(header);
  const payloadLength = keyBlockPayloadLength(h, key, opts);
  const pad = randomBytes(rng, payloadLength - 2 - key.length, 'the key block padding');
  const clear = layOutKeyBlock(h, key, pad);
  wipe(pad);
  try {
    return sealKeyBlock(keys, clear);
  } finally {
    wipe(clear.macInput);
  }
}

/** A key block before sealing: its header text, and the MAC input (header, then the clear payload). */
interface ClearKeyBlock {
  readonly headerText: string;
  readonly macInput: Uint8Array;
}

/** The payload's length: key length field, key and padding to the masked length, in whole blocks. */
function keyBlockPayloadLength(h: Tr31Header, key: Uint8Array, opts: Tr31WrapOptions): number {
  const layout = versionLayout(h.versionId);
  if (!(key instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'key must be a Uint8Array');
  assertKeyLengthFor(h.algorithm, key.length);
  const allowed = KEY_LENGTHS[h.algorithm];
  const masked = opts.maskedKeyLength ?? (allowed ? allowed[allowed.length - 1] : key.length);
  if (!Number.isInteger(masked) || masked < key.length || masked > MAX_KEY_LENGTH) {
    throw new PaypadError('BAD_ARGUMENT', `maskedKeyLength must be a whole number from the key length (${key.length}) to ${MAX_KEY_LENGTH}`);
  }
  return Math.ceil((2 + masked) / layout.blockSize) * layout.blockSize;
}

function layOutKeyBlock(h: Tr31Header, key: Uint8Array, pad: Uint8Array): ClearKeyBlock {
  const payloadLength = 2 + key.length + pad.length;
  const headerText = formatKeyBlockHeader(h, 2 * (payloadLength + versionLayout(h.versionId).macLength));
  const macInput = new Uint8Array(headerText.length + payloadLength);
  macInput.set(asciiToBytes(headerText));
  const bits = key.length * 8;
  macInput[headerText.length] = bits >> 8;
  macInput[headerText.length + 1] = bits & 0xff;
  macInput.set(key, headerText.length + 2);
  macInput.set(pad, headerText.length + 2 + key.length);
  return { headerText, macInput };
}

/** MAC over header and clear payload, then the payload encrypted with that MAC as IV. */
function sealKeyBlock({ kbek, kbmk }: KeyBlockKeys, clear: ClearKeyBlock): string {
  const mac = aesCmac(kbmk, clear.macInput);
  return clear.headerText + toHex(aesCbcEncrypt(kbek, mac, clear.macInput.subarray(clear.headerText.length))) + toHex(mac);
}

function resolveHeader(header: string | Tr31HeaderInit): Tr31Header {
  if (typeof header !== 'string') return completeKeyBlockHeader(header);
  const parsed = parseKeyBlockHeader(header);
  if (parsed.headerLength !== header.length) {
    throw new PaypadError('TR31_MALFORMED', `header string has ${header.length - parsed.headerLength} characters after the header`);
  }
  return parsed.header;
}

/** What the caller is about to do with the key; a block whose header does not allow it is refused. */
export interface Tr31KeyPolicy {
  /** The key usage the caller needs, e.g. 'P0' for a PIN encryption key. */
  readonly usage: string;
  /** The block's mode of use must be one of these, e.g. ['E', 'B'] for a key that will encrypt. */
  readonly modesOfUse: readonly string[];
  /** When given, the block's algorithm must be this one, e.g. 'A'. */
  readonly algorithm?: string;
}

export interface UnwrappedKey {
  readonly key: Uint8Array;
  readonly header: Tr31Header;
}

/**
 * Unwraps a version D key block and checks it against `policy`. Errors: TR31_MALFORMED (shape,
 * length, characters), TR31_UNSUPPORTED (versions A, B, C), TR31_MAC_MISMATCH (tampered block or
 * wrong KBPK), TR31_USAGE_NOT_ALLOWED (the header does not allow what the policy needs),
 * TR31_KEY_LENGTH (an authentic block whose key does not suit its algorithm).
 */
export function unwrapKeyBlock(kbpk: Uint8Array, block: string, policy: Tr31KeyPolicy): UnwrappedKey {
  assertPolicy(policy);
  const keys = deriveKeyBlockKeys(kbpk);
  try {
    return unwrapKeyBlockUnder(keys, block, policy);
  } finally {
    wipe(keys.kbek, keys.kbmk);
  }
}

/** unwrapKeyBlock under a KBPK's derived keys (deriveKeyBlockKeys). */
export function unwrapKeyBlockUnder(keys: KeyBlockKeys, block: string, policy: Tr31KeyPolicy): UnwrappedKey {
  assertKeyBlockKeys(keys);
  assertPolicy(policy);
  // Parsed, then opened, then read, each from this small frame (see wrapKeyBlockUnder); the last
  // is a tail call.
  const sealed = parseSealedKeyBlock(block);
  const payload = openKeyBlock(keys, sealed);
  return keyOfPayload(sealed.header, payload, policy);
}

/** The key an authentic payload holds, if its header allows `policy`; the payload is wiped. */
function keyOfPayload(header: Tr31Header, payload: Uint8Array, policy: Tr31KeyPolicy): UnwrappedKey {
  try {
    // Authentic from here on: what follows is a statement about the sender's block.
    const keyBits = (payload[0] << 8) | payload[1];
    if (keyBits === 0 || keyBits % 8 !== 0 || keyBits / 8 > payload.length - 2) {
      throw new PaypadError('TR31_MALFORMED', 'key length field does not fit the payload');
    }
    assertKeyLengthFor(header.algorithm, keyBits / 8);
    checkPolicy(header, policy);
    return { key: payload.slice(2, 2 + keyBits / 8), header };
  } finally {
    wipe(payload);
  }
}

/** A key block as received, its shape checked: the header (parsed and as sent), payload and MAC. */
interface SealedKeyBlock {
  readonly header: Tr31Header;
  readonly headerText: string;
  readonly encrypted: Uint8Array;
  readonly mac: Uint8Array;
}

function parseSealedKeyBlock(block: string): SealedKeyBlock {
  const { header, headerLength, declaredLength } = parseKeyBlockHeader(block);
  const layout = versionLayout(header.versionId);
  if (declaredLength !== block.length) {
    throw new PaypadError('TR31_MALFORMED', `header says the block has ${declaredLength} characters, it has ${block.length}`);
  }
  const macHex = 2 * layout.macLength;
  const payloadHex = block.length - headerLength - macHex;
  if (payloadHex < 2 * layout.blockSize || payloadHex % (2 * layout.blockSize) !== 0) {
    throw new PaypadError('TR31_MALFORMED', `encrypted payload must be a whole number of ${layout.blockSize}-byte blocks`);
  }
  for (let i = headerLength; i < block.length; i++) {
    const c = block.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70))) {
      throw new PaypadError('TR31_MALFORMED', `payload and MAC must be uppercase hex (position ${i})`);
    }
  }
  return {
    header,
    headerText: block.slice(0, headerLength),
    encrypted: fromHex(block.slice(headerLength, headerLength + payloadHex), 'encrypted payload'),
    mac: fromHex(block.slice(headerLength + payloadHex), 'MAC'),
  };
}

/** The clear payload, once the MAC over header and payload verified; TR31_MAC_MISMATCH otherwise. */
function openKeyBlock({ kbek, kbmk }: KeyBlockKeys, sealed: SealedKeyBlock): Uint8Array {
  const headerLength = sealed.headerText.length;
  const macInput = new Uint8Array(headerLength + sealed.encrypted.length);
  macInput.set(asciiToBytes(sealed.headerText));
  const clear = aesCbcDecrypt(kbek, sealed.mac, sealed.encrypted);
  macInput.set(clear, headerLength);
  const computed = aesCmac(kbmk, macInput);
  const authentic = constantTimeEqual(computed, sealed.mac);
  wipe(macInput, computed);
  if (!authentic) {
    wipe(clear);
    throw new PaypadError('TR31_MAC_MISMATCH', 'key block MAC does not verify: the block was altered or the KBPK is wrong');
  }
  return clear;
}

/**
 * TR31_USAGE_NOT_ALLOWED unless an authentic block's `header` allows what `policy` needs (the
 * check unwrapKeyBlock makes after the MAC, for an HSM that authenticates its blocks itself).
 */
export function assertKeyBlockPolicy(header: Tr31Header, policy: Tr31KeyPolicy): void {
  assertPolicy(policy);
  checkPolicy(header, policy);
}

function assertPolicy(policy: Tr31KeyPolicy): void {
  if (
    typeof policy !== 'object' ||
    policy === null ||
    typeof policy.usage !== 'string' ||
    policy.usage.length !== 2 ||
    !Array.isArray(policy.modesOfUse) ||
    policy.modesOfUse.length === 0 ||
    (policy.algorithm !== undefined && typeof policy.algorithm !== 'string')
  ) {
    throw new PaypadError('BAD_ARGUMENT', 'policy must name a 2-character usage and at least one mode of use');
  }
}

function checkPolicy(header: Tr31Header, policy: Tr31KeyPolicy): void {
  if (header.keyUsage !== policy.usage) {
    throw new PaypadError('TR31_USAGE_NOT_ALLOWED', `key usage is ${header.keyUsage}, ${policy.usage} is needed`);
  }
  if (!policy.modesOfUse.includes(header.modeOfUse)) {
    throw new PaypadError('TR31_USAGE_NOT_ALLOWED', `mode of use is ${header.modeOfUse}, one of ${policy.modesOfUse.join(', ')} is needed`);
  }
  if (policy.algorithm !== undefined && header.algorithm !== policy.algorithm) {
    throw new PaypadError('TR31_USAGE_NOT_ALLOWED', `algorithm is ${header.algorithm}, ${policy.algorithm} is needed`);
  }
}
