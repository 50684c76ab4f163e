/**
 * A DUKPT device's stored state (shared/crypto/dukptTerminal, layout version 1) at any counter,
 * built from the host's derivation, so tests and benchmarks can start a device next to the
 * counters that matter (the 16-one-bit boundary, the last counters) without running billions of
 * transactions. It follows the future key registers' invariant: with `next` the next counter and
 * p its lowest one bit, register p holds next's key; a register k above p holds the key of next
 * with bits 0..k cleared and bit k set, when next has a 0 there and that counter has at most 16
 * one bits; every other register is empty (the registers below p are filled only once next is used).
 */
import { dukptCounterOneBits, dukptDerivationKey, dukptKsn } from '../../shared/crypto/dukpt';

export function dukptStateAt(initialKey: Uint8Array, initialKeyId: Uint8Array, next: number): Uint8Array {
  const keyLength = initialKey.length;
  const out = new Uint8Array(18 + 32 * keyLength);
  const view = new DataView(out.buffer);
  out[0] = 1;
  out[1] = keyLength;
  out.set(initialKeyId, 2);
  view.setUint32(10, next);
  let p = 0;
  while (((next >>> p) & 1) === 0) p++;
  let inUse = 0;
  for (let k = p; k < 32; k++) {
    let counter: number;
    if (k === p) counter = next;
    else if (((next >>> k) & 1) === 1) continue;
    else counter = Math.floor(next / 2 ** (k + 1)) * 2 ** (k + 1) + 2 ** k;
    if (dukptCounterOneBits(counter) > 16) continue;
    out.set(dukptDerivationKey(initialKey, dukptKsn(initialKeyId, counter)), 18 + k * keyLength);
    inUse = (inUse | (1 << k)) >>> 0;
  }
  view.setUint32(14, inUse);
  return out;
}
