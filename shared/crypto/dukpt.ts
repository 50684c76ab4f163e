/**
 * AES DUKPT (ANSI X9.24-3-2017): one key per transaction, derived from a base derivation key (BDK).
 *
 *   BDK --(initial key ID)--> IK, loaded into one device
 *   IK  --(counter bits, high to low)--> the intermediate derivation key of a transaction counter
 *   derivation key --(usage, key type, KSN)--> the transaction's working key
 *
 * Every step is one derivation: AES-ECB under the parent key of one 16-byte block of
 * derivation data per 128 bits of output, the key the leftmost bits:
 *
 *   byte 0     version 01
 *   byte 1     key block counter 01, 02 (one per block of output)
 *   bytes 2-3  key usage indicator (DUKPT_KEY_USAGE below; 8000 key derivation, 8001 initial key)
 *   bytes 4-5  algorithm of the derived key: 0002 AES-128, 0003 AES-192, 0004 AES-256
 *   bytes 6-7  length of the derived key in bits: 0080, 00C0, 0100
 *   bytes 8-15 the initial key: the 8-byte initial key ID;
 *              any other key: the derivation ID (initial key ID bytes 4-7) || the 32-bit counter
 *
 * A KSN is the 8-byte initial key ID (4-byte BDK ID || 4-byte derivation ID) and a 32-bit
 * transaction counter. Counters with more than 16 one bits are never used: the device skips them
 * (dukptTerminal), so such a KSN is refused here.
 *
 * This module is the algorithm both sides share: the terminal's future key registers
 * (dukptTerminal) derive with dukptIntermediateKey and dukptWorkingKey, the host derives the same
 * keys from the BDK with dukptHostWorkingKey. Vectors: test/vectors/dukpt.json (the standard's
 * supplementary test vectors). Key types: AES only, because paypad's crypto seam has no TDEA; the
 * standard's 2TDEA and 3TDEA working keys (algorithm 0000, 0001) are refused with BAD_ARGUMENT.
 *
 * Runs in XS and Node: no Node APIs, no tables built on import. Every intermediate key is wiped.
 */
import { wipe } from '../bytes';
import { PaypadError } from '../errors';
import { AES_BLOCK, aesEcbEncrypt } from './aes';

export type DukptKeyType = 'AES-128' | 'AES-192' | 'AES-256';

/** The working keys a transaction may use, as the standard's key usage indicators name them. */
export type DukptKeyUsage =
  | 'key-encryption'
  | 'pin-encryption'
  | 'mac-generation'
  | 'mac-verification'
  | 'mac-both'
  | 'data-encrypt'
  | 'data-decrypt'
  | 'data-both';

/** X9.24-3-2017 key usage indicators of the working keys (bytes 2-3 of the derivation data). */
export const DUKPT_KEY_USAGE: Readonly<Record<DukptKeyUsage, number>> = Object.freeze({
  'key-encryption': 0x0002,
  'pin-encryption': 0x1000,
  'mac-generation': 0x2000,
  'mac-verification': 0x2001,
  'mac-both': 0x2002,
  'data-encrypt': 0x3000,
  'data-decrypt': 0x3001,
  'data-both': 0x3002,
});

const USAGE_KEY_DERIVATION = 0x8000;
const USAGE_INITIAL_KEY = 0x8001;
const DERIVATION_DATA_VERSION = 0x01;

export const DUKPT_INITIAL_KEY_ID_BYTES = 8;
export const DUKPT_KSN_BYTES = 12;
/** The derivation ID is the right half of the initial key ID. */
const DERIVATION_ID_OFFSET = 4;
/** One future key register per counter bit. */
export const DUKPT_COUNTER_BITS = 32;
/** A counter with more one bits than this is never used (the device skips it). */
export const DUKPT_MAX_COUNTER_ONE_BITS = 16;
export const DUKPT_MAX_COUNTER = 0xffffffff;

/** The key type of an AES key by its length; KEY_LENGTH for any other length. */
export function dukptKeyTypeOf(key: Uint8Array, what: string): DukptKeyType {
  return keyTypeOfLength(key instanceof Uint8Array ? key.length : -1, what, key);
}

function keyTypeOfLength(length: number, what: string, key?: unknown): DukptKeyType {
  if (length === 16) return 'AES-128';
  if (length === 24) return 'AES-192';
  if (length === 32) return 'AES-256';
  const got = length >= 0 ? `${length} bytes` : typeof key;
  throw new PaypadError('KEY_LENGTH', `${what}: expected an AES-128, AES-192 or AES-256 key (16, 24 or 32 bytes), got ${got}`);
}

/** Length in bytes of a key of `keyType`; BAD_ARGUMENT for a type the standard has but paypad cannot use. */
export function dukptKeyLength(keyType: DukptKeyType): number {
  if (keyType === 'AES-128') return 16;
  if (keyType === 'AES-192') return 24;
  if (keyType === 'AES-256') return 32;
  throw new PaypadError('BAD_ARGUMENT', `DUKPT key type: expected AES-128, AES-192 or AES-256, got ${String(keyType)}`);
}

/** Bytes 4-5: 0002, 0003, 0004 for AES-128, -192, -256 (0000 and 0001 are 2TDEA and 3TDEA). */
function algorithmIndicator(lengthBytes: number): number {
  return lengthBytes === 16 ? 0x0002 : lengthBytes === 24 ? 0x0003 : 0x0004;
}

/** The key usage indicator of `usage`; BAD_ARGUMENT for anything else. */
export function dukptKeyUsageIndicator(usage: DukptKeyUsage): number {
  const indicator = typeof usage === 'string' && Object.prototype.hasOwnProperty.call(DUKPT_KEY_USAGE, usage) ? DUKPT_KEY_USAGE[usage] : undefined;
  if (indicator === undefined) throw new PaypadError('BAD_ARGUMENT', `DUKPT key usage: expected one of ${Object.keys(DUKPT_KEY_USAGE).join(', ')}`);
  return indicator;
}

/** The derivation data of a `lengthBytes` key: one block per 128 bits; `tail` is bytes 8-15. */
function derivationData(usage: number, lengthBytes: number, tail: Uint8Array): Uint8Array {
  const blocks = lengthBytes > AES_BLOCK ? 2 : 1;
  const data = new Uint8Array(blocks * AES_BLOCK);
  const algorithm = algorithmIndicator(lengthBytes);
  const bits = lengthBytes * 8;
  for (let b = 0; b < blocks; b++) {
    const o = b * AES_BLOCK;
    data[o] = DERIVATION_DATA_VERSION;
    data[o + 1] = b + 1;
    data[o + 2] = usage >>> 8;
    data[o + 3] = usage & 0xff;
    data[o + 4] = algorithm >>> 8;
    data[o + 5] = algorithm & 0xff;
    data[o + 6] = bits >>> 8;
    data[o + 7] = bits & 0xff;
    data.set(tail, o + 8);
  }
  return data;
}

/** One derivation: the leftmost `lengthBytes` of AES-ECB under `parent` of `data` (all blocks in one call). */
function deriveWith(parent: Uint8Array, data: Uint8Array, lengthBytes: number): Uint8Array {
  const out = aesEcbEncrypt(parent, data);
  if (out.length === lengthBytes) return out;
  const key = out.slice(0, lengthBytes);
  wipe(out);
  return key;
}

function derive(parent: Uint8Array, usage: number, lengthBytes: number, tail: Uint8Array): Uint8Array {
  return deriveWith(parent, derivationData(usage, lengthBytes, tail), lengthBytes);
}

/** Bytes 8-15 of every derivation but the initial key's: derivation ID || counter. */
function counterTail(initialKeyId: Uint8Array, counter: number): Uint8Array {
  const tail = new Uint8Array(8);
  tail.set(initialKeyId.subarray(DERIVATION_ID_OFFSET, DUKPT_INITIAL_KEY_ID_BYTES));
  writeCounter(tail, 4, counter);
  return tail;
}

function writeCounter(out: Uint8Array, offset: number, counter: number): void {
  out[offset] = counter >>> 24;
  out[offset + 1] = (counter >>> 16) & 0xff;
  out[offset + 2] = (counter >>> 8) & 0xff;
  out[offset + 3] = counter & 0xff;
}

/** The number of one bits of a 32-bit counter. */
export function dukptCounterOneBits(counter: number): number {
  let v = counter >>> 0;
  let n = 0;
  while (v !== 0) {
    v &= v - 1;
    n++;
  }
  return n;
}

export function assertInitialKeyId(initialKeyId: Uint8Array): void {
  if (!(initialKeyId instanceof Uint8Array) || initialKeyId.length !== DUKPT_INITIAL_KEY_ID_BYTES) {
    throw new PaypadError('BAD_LENGTH', `DUKPT initial key ID: expected ${DUKPT_INITIAL_KEY_ID_BYTES} bytes (BDK ID || derivation ID)`);
  }
}

/**
 * DUKPT_KSN_INVALID unless `counter` is a counter the device can reach: 1 to 2^32 - 1 with at
 * most 16 one bits.
 */
export function assertDukptCounter(counter: number): void {
  if (!Number.isInteger(counter) || counter < 1 || counter > DUKPT_MAX_COUNTER) {
    throw new PaypadError('DUKPT_KSN_INVALID', 'DUKPT transaction counter: expected 1 to 2^32 - 1');
  }
  if (dukptCounterOneBits(counter) > DUKPT_MAX_COUNTER_ONE_BITS) {
    throw new PaypadError('DUKPT_KSN_INVALID', `DUKPT transaction counter: more than ${DUKPT_MAX_COUNTER_ONE_BITS} one bits, which no device uses`);
  }
}

/** The 12-byte KSN of `counter` under `initialKeyId`. */
export function dukptKsn(initialKeyId: Uint8Array, counter: number): Uint8Array {
  assertInitialKeyId(initialKeyId);
  assertDukptCounter(counter);
  const ksn = new Uint8Array(DUKPT_KSN_BYTES);
  ksn.set(initialKeyId);
  writeCounter(ksn, DUKPT_INITIAL_KEY_ID_BYTES, counter);
  return ksn;
}

export interface DukptKsnParts {
  readonly initialKeyId: Uint8Array;
  readonly counter: number;
}

/** The initial key ID and counter of a 12-byte KSN; DUKPT_KSN_INVALID for any other KSN. */
export function parseDukptKsn(ksn: Uint8Array): DukptKsnParts {
  if (!(ksn instanceof Uint8Array) || ksn.length !== DUKPT_KSN_BYTES) {
    throw new PaypadError('DUKPT_KSN_INVALID', `DUKPT KSN: expected ${DUKPT_KSN_BYTES} bytes (initial key ID || counter)`);
  }
  const o = DUKPT_INITIAL_KEY_ID_BYTES;
  const counter = ((ksn[o] << 24) | (ksn[o + 1] << 16) | (ksn[o + 2] << 8) | ksn[o + 3]) >>> 0;
  assertDukptCounter(counter);
  return { initialKeyId: ksn.slice(0, o), counter };
}

/** The initial key (IK) of the device with `initialKeyId`, derived from the BDK; same type as the BDK. */
export function dukptInitialKey(bdk: Uint8Array, initialKeyId: Uint8Array): Uint8Array {
  const keyType = dukptKeyTypeOf(bdk, 'DUKPT BDK');
  assertInitialKeyId(initialKeyId);
  return derive(bdk, USAGE_INITIAL_KEY, dukptKeyLength(keyType), initialKeyId);
}

/**
 * The intermediate derivation key of `counter`, from the derivation key of a counter with the
 * same bits above `counter`'s lowest one bit (the IK for a counter with one bit). The device's
 * future key registers are filled with it; the host walks a counter's bits with it.
 */
export function dukptIntermediateKey(parent: Uint8Array, initialKeyId: Uint8Array, counter: number): Uint8Array {
  dukptKeyTypeOf(parent, 'DUKPT derivation key');
  assertInitialKeyId(initialKeyId);
  return derive(parent, USAGE_KEY_DERIVATION, parent.length, counterTail(initialKeyId, counter));
}

/** One step from a key to the next: the next key is the leftmost `lengthBytes` of AES-ECB(key, data). */
export interface DukptDerivationStep {
  readonly data: Uint8Array;
  readonly lengthBytes: number;
}

/**
 * The intermediate derivation key of the KSN's counter, from the device's initial key: set the
 * counter's one bits from the highest down, deriving once per bit (at most 16 derivations).
 */
export function dukptDerivationKey(initialKey: Uint8Array, ksn: Uint8Array): Uint8Array {
  dukptKeyTypeOf(initialKey, 'DUKPT initial key');
  const { initialKeyId, counter } = parseDukptKsn(ksn);
  const steps: DukptDerivationStep[] = [];
  pushCounterSteps(steps, initialKeyId, counter, initialKey.length);
  return runSteps(initialKey, steps);
}

/** The intermediate derivations of `counter`: one per one bit, highest first, each setting that bit. */
function pushCounterSteps(steps: DukptDerivationStep[], initialKeyId: Uint8Array, counter: number, lengthBytes: number): void {
  let reached = 0;
  for (let bit = DUKPT_COUNTER_BITS - 1; bit >= 0; bit--) {
    if (((counter >>> bit) & 1) === 0) continue;
    reached = (reached | (1 << bit)) >>> 0;
    steps.push({ data: derivationData(USAGE_KEY_DERIVATION, lengthBytes, counterTail(initialKeyId, reached)), lengthBytes });
  }
}

/** The key at the end of `steps` from `start` (left as it is); every key between is wiped. */
function runSteps(start: Uint8Array, steps: readonly DukptDerivationStep[]): Uint8Array {
  let key = start;
  for (let i = 0; i < steps.length; i++) {
    const next = deriveWith(key, steps[i].data, steps[i].lengthBytes);
    if (key !== start) wipe(key);
    key = next;
  }
  return key === start ? start.slice() : key;
}

/**
 * The working key of `usage` and `keyType` for the transaction of `ksn`, from that transaction's
 * intermediate derivation key. A working key may not be longer than the key it comes from
 * (BAD_ARGUMENT): an AES-128 BDK gives AES-128 working keys only.
 */
export function dukptWorkingKey(derivationKey: Uint8Array, ksn: Uint8Array, usage: DukptKeyUsage, keyType: DukptKeyType): Uint8Array {
  const parentType = dukptKeyTypeOf(derivationKey, 'DUKPT derivation key');
  const indicator = dukptKeyUsageIndicator(usage);
  const lengthBytes = dukptKeyLength(keyType);
  if (lengthBytes > derivationKey.length) {
    throw new PaypadError('BAD_ARGUMENT', `DUKPT working key: an ${keyType} key cannot be derived from an ${parentType} key`);
  }
  const { initialKeyId, counter } = parseDukptKsn(ksn);
  return derive(derivationKey, indicator, lengthBytes, counterTail(initialKeyId, counter));
}

/**
 * The host's derivations, in order, from a BDK of `bdkLength` bytes to the working key of `usage`
 * for the transaction of `ksn`: the initial key, one intermediate key per one bit of the counter
 * (highest first), the working key. At most 18 steps. Exposed so an HSM that runs AES itself
 * (host/hsm's PKCS#11 backend) derives from the same bytes; dukptHostWorkingKey runs them here.
 */
export function dukptHostDerivationSteps(bdkLength: number, ksn: Uint8Array, usage: DukptKeyUsage, keyType?: DukptKeyType): DukptDerivationStep[] {
  const bdkType = keyTypeOfLength(bdkLength, 'DUKPT BDK');
  const { initialKeyId, counter } = parseDukptKsn(ksn);
  const indicator = dukptKeyUsageIndicator(usage);
  const workingLength = dukptKeyLength(keyType ?? bdkType);
  if (workingLength > bdkLength) throw new PaypadError('BAD_ARGUMENT', `DUKPT working key: an ${String(keyType)} key cannot be derived from an ${bdkType} key`);
  const steps: DukptDerivationStep[] = [{ data: derivationData(USAGE_INITIAL_KEY, bdkLength, initialKeyId), lengthBytes: bdkLength }];
  pushCounterSteps(steps, initialKeyId, counter, bdkLength);
  steps.push({ data: derivationData(indicator, workingLength, counterTail(initialKeyId, counter)), lengthBytes: workingLength });
  return steps;
}

/**
 * The host's side: the working key of `usage` for the transaction of `ksn`, from the BDK
 * (the same key the device used). `keyType` defaults to the BDK's type.
 */
export function dukptHostWorkingKey(bdk: Uint8Array, ksn: Uint8Array, usage: DukptKeyUsage, keyType?: DukptKeyType): Uint8Array {
  dukptKeyTypeOf(bdk, 'DUKPT BDK');
  return runSteps(bdk, dukptHostDerivationSteps(bdk.length, ksn, usage, keyType));
}
