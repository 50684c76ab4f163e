/**
 * The device's side of AES DUKPT (ANSI X9.24-3-2017): the future key registers.
 *
 * The device never keeps its initial key. Loading it fills 32 registers, register k holding the
 * intermediate derivation key of counter 2^k, and the counter starts at 1. A transaction uses
 * the register of its counter's lowest one bit (p); its working keys are derived from that key.
 * Then, as the standard's algorithm does:
 *
 *   - if the counter has fewer than 16 one bits, the registers below p are refilled from the
 *     used key (register k: the key of counter | 2^k), the used register is erased and the
 *     counter goes up by 1;
 *   - otherwise no counter above it with one more bit may be used: the register is erased and
 *     the counter goes up by 2^p, skipping every counter with more than 16 one bits.
 *
 * A register found empty is skipped the same way (counter += 2^p). Past 2^32 - 1 the device has
 * no keys left: DUKPT_COUNTER_EXHAUSTED, and it needs a new initial key.
 *
 * The state (registers, counter) is secret: keep it where the firmware keeps keys, and store the
 * state nextTransaction leaves BEFORE the transaction's message leaves the device, so a restart
 * can never reuse a counter. encode/restore give it as bytes (dukptTerminalState layout below).
 *
 * Runs in XS and Node: no Node APIs, no tables built on import, no callbacks in the loops.
 */
import { wipe } from '../bytes';
import { PaypadError } from '../errors';
import {
  DUKPT_COUNTER_BITS,
  DUKPT_INITIAL_KEY_ID_BYTES,
  DUKPT_MAX_COUNTER,
  DUKPT_MAX_COUNTER_ONE_BITS,
  type DukptKeyType,
  type DukptKeyUsage,
  assertInitialKeyId,
  dukptCounterOneBits,
  dukptIntermediateKey,
  dukptKeyLength,
  dukptKeyTypeOf,
  dukptKeyUsageIndicator,
  dukptKsn,
  dukptWorkingKey,
} from './dukpt';

/** One transaction's KSN (to send with the message) and working key (to use once, then wipe). */
export interface DukptTransaction {
  readonly ksn: Uint8Array;
  readonly key: Uint8Array;
}

export interface DukptWorkingKeyRequest {
  readonly usage: DukptKeyUsage;
  /** Defaults to the initial key's type. */
  readonly keyType?: DukptKeyType;
}

/*
 * State layout, version 1 (18 + 32 * key length bytes):
 *   0      version 01
 *   1      key length in bytes (16, 24, 32)
 *   2-9    initial key ID
 *   10-13  the next transaction counter, big-endian; 0 once exhausted
 *   14-17  which registers hold a key, bit k = register k
 *   18-    register 0 .. register 31, each a key length; an empty register is zeros
 */
const STATE_VERSION = 1;
const STATE_HEADER_BYTES = 18;
const COUNTER_OFFSET = 10;
const IN_USE_OFFSET = 14;

export class DukptTerminal {
  private readonly registers: Uint8Array;
  private readonly keyLength: number;
  private readonly initialKeyIdBytes: Uint8Array;
  /** The next counter to use; 0 once exhausted. */
  private next: number;
  /** Bit k set: register k holds a key. */
  private inUse: number;

  private constructor(keyLength: number, initialKeyId: Uint8Array, registers: Uint8Array, next: number, inUse: number) {
    this.keyLength = keyLength;
    this.initialKeyIdBytes = initialKeyId;
    this.registers = registers;
    this.next = next;
    this.inUse = inUse;
  }

  /**
   * A device loaded with `initialKey` (IK) and its `initialKeyId`: all 32 registers filled, the
   * counter at 1. The caller wipes its copy of the IK; this keeps none.
   */
  static load(initialKey: Uint8Array, initialKeyId: Uint8Array): DukptTerminal {
    const keyLength = dukptKeyLength(dukptKeyTypeOf(initialKey, 'DUKPT initial key'));
    assertInitialKeyId(initialKeyId);
    const terminal = new DukptTerminal(keyLength, initialKeyId.slice(), new Uint8Array(DUKPT_COUNTER_BITS * keyLength), 0, 0);
    terminal.fillRegistersBelow(initialKey, 0, DUKPT_COUNTER_BITS);
    terminal.next = 1;
    return terminal;
  }

  /** A device as encodeState left it; DUKPT_STATE_INVALID for bytes that are not such a state. */
  static restore(state: Uint8Array): DukptTerminal {
    if (!(state instanceof Uint8Array) || state.length < STATE_HEADER_BYTES || state[0] !== STATE_VERSION) {
      throw new PaypadError('DUKPT_STATE_INVALID', 'DUKPT state: not a version 1 DUKPT state');
    }
    const keyLength = state[1];
    if ((keyLength !== 16 && keyLength !== 24 && keyLength !== 32) || state.length !== STATE_HEADER_BYTES + DUKPT_COUNTER_BITS * keyLength) {
      throw new PaypadError('DUKPT_STATE_INVALID', 'DUKPT state: key length and size do not match');
    }
    const next = readUint32(state, COUNTER_OFFSET);
    const inUse = readUint32(state, IN_USE_OFFSET);
    const registers = state.slice(STATE_HEADER_BYTES);
    // An empty register is zeros and an exhausted device has none left: anything else was not written here.
    let consistent = next !== 0 || inUse === 0;
    for (let k = 0; k < DUKPT_COUNTER_BITS && consistent; k++) {
      if (((inUse >>> k) & 1) === 0 && !isZero(registers, k * keyLength, keyLength)) consistent = false;
    }
    if (!consistent) {
      wipe(registers);
      throw new PaypadError('DUKPT_STATE_INVALID', 'DUKPT state: registers and counter are inconsistent');
    }
    return new DukptTerminal(keyLength, state.slice(2, 2 + DUKPT_INITIAL_KEY_ID_BYTES), registers, next, inUse);
  }

  get initialKeyId(): Uint8Array {
    return this.initialKeyIdBytes.slice();
  }

  get keyType(): DukptKeyType {
    return this.keyLength === 16 ? 'AES-128' : this.keyLength === 24 ? 'AES-192' : 'AES-256';
  }

  /** The counter the next transaction will use (or skip past), or null once exhausted. */
  get counter(): number | null {
    return this.next === 0 ? null : this.next;
  }

  /** The next transaction's KSN and its one working key of `usage`. */
  nextTransaction(usage: DukptKeyUsage, keyType?: DukptKeyType): DukptTransaction {
    const { ksn, keys } = this.nextTransactionKeys([{ usage, keyType }]);
    return { ksn, key: keys[0] };
  }

  /**
   * The next transaction's KSN and a working key per request, all under that one KSN (a PIN key
   * and a MAC key for the same message), then the registers advance. DUKPT_COUNTER_EXHAUSTED when
   * no counter is left; BAD_ARGUMENT for an unknown usage or a key type longer than the initial
   * key's, and then the state is unchanged.
   */
  nextTransactionKeys(requests: readonly DukptWorkingKeyRequest[]): { ksn: Uint8Array; keys: Uint8Array[] } {
    if (!Array.isArray(requests) || requests.length === 0) throw new PaypadError('BAD_ARGUMENT', 'DUKPT: expected at least one working key request');
    for (let i = 0; i < requests.length; i++) {
      dukptKeyUsageIndicator(requests[i].usage);
      const keyType = requests[i].keyType;
      if (keyType !== undefined && dukptKeyLength(keyType) > this.keyLength) {
        throw new PaypadError('BAD_ARGUMENT', `DUKPT working key: an ${keyType} key cannot be derived from an ${this.keyType} key`);
      }
    }
    // Find the counter to use: the register of its lowest one bit must hold a key.
    let p = this.lowestOneBit();
    while (((this.inUse >>> p) & 1) === 0) {
      this.advance(p);
      p = this.lowestOneBit();
    }
    const counter = this.next;
    const ksn = dukptKsn(this.initialKeyIdBytes, counter);
    const current = this.registers.subarray(p * this.keyLength, (p + 1) * this.keyLength);
    const keys: Uint8Array[] = [];
    try {
      for (let i = 0; i < requests.length; i++) {
        keys.push(dukptWorkingKey(current, ksn, requests[i].usage, requests[i].keyType ?? this.keyType));
      }
    } catch (e) {
      wipe(...keys);
      throw e;
    }
    if (dukptCounterOneBits(counter) < DUKPT_MAX_COUNTER_ONE_BITS) {
      this.fillRegistersBelow(current, counter, p);
      this.erase(p);
      this.next = counter + 1;
    } else {
      this.advance(p);
    }
    return { ksn, keys };
  }

  /** The state as bytes, to store (secret: it holds every future key). */
  encodeState(): Uint8Array {
    const out = new Uint8Array(STATE_HEADER_BYTES + this.registers.length);
    out[0] = STATE_VERSION;
    out[1] = this.keyLength;
    out.set(this.initialKeyIdBytes, 2);
    writeUint32(out, COUNTER_OFFSET, this.next);
    writeUint32(out, IN_USE_OFFSET, this.inUse);
    out.set(this.registers, STATE_HEADER_BYTES);
    return out;
  }

  /** Erases every register: the device keeps no key after this. */
  destroy(): void {
    wipe(this.registers);
    this.inUse = 0;
    this.next = 0;
  }

  /** Registers count-1 .. 0 get the keys of `base | 2^k`, derived from `baseKey` (the key of `base`). */
  private fillRegistersBelow(baseKey: Uint8Array, base: number, count: number): void {
    for (let k = count - 1; k >= 0; k--) {
      const key = dukptIntermediateKey(baseKey, this.initialKeyIdBytes, (base | (1 << k)) >>> 0);
      this.registers.set(key, k * this.keyLength);
      wipe(key);
      this.inUse = (this.inUse | (1 << k)) >>> 0;
    }
  }

  private erase(k: number): void {
    this.registers.fill(0, k * this.keyLength, (k + 1) * this.keyLength);
    this.inUse = (this.inUse & ~(1 << k)) >>> 0;
  }

  /**
   * Erases register p and skips to counter + 2^p. Past the last counter the device is exhausted
   * (every register erased, counter 0): the transaction that got here still had its keys.
   */
  private advance(p: number): void {
    this.erase(p);
    const next = this.next + 2 ** p;
    if (next > DUKPT_MAX_COUNTER) this.destroy();
    else this.next = next;
  }

  private lowestOneBit(): number {
    if (this.next === 0) throw new PaypadError('DUKPT_COUNTER_EXHAUSTED', 'DUKPT: the transaction counter is exhausted; the device needs a new initial key');
    let p = 0;
    while (((this.next >>> p) & 1) === 0) p++;
    return p;
  }
}

/** A device loaded with its initial key (see DukptTerminal.load). */
export function createDukptTerminal(initialKey: Uint8Array, initialKeyId: Uint8Array): DukptTerminal {
  return DukptTerminal.load(initialKey, initialKeyId);
}

/** A device from its stored state (see DukptTerminal.restore). */
export function restoreDukptTerminal(state: Uint8Array): DukptTerminal {
  return DukptTerminal.restore(state);
}

function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
}

function writeUint32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

function isZero(bytes: Uint8Array, offset: number, length: number): boolean {
  let acc = 0;
  for (let i = offset; i < offset + length; i++) acc |= bytes[i];
  return acc === 0;
}
