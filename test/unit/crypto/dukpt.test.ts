/**
 * AES DUKPT (ANSI X9.24-3-2017), both sides: the host's derivation from the BDK and the device's
 * future key registers, against the standard's supplementary test vectors (test/vectors/dukpt.json:
 * ASC X9's supplement, as reproduced in openemv/dukpt, https://github.com/openemv/dukpt) and against
 * each other. The card reader (E4) encrypts track data under a DUKPT key so that it never travels
 * or rests in clear (X1).
 */
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import {
  DUKPT_KEY_USAGE,
  type DukptKeyType,
  type DukptKeyUsage,
  dukptCounterOneBits,
  dukptDerivationKey,
  dukptHostWorkingKey,
  dukptInitialKey,
  dukptKsn,
  dukptWorkingKey,
  parseDukptKsn,
} from '../../../shared/crypto/dukpt';
import { DukptTerminal, createDukptTerminal, restoreDukptTerminal } from '../../../shared/crypto/dukptTerminal';
import { dukptStateAt } from '../../support/dukptState';

interface WorkingKeyVector { usage: DukptKeyUsage; keyType: DukptKeyType; key: string }
interface TransactionVector { ksn: string; derivationKey: string; workingKeys?: WorkingKeyVector[]; pinBlock?: string }
interface BdkVector { name: string; bdk: string; initialKeyId: string; initialKey: string; transactions: TransactionVector[] }
interface DukptFile {
  pinEntry: { pin: string; pan: string; randomFill: string };
  bdks: BdkVector[];
  skippedCounters: { name: string; bdk: string; ksn: string }[];
}
const file: DukptFile = JSON.parse(readFileSync(new URL('../../vectors/dukpt.json', import.meta.url), 'utf8'));
const [AES128, AES256] = file.bdks;

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isPaypadError(e), `expected a PaypadError, got ${String(e)}`).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

const counterOf = (ksn: Uint8Array) => parseDukptKsn(ksn).counter;
const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

// The derivation data built here from the standard's table with node:crypto, independent of the
// module: version 01, block counter, usage, algorithm, length in bits, 8 bytes of ID/counter.
function referenceDerive(parent: Uint8Array, usage: number, lengthBytes: number, tail: Uint8Array): Uint8Array {
  const algorithm = { 16: 2, 24: 3, 32: 4 }[lengthBytes]!;
  const blocks: Buffer[] = [];
  for (let b = 1; b <= Math.ceil(lengthBytes / 16); b++) {
    const data = Buffer.alloc(16);
    data.writeUInt8(1, 0);
    data.writeUInt8(b, 1);
    data.writeUInt16BE(usage, 2);
    data.writeUInt16BE(algorithm, 4);
    data.writeUInt16BE(lengthBytes * 8, 6);
    Buffer.from(tail).copy(data, 8);
    const c = createCipheriv(`aes-${parent.length * 8}-ecb`, parent, null);
    c.setAutoPadding(false);
    blocks.push(c.update(data));
  }
  return new Uint8Array(Buffer.concat(blocks).subarray(0, lengthBytes));
}

describe('E4 X1: AES DUKPT, the host side against the X9.24-3-2017 supplementary vectors', () => {
  for (const set of file.bdks) {
    it(`E4: ${set.name}: the initial key of initial key ID ${set.initialKeyId}`, () => {
      expect(toHex(dukptInitialKey(fromHex(set.bdk), fromHex(set.initialKeyId)))).toBe(set.initialKey);
    });

    it(`E4: ${set.name}: each KSN's intermediate derivation key from the IK, from the first counters to the last`, () => {
      const ik = fromHex(set.initialKey);
      for (const t of set.transactions) expect(toHex(dukptDerivationKey(ik, fromHex(t.ksn))), t.ksn).toBe(t.derivationKey);
    });

    it(`E4: ${set.name}: working keys for PIN encryption, MAC generation and data encryption from BDK + KSN`, () => {
      const cases = set.transactions.flatMap((t) => (t.workingKeys ?? []).map((w) => ({ ksn: t.ksn, ...w })));
      expect(cases.length).toBeGreaterThanOrEqual(24);
      for (const c of cases) {
        expect(toHex(dukptHostWorkingKey(fromHex(set.bdk), fromHex(c.ksn), c.usage, c.keyType)), `${c.ksn} ${c.usage} ${c.keyType}`).toBe(c.key);
      }
    });
  }

  it('E4: the published PIN blocks: ISO 9564-1 format 4 of PIN 1234 under each of the first eight AES-128 PIN keys', () => {
    const { pin, pan, randomFill } = file.pinEntry;
    const withPin = AES128.transactions.filter((t) => t.pinBlock);
    expect(withPin).toHaveLength(8);
    for (const t of withPin) {
      const key = dukptHostWorkingKey(fromHex(AES128.bdk), fromHex(t.ksn), 'pin-encryption');
      expect(toHex(encipherPinBlockIso4(key, pin, pan, () => fromHex(randomFill)))).toBe(t.pinBlock);
    }
  });

  it('E4: the derivation data is the standard\'s layout (checked with node:crypto): every usage indicator and key type', () => {
    const bdk = fromHex(AES256.bdk);
    const ksn = fromHex(AES256.transactions[5].ksn);
    const derivationKey = fromHex(AES256.transactions[5].derivationKey);
    const tail = fromHex(AES256.initialKeyId.slice(8) + AES256.transactions[5].ksn.slice(16));
    for (const [usage, indicator] of Object.entries(DUKPT_KEY_USAGE) as [DukptKeyUsage, number][]) {
      for (const keyType of ['AES-128', 'AES-192', 'AES-256'] as const) {
        const expected = referenceDerive(derivationKey, indicator, Number(keyType.slice(4)) / 8, tail);
        expect(toHex(dukptHostWorkingKey(bdk, ksn, usage, keyType)), `${usage} ${keyType}`).toBe(toHex(expected));
      }
    }
    // The initial key: usage 8001 and the whole initial key ID.
    expect(toHex(referenceDerive(bdk, 0x8001, 32, fromHex(AES256.initialKeyId)))).toBe(AES256.initialKey);
  });

  it('E4: the KSN is the initial key ID and the counter, big-endian', () => {
    expect(toHex(dukptKsn(fromHex('1234567890123456'), 0x20001))).toBe('123456789012345600020001');
    expect(parseDukptKsn(fromHex('1234567890123456FFFF0000'))).toEqual({ initialKeyId: fromHex('1234567890123456'), counter: 0xffff0000 });
  });

  it('E4: a KSN no device uses is refused: counter 0, more than 16 one bits (the supplement\'s 0001FFFF), not 12 bytes', () => {
    for (const s of file.skippedCounters) expectCode(() => dukptHostWorkingKey(fromHex(s.bdk), fromHex(s.ksn), 'data-encrypt'), 'DUKPT_KSN_INVALID');
    expectCode(() => parseDukptKsn(fromHex('123456789012345600000000')), 'DUKPT_KSN_INVALID');
    expectCode(() => parseDukptKsn(fromHex('1234567890123456000001')), 'DUKPT_KSN_INVALID');
    expectCode(() => parseDukptKsn(fromHex('12345678901234560000000100')), 'DUKPT_KSN_INVALID');
    expectCode(() => dukptKsn(fromHex('1234567890123456'), 0x1ffff), 'DUKPT_KSN_INVALID');
    expectCode(() => dukptKsn(fromHex('1234567890123456'), 2 ** 32), 'DUKPT_KSN_INVALID');
  });

  it('E4: bad keys and arguments are typed errors: BDK and IK lengths, initial key ID length, unknown usage, a working key longer than its BDK, TDEA', () => {
    const ksn = fromHex(AES128.transactions[0].ksn);
    expectCode(() => dukptInitialKey(new Uint8Array(15), fromHex(AES128.initialKeyId)), 'KEY_LENGTH');
    expectCode(() => dukptInitialKey(new Uint8Array(8), fromHex(AES128.initialKeyId)), 'KEY_LENGTH');
    expectCode(() => dukptInitialKey(fromHex(AES128.bdk), new Uint8Array(7)), 'BAD_LENGTH');
    expectCode(() => dukptHostWorkingKey(new Uint8Array(20), ksn, 'pin-encryption'), 'KEY_LENGTH');
    expectCode(() => dukptDerivationKey(new Uint8Array(33), ksn), 'KEY_LENGTH');
    expectCode(() => dukptHostWorkingKey(fromHex(AES128.bdk), ksn, 'pin-verification' as DukptKeyUsage), 'BAD_ARGUMENT');
    expectCode(() => dukptHostWorkingKey(fromHex(AES128.bdk), ksn, 'data-encrypt', 'AES-256'), 'BAD_ARGUMENT');
    expectCode(() => dukptHostWorkingKey(fromHex(AES128.bdk), ksn, 'data-encrypt', '2TDEA' as DukptKeyType), 'BAD_ARGUMENT');
    expectCode(() => dukptWorkingKey(fromHex(AES128.initialKey), ksn, 'mac-both', 'AES-192'), 'BAD_ARGUMENT');
  });
});

describe('E4 X1: AES DUKPT, the device\'s future key registers', () => {
  for (const set of file.bdks) {
    it(`E4: ${set.name}: loaded with the IK, the first eight transactions have the published KSNs and working keys`, () => {
      const terminal = createDukptTerminal(fromHex(set.initialKey), fromHex(set.initialKeyId));
      expect(terminal.counter).toBe(1);
      for (const t of set.transactions.slice(0, 8)) {
        const requests = (t.workingKeys ?? []).map((w) => ({ usage: w.usage, keyType: w.keyType }));
        const { ksn, keys } = terminal.nextTransactionKeys(requests);
        expect(toHex(ksn)).toBe(t.ksn);
        expect(keys.map(toHex)).toEqual((t.workingKeys ?? []).map((w) => w.key));
      }
    });

    it(`E4: ${set.name}: the device skips the counter with 17 one bits (0001FFFE, then 00020000, 00020001) and ends after FFFF0000`, () => {
      const ik = fromHex(set.initialKey);
      const id = fromHex(set.initialKeyId);
      const near = restoreDukptTerminal(dukptStateAt(ik, id, 0x1fffe));
      const ksns = [0, 1, 2].map(() => toHex(near.nextTransaction('data-encrypt').ksn));
      expect(ksns).toEqual(['1234567890123456' + '0001FFFE', '123456789012345600020000', '123456789012345600020001']);

      const last = restoreDukptTerminal(dukptStateAt(ik, id, 0xfffe2000));
      const lastFour = set.transactions.slice(-4);
      for (const t of lastFour) {
        const { ksn, key } = last.nextTransaction('pin-encryption');
        expect(toHex(ksn)).toBe(t.ksn);
        expect(toHex(key)).toBe(toHex(dukptWorkingKey(fromHex(t.derivationKey), ksn, 'pin-encryption', set.name === 'AES-128 BDK' ? 'AES-128' : 'AES-256')));
      }
      expect(last.counter).toBeNull();
      expectCode(() => last.nextTransaction('pin-encryption'), 'DUKPT_COUNTER_EXHAUSTED');
      expect(toHex(last.encodeState().subarray(10))).toMatch(/^0+$/);
    });
  }

  it('E4: 3,000 transactions in a row: counters rise, none has more than 16 one bits, every key is the host\'s from BDK + KSN', () => {
    const bdk = fromHex(AES128.bdk);
    const id = fromHex(AES128.initialKeyId);
    const terminal = createDukptTerminal(dukptInitialKey(bdk, id), id);
    let previous = 0;
    for (let i = 0; i < 3000; i++) {
      const usage = (['pin-encryption', 'mac-generation', 'data-encrypt', 'data-both'] as const)[i % 4];
      const { ksn, key } = terminal.nextTransaction(usage);
      const counter = counterOf(ksn);
      expect(counter).toBeGreaterThan(previous);
      expect(dukptCounterOneBits(counter)).toBeLessThanOrEqual(16);
      if (i % 50 === 0 || counter > 0xff0) expect(toHex(key), hex(counter)).toBe(toHex(dukptHostWorkingKey(bdk, ksn, usage)));
      previous = counter;
    }
    expect(previous).toBe(3000);
  });

  it('E4: across the 16-one-bit boundary the device skips exactly the counters with 17 or more one bits', () => {
    const bdk = fromHex(AES256.bdk);
    const id = fromHex(AES256.initialKeyId);
    const ik = dukptInitialKey(bdk, id);
    // From 0x00FFFE00 (15 one bits) on, counters with 17 one bits and more come up in every run of 0x100.
    const terminal = restoreDukptTerminal(dukptStateAt(ik, id, 0x00fffe00));
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) {
      const { ksn, key } = terminal.nextTransaction('mac-generation', 'AES-128');
      seen.push(counterOf(ksn));
      expect(toHex(key)).toBe(toHex(dukptHostWorkingKey(bdk, ksn, 'mac-generation', 'AES-128')));
    }
    const expected: number[] = [];
    for (let c = 0x00fffe00; expected.length < 12; c++) if (dukptCounterOneBits(c) <= 16) expected.push(c);
    expect(seen.map(hex)).toEqual(expected.map(hex));
  });

  it('E4: the state stored after a transaction restores a device that goes on exactly where it stopped', () => {
    const id = fromHex(AES128.initialKeyId);
    const a = createDukptTerminal(fromHex(AES128.initialKey), id);
    for (let i = 0; i < 37; i++) a.nextTransaction('data-encrypt');
    const stored = a.encodeState();
    expect(stored.length).toBe(18 + 32 * 16);
    const b = restoreDukptTerminal(stored);
    expect(b.counter).toBe(38);
    expect(b.keyType).toBe('AES-128');
    expect(b.initialKeyId).toEqual(id);
    for (let i = 0; i < 20; i++) {
      const x = a.nextTransaction('pin-encryption');
      const y = b.nextTransaction('pin-encryption');
      expect(toHex(y.ksn)).toBe(toHex(x.ksn));
      expect(toHex(y.key)).toBe(toHex(x.key));
    }
  });

  it('X1: the device keeps no initial key: loading it leaves the caller\'s buffer untouched and the state holds no copy', () => {
    const ik = fromHex(AES128.initialKey);
    const state = createDukptTerminal(ik, fromHex(AES128.initialKeyId)).encodeState();
    expect(toHex(ik)).toBe(AES128.initialKey);
    expect(toHex(state)).not.toContain(AES128.initialKey);
  });

  it('E4: bad input is a typed error and changes nothing: IK length, ID length, usage, a key type longer than the IK', () => {
    expectCode(() => createDukptTerminal(new Uint8Array(10), fromHex(AES128.initialKeyId)), 'KEY_LENGTH');
    expectCode(() => createDukptTerminal(fromHex(AES128.initialKey), new Uint8Array(12)), 'BAD_LENGTH');
    const terminal = createDukptTerminal(fromHex(AES128.initialKey), fromHex(AES128.initialKeyId));
    const before = toHex(terminal.encodeState());
    expectCode(() => terminal.nextTransaction('bogus' as DukptKeyUsage), 'BAD_ARGUMENT');
    expectCode(() => terminal.nextTransaction('data-encrypt', 'AES-256'), 'BAD_ARGUMENT');
    expectCode(() => terminal.nextTransactionKeys([{ usage: 'pin-encryption' }, { usage: 'data-decrypt', keyType: 'AES-192' }]), 'BAD_ARGUMENT');
    expectCode(() => terminal.nextTransactionKeys([]), 'BAD_ARGUMENT');
    expect(toHex(terminal.encodeState())).toBe(before);
    expect(toHex(terminal.nextTransaction('pin-encryption').ksn)).toBe(AES128.transactions[0].ksn);
  });

  it('E4: a stored state that is not one is refused: version, size, counter 0 with keys left, a key in an empty register', () => {
    const good = createDukptTerminal(fromHex(AES128.initialKey), fromHex(AES128.initialKeyId)).encodeState();
    const altered = (at: number, value: number) => {
      const s = good.slice();
      s[at] = value;
      return s;
    };
    expectCode(() => restoreDukptTerminal(altered(0, 2)), 'DUKPT_STATE_INVALID');
    expectCode(() => restoreDukptTerminal(altered(1, 32)), 'DUKPT_STATE_INVALID');
    expectCode(() => restoreDukptTerminal(good.subarray(0, good.length - 1)), 'DUKPT_STATE_INVALID');
    expectCode(() => restoreDukptTerminal(altered(13, 0)), 'DUKPT_STATE_INVALID');
    expectCode(() => restoreDukptTerminal(altered(17, 0xfe)), 'DUKPT_STATE_INVALID');
    expect(DukptTerminal.restore(good).counter).toBe(1);
  });

  it('E4: one transaction, several keys: a PIN key and a MAC key under the same KSN, as the host derives them', () => {
    const bdk = fromHex(AES256.bdk);
    const terminal = createDukptTerminal(fromHex(AES256.initialKey), fromHex(AES256.initialKeyId));
    const { ksn, keys } = terminal.nextTransactionKeys([{ usage: 'pin-encryption' }, { usage: 'mac-generation', keyType: 'AES-128' }, { usage: 'data-both', keyType: 'AES-192' }]);
    expect(keys.map(toHex)).toEqual([
      toHex(dukptHostWorkingKey(bdk, ksn, 'pin-encryption')),
      toHex(dukptHostWorkingKey(bdk, ksn, 'mac-generation', 'AES-128')),
      toHex(dukptHostWorkingKey(bdk, ksn, 'data-both', 'AES-192')),
    ]);
    expect(keys.map((k) => k.length)).toEqual([32, 16, 24]);
    expect(toHex(terminal.nextTransaction('pin-encryption').ksn)).toBe(AES256.transactions[1].ksn);
  });
});
