/**
 * Seeded random inputs for every op of the operations table, for the XS-vs-Node differential test.
 * Inputs are mostly valid, and every tenth is deliberately bad (wrong lengths, tampered blocks, wrong
 * keys or usages), so both the result bytes and the error codes are compared. Valid blocks and
 * envelopes to unwrap are made in Node with the shared code itself, then maybe tampered with.
 */
import { type Rng, fromHex, toHex } from '../../shared/bytes';
import { encipherCardData } from '../../shared/crypto/cardData';
import { signP256Sha256 } from '../../shared/crypto/ecdsa';
import { aesCmac } from '../../shared/crypto/cmac';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../shared/crypto/keyTransport';
import { aesKeyWrap, aesKeyWrapPadded } from '../../shared/crypto/keyWrap';
import { encipherPinBlockIso4 } from '../../shared/crypto/pinblock';
import { type Tr31HeaderInit, wrapKeyBlock } from '../../shared/crypto/tr31';
import { parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import type { Json } from '../support/opsRunner';
import { seededRng } from '../support/opsRng';

/** A small toolkit over one seeded stream. */
export class Draw {
  constructor(private readonly rng: Rng) {}
  static fromSeed(seed: Uint8Array): Draw {
    return new Draw(seededRng(seed));
  }
  bytes(n: number): Uint8Array {
    return this.rng(n);
  }
  hex(n: number): string {
    return toHex(this.rng(n));
  }
  /** Uniform in [lo, hi]. */
  int(lo: number, hi: number): number {
    const [a, b, c, d] = this.rng(4);
    return lo + ((((a << 24) | (b << 16) | (c << 8) | d) >>> 0) % (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
  aesKey(): string {
    return this.hex(this.pick([16, 24, 32]));
  }
  /** Flips one random bit of a hex string (keeps it valid hex, uppercase). */
  flipHexBit(hex: string): string {
    const bytes = fromHex(hex);
    const i = this.int(0, bytes.length - 1);
    bytes[i] ^= 1 << this.int(0, 7);
    return toHex(bytes);
  }
}

const DUKPT_USAGES = ['key-encryption', 'pin-encryption', 'mac-generation', 'mac-verification', 'mac-both', 'data-encrypt', 'data-decrypt', 'data-both'] as const;
const DUKPT_KEY_TYPES = ['AES-128', 'AES-192', 'AES-256'] as const;
/** How many of DUKPT_KEY_TYPES a key of this hex length may derive (none longer than itself). */
const dukptTypesUpTo = (keyHex: string) => (keyHex.length - 16) / 16;

/** A KSN: a random initial key ID and a counter with 1 to 16 one bits, or (bad) 0 or 17 to 32 one bits. */
function dukptKsnHex(d: Draw, bad: boolean): string {
  const ones = bad ? d.pick([0, d.int(17, 32)]) : d.int(1, 16);
  let counter = 0;
  while (ones > 0 && counter.toString(2).replace(/0/g, '').length < ones) counter = (counter | (1 << d.int(0, 31))) >>> 0;
  return d.hex(8) + counter.toString(16).toUpperCase().padStart(8, '0');
}

/** `bad` is true for every tenth input: the generator must then make an input that should fail. */
type Generator = (d: Draw, bad: boolean) => Json;

/** symmetric: AES, CMAC, KDF, key wrap, PIN blocks, PANs, mobile numbers. keys: TR-31 and ECDH key transport. Each group
 * runs in its own test file, so vitest spreads the XS work over two cores. */
export type RandomGroup = 'symmetric' | 'keys';

export interface RandomSpec {
  group: RandomGroup;
  count: number;
  make: Generator;
  /** The op has no invalid input worth drawing (so no error outcomes are expected). */
  alwaysValid?: true;
}

const aesBad = (d: Draw) => d.hex(d.pick([0, 8, 15, 17, 31, 33]));
const blocks = (d: Draw, bad: boolean) => d.hex(bad ? d.pick([1, 15, 17, 33]) : 16 * d.int(1, 8));

const TR31_KINDS: readonly Tr31HeaderInit[] = [
  { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'E' },
  { keyUsage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'S' },
  { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'D', exportability: 'N' },
  { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E' },
  { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'E' },
  { keyUsage: 'B0', algorithm: 'T', modeOfUse: 'X', exportability: 'E' },
];

function tr31Header(d: Draw): Tr31HeaderInit {
  const base = d.pick(TR31_KINDS);
  // Optional blocks of varied length exercise the PB padding and the header parser.
  const optionalBlocks = d.int(0, 2) === 0 ? [{ id: 'KS', data: d.hex(d.int(1, 12)) }] : [];
  return { ...base, keyVersionNumber: d.pick(['00', '01', 'c1']), optionalBlocks };
}

function tr31KeyFor(d: Draw, h: Tr31HeaderInit): Uint8Array {
  return d.bytes(h.algorithm === 'T' ? d.pick([16, 24]) : d.pick([16, 24, 32]));
}

/** A valid block made in Node, and what it takes to unwrap it. */
function tr31Block(d: Draw): { kbpk: string; block: string; header: Tr31HeaderInit } {
  const kbpk = d.bytes(d.pick([16, 24, 32]));
  const header = tr31Header(d);
  const block = wrapKeyBlock(kbpk, header, tr31KeyFor(d, header), (n) => d.bytes(n));
  return { kbpk: toHex(kbpk), block, header };
}

function tamperTr31(d: Draw, kbpk: string, block: string): { kbpk: string; block: string } {
  switch (d.int(0, 3)) {
    case 0: {
      // one bit of the encrypted payload or the MAC
      const at = parseKeyBlockHeader(block).headerLength;
      return { kbpk, block: block.slice(0, at) + d.flipHexBit(block.slice(at)) };
    }
    case 1: // wrong KBPK of the same length
      return { kbpk: d.flipHexBit(kbpk), block };
    case 2: // header exportability changed: still a valid header, so only the MAC can catch it
      return { kbpk, block: block.slice(0, 11) + (block[11] === 'E' ? 'N' : 'E') + block.slice(12) };
    default: // truncated by one block
      return { kbpk, block: block.slice(0, -32) };
  }
}

function pinPan(d: Draw, bad: boolean): { pin: string; pan: string } {
  const pin = d.digits(d.int(4, 12));
  const pan = d.digits(d.int(1, 19));
  if (!bad) return { pin, pan };
  return d.pick([{ pin: d.digits(3), pan }, { pin: d.digits(13), pan }, { pin: `12a4`, pan }, { pin, pan: d.digits(20) }, { pin, pan: '' }]);
}

/** An 11-digit number under one of a few allocated prefixes (130, 138, 150, 158, 186, 189, 191, 198). */
function mobileNumber(d: Draw): string {
  return `1${d.pick(['30', '38', '50', '58', '86', '89', '91', '98'])}${d.digits(8)}`;
}

let recipients: { privateKey: string; publicKey: string }[] | undefined;
/** A few fixed recipients: key generation is the expensive part, and not what these ops test. */
function recipient(d: Draw): { privateKey: string; publicKey: string } {
  recipients ??= [1, 2, 3].map((i) => {
    const kp = generateP256KeyPair(seededRng(new Uint8Array([0x52, i])));
    return { privateKey: toHex(kp.privateKey), publicKey: toHex(kp.publicKey) };
  });
  return d.pick(recipients);
}

export const randomSpecs: Record<string, RandomSpec> = {
  'aes.ecb.encrypt': { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad && d.int(0, 1) ? aesBad(d) : d.aesKey(), data: blocks(d, bad) }) },
  'aes.ecb.decrypt': { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad && d.int(0, 1) ? aesBad(d) : d.aesKey(), data: blocks(d, bad) }) },
  'aes.cbc.encrypt': { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad && d.int(0, 1) ? aesBad(d) : d.aesKey(), iv: d.hex(16), data: blocks(d, bad) }) },
  'aes.cbc.decrypt': { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad && d.int(0, 1) ? aesBad(d) : d.aesKey(), iv: d.hex(16), data: blocks(d, bad) }) },
  cmac: { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad ? aesBad(d) : d.aesKey(), data: d.hex(d.int(0, 300)) }) },
  'cmac.verify': {
    group: 'symmetric',
    count: 300,
    make: (d, bad) => {
      const key = d.bytes(d.pick([16, 24, 32]));
      const data = d.bytes(d.int(0, 100));
      const mac = toHex(aesCmac(key, data).slice(0, d.int(8, 16)));
      return { key: toHex(key), data: toHex(data), mac: bad ? d.pick([d.flipHexBit(mac), mac.slice(0, 14)]) : mac };
    },
  },
  kcv: { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad ? aesBad(d) : d.aesKey(), method: d.pick(['cmac', 'legacy']) }) },
  'kdf.deriveKeyCounterCmac': {
    group: 'symmetric',
    count: 300,
    make: (d, bad) => ({
      key: d.aesKey(),
      label: bad ? d.pick(['', '4D0041']) : toHex(d.bytes(d.int(1, 16)).map((b) => b | 1)),
      context: d.hex(d.int(0, 32)),
      lengthBytes: bad && d.int(0, 1) ? d.pick([0, 4081, 1.5]) : d.int(1, 80),
    }),
  },
  'kdf.counterCmacRaw': { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad ? aesBad(d) : d.aesKey(), fixedInput: d.hex(d.int(0, 64)), lengthBytes: d.int(1, 80) }) },
  'keyWrap.wrap': { group: 'symmetric', count: 300, make: (d, bad) => ({ kek: d.aesKey(), data: d.hex(bad ? d.pick([0, 8, 17, 23]) : 8 * d.int(2, 8)) }) },
  'keyWrap.unwrap': {
    group: 'symmetric',
    count: 300,
    make: (d, bad) => {
      const kek = d.bytes(d.pick([16, 24, 32]));
      const wrapped = toHex(aesKeyWrap(kek, d.bytes(8 * d.int(2, 6))));
      return { kek: toHex(kek), data: bad ? d.flipHexBit(wrapped) : wrapped };
    },
  },
  'keyWrap.wrapPadded': { group: 'symmetric', count: 300, make: (d, bad) => ({ kek: d.aesKey(), data: d.hex(bad ? 0 : d.int(1, 64)) }) },
  'keyWrap.unwrapPadded': {
    group: 'symmetric',
    count: 300,
    make: (d, bad) => {
      const kek = d.bytes(d.pick([16, 24, 32]));
      const wrapped = toHex(aesKeyWrapPadded(kek, d.bytes(d.int(1, 40))));
      return { kek: toHex(kek), data: bad ? d.flipHexBit(wrapped) : wrapped };
    },
  },
  // Card data under TDK (shared/crypto/cardData.ts): any length up to 64 bytes, and ciphertexts altered or cut.
  'cardData.encipher': { group: 'symmetric', count: 300, make: (d, bad) => ({ key: bad && d.int(0, 1) ? aesBad(d) : d.aesKey(), data: d.hex(bad ? d.pick([0, 65]) : d.int(1, 64)), seed: d.hex(8) }) },
  'cardData.decipher': {
    group: 'symmetric',
    count: 300,
    make: (d, bad) => {
      const key = d.bytes(d.pick([16, 24, 32]));
      const enciphered = toHex(encipherCardData(key, d.bytes(d.int(1, 64)), (n) => d.bytes(n)));
      if (!bad) return { key: toHex(key), enciphered };
      return d.pick([{ key: toHex(key), enciphered: d.flipHexBit(enciphered) }, { key: toHex(key), enciphered: enciphered.slice(0, 32) }, { key: d.aesKey(), enciphered }]);
    },
  },
  // Track 2 (shared/track2.ts): PAN, '=', YYMM, service code, discretionary digits; and what is not that.
  'track2.read': {
    group: 'symmetric',
    count: 300,
    make: (d, bad) => {
      const good = `${d.digits(d.int(8, 19))}=${d.digits(2)}${String(d.int(1, 12)).padStart(2, '0')}${d.digits(3)}${d.digits(d.int(0, 6))}`;
      const track = bad ? d.pick(['', good.replace('=', ''), good.replace('=', 'D'), `${good}=`, `${good}${d.digits(20)}`, good.slice(0, good.indexOf('=') + 4)]) : good;
      return { track: toHex(new TextEncoder().encode(track)) };
    },
  },
  // PANs (shared/pan.ts): digit strings of card-number lengths, and strings no card number has.
  'pan.isLuhnValid': { group: 'symmetric', count: 300, make: (d, bad) => ({ number: bad ? d.pick(['', '4a11', d.digits(d.int(1, 40)) + ' ']) : d.digits(d.int(1, 19)) }) },
  'pan.luhnCheckDigit': { group: 'symmetric', count: 300, make: (d, bad) => ({ payload: bad ? d.pick(['', 'x', `${d.digits(5)}-1`]) : d.digits(d.int(1, 18)) }) },
  'pan.mask': { group: 'symmetric', count: 300, make: (d, bad) => ({ pan: bad ? d.pick(['', d.digits(7), d.digits(20), '4111 1111 1111 1111']) : d.digits(d.int(8, 19)) }) },
  // Mainland-China mobile numbers (shared/mobileNumber.ts): allocated prefixes, and near misses
  // (isMainland answers false for those, it never throws).
  'mobile.isMainland': { group: 'symmetric', count: 300, alwaysValid: true, make: (d, bad) => ({ number: bad ? d.pick([d.digits(11), `+86${d.digits(11)}`, `1${d.digits(9)}`, `1${d.digits(11)}`, '']) : mobileNumber(d) }) },
  'mobile.mask': { group: 'symmetric', count: 300, make: (d, bad) => ({ number: bad ? d.pick([d.digits(d.int(0, 10)), `2${d.digits(10)}`, 'phone']) : mobileNumber(d) }) },
  'pinblock.iso4.encipher': { group: 'symmetric', count: 300, make: (d, bad) => ({ key: d.aesKey(), ...pinPan(d, bad), seed: d.hex(8) }) },
  'pinblock.iso4.decipher': {
    group: 'symmetric',
    count: 300,
    make: (d, bad) => {
      const key = d.bytes(d.pick([16, 24, 32]));
      const { pin, pan } = pinPan(d, false);
      const block = toHex(encipherPinBlockIso4(key, pin, pan, (n) => d.bytes(n)));
      if (!bad) return { key: toHex(key), block, pan };
      return d.pick([
        { key: toHex(key), block: d.flipHexBit(block), pan },
        { key: toHex(key), block, pan: pan === '1' ? '2' : '1' },
        { key: toHex(key), block: block.slice(2), pan },
      ]);
    },
  },
  // AES DUKPT (shared/crypto/dukpt*): BDKs and IKs of every AES length, KSNs a device reaches, and
  // wrong key lengths, KSNs with more than 16 one bits, unknown usages, key types longer than the BDK.
  'dukpt.initialKey': { group: 'keys', count: 100, make: (d, bad) => ({ bdk: bad && d.int(0, 1) ? aesBad(d) : d.aesKey(), initialKeyId: d.hex(bad ? d.pick([7, 9, 12]) : 8) }) },
  'dukpt.derivationKey': { group: 'keys', count: 100, make: (d, bad) => ({ initialKey: bad && d.int(0, 1) ? aesBad(d) : d.aesKey(), ksn: dukptKsnHex(d, bad) }) },
  'dukpt.hostWorkingKey': {
    group: 'keys',
    count: 100,
    make: (d, bad) => {
      const bdk = d.aesKey();
      const arg = { bdk, ksn: dukptKsnHex(d, false), usage: d.pick(DUKPT_USAGES), keyType: d.pick(DUKPT_KEY_TYPES.slice(0, dukptTypesUpTo(bdk))) };
      if (!bad) return arg;
      return d.pick([{ ...arg, ksn: dukptKsnHex(d, true) }, { ...arg, usage: 'pin-verification' }, { ...arg, bdk: d.hex(16), keyType: d.pick(['AES-192', 'AES-256', '2TDEA']) }, { ...arg, bdk: aesBad(d) }]);
    },
  },
  'dukpt.terminal': {
    group: 'keys',
    count: 40,
    make: (d, bad) => {
      const initialKey = d.aesKey();
      const arg = { initialKey, initialKeyId: d.hex(8), usage: d.pick(DUKPT_USAGES), keyType: d.pick(DUKPT_KEY_TYPES.slice(0, dukptTypesUpTo(initialKey))), count: d.int(1, 40) };
      if (!bad) return arg;
      return d.pick([{ ...arg, initialKey: aesBad(d) }, { ...arg, initialKeyId: d.hex(12) }, { ...arg, usage: 'mac' }, { ...arg, initialKey: d.hex(16), keyType: 'AES-256' }]);
    },
  },
  'tr31.deriveKeys': { group: 'keys', count: 300, make: (d, bad) => ({ kbpk: bad ? aesBad(d) : d.aesKey() }) },
  'tr31.wrap': {
    group: 'keys',
    count: 300,
    make: (d, bad) => {
      const header = tr31Header(d);
      const key = toHex(tr31KeyFor(d, header));
      const args = { kbpk: d.aesKey(), header: header as unknown as Json, key, seed: d.hex(8) };
      if (!bad) return d.int(0, 3) === 0 ? { ...args, maskedKeyLength: key.length / 2 } : args;
      return d.pick([
        { ...args, key: d.hex(d.pick([8, 20])) }, // a key length the algorithm does not allow
        { ...args, header: { ...header, exportability: 'X' } as unknown as Json },
        { ...args, maskedKeyLength: key.length / 2 - 1 },
      ]);
    },
  },
  'tr31.unwrap': {
    group: 'keys',
    count: 300,
    make: (d, bad) => {
      const { kbpk, block, header } = tr31Block(d);
      const policy = { usage: header.keyUsage, modesOfUse: [header.modeOfUse], algorithm: header.algorithm };
      if (!bad) return { kbpk, block, policy };
      if (d.int(0, 3) === 0) return { kbpk, block, policy: { ...policy, usage: header.keyUsage === 'M6' ? 'P0' : 'M6' } };
      return { ...tamperTr31(d, kbpk, block), policy };
    },
  },
  'tr31.parseHeader': {
    group: 'keys',
    count: 300,
    make: (d, bad) => {
      const { block } = tr31Block(d);
      if (!bad) return { text: block };
      const i = d.int(0, 15);
      return { text: block.slice(0, i) + d.pick(['x', ' ', '9', '\u00e9']) + block.slice(i + 1) };
    },
  },
  'tr31.buildHeader': {
    group: 'keys',
    count: 300,
    make: (d, bad) => ({
      init: (bad ? { ...tr31Header(d), keyContext: '7' } : tr31Header(d)) as unknown as Json,
      bodyLength: bad && d.int(0, 1) ? 9990 : 32 * d.int(1, 6),
    }),
  },
  // P-256 ops cost ~3.4M XS compute (~40 ms here) each: fewer inputs keep the suite near a minute.
  // ECDSA verification: signatures made in Node, then verified (true), or tampered (false), or under a key off the curve (an error).
  'ecdsa.verify': {
    group: 'keys',
    count: 30,
    make: (d, bad) => {
      const signer = recipient(d);
      const message = d.bytes(d.int(0, 200));
      const args = { publicKey: signer.publicKey, message: toHex(message), signature: toHex(signP256Sha256(fromHex(signer.privateKey), message)) };
      if (bad) return { ...args, publicKey: d.flipHexBit(args.publicKey.slice(2)).replace(/^/, '04') };
      return d.int(0, 2) === 0 ? { ...args, signature: d.flipHexBit(args.signature) } : args;
    },
  },
  'keyTransport.generateP256KeyPair': { group: 'keys', count: 30, make: (d) => ({ seed: d.hex(8) }), alwaysValid: true },
  'keyTransport.wrapKeyForRecipient': {
    group: 'keys',
    count: 50,
    make: (d, bad) => {
      const args = { recipientPublicKey: recipient(d).publicKey, key: d.aesKey(), context: d.hex(d.int(1, 24)), seed: d.hex(8) };
      if (!bad) return args;
      return d.pick([
        { ...args, recipientPublicKey: d.flipHexBit(args.recipientPublicKey) },
        { ...args, context: '' },
        { ...args, key: d.hex(20) },
      ]);
    },
  },
  'keyTransport.unwrapKeyAsRecipient': {
    group: 'keys',
    count: 50,
    make: (d, bad) => {
      const r = recipient(d);
      const context = d.bytes(d.int(1, 24));
      const envelope = toHex(
        encodeKeyEnvelope(wrapKeyForRecipient(fromHex(r.publicKey), d.bytes(d.pick([16, 24, 32])), context, (n) => d.bytes(n))),
      );
      const args = { recipientPrivateKey: r.privateKey, envelope, context: toHex(context) };
      if (!bad) return args;
      return d.pick([
        { ...args, envelope: envelope.slice(0, -2) + d.flipHexBit(envelope.slice(-2)) }, // wrapped key altered
        { ...args, context: d.flipHexBit(args.context) },
        { ...args, envelope: `02${envelope.slice(2)}` },
      ]);
    },
  },
};
