/**
 * Turns each published-vector file in test/vectors/ into operations-table calls with the outcome
 * the file expects, so the XS suite can replay every vector inside the XS engine. Each file keeps
 * its own format (the unit suites read them too); one adapter per file reads it here.
 * A vector file without an adapter fails the XS suite: add the adapter with the file, or, for
 * vectors of host code that never runs on the terminal, name the file in HOST_ONLY_VECTORS.
 */
import { parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import type { Json } from '../support/opsRunner';

export interface VectorCase {
  name: string;
  op: string;
  args: Json;
  /** Matched with toMatchObject: `{ ok: value }`, or `{ error: code }` whatever the message. */
  expected: { ok: Json } | { error: string };
}

type Adapter = (file: never) => VectorCase[];

/** Vector files of host code (not shared/), with the reason they have no XS adapter. */
export const HOST_ONLY_VECTORS: Readonly<Record<string, string>> = Object.freeze({
  'iso8583.json': 'the acquirer link (host/payments/iso8583) runs on the host only; the terminal never packs ISO 8583',
});

const up = (hex: string) => hex.toUpperCase();

interface CmacFile { vectors: { name: string; key: string; message: string; mac: string }[] }
interface DukptFile {
  pinEntry: { pin: string; pan: string; randomFill: string };
  bdks: {
    name: string;
    bdk: string;
    initialKeyId: string;
    initialKey: string;
    transactions: { ksn: string; derivationKey: string; workingKeys?: { usage: string; keyType: string; key: string }[]; pinBlock?: string }[];
  }[];
  skippedCounters: { name: string; bdk: string; ksn: string }[];
}
interface EcdsaVerifyFile { vectors: { name: string; publicKey: string; message: string; signature: string; valid: boolean }[] }
interface KcvFile { vectors: { name: string; key: string; method: string; kcv: string }[] }
interface KdfFile { vectors: { name: string; KI: string; FixedInputData: string; L: number; KO: string }[] }
interface WrapVector { name: string; kek: string; keyData: string; wrapped: string }
interface KeyWrapFile { kw: { vectors: WrapVector[] }; kwp: { vectors: WrapVector[] } }
interface LuhnFile {
  valid: { name: string; number: string }[];
  invalid: { name: string; number: string }[];
  mask: { name: string; pan: string; masked: string }[];
}
interface MobileNumberFile {
  valid: { name: string; number: string }[];
  invalid: { name: string; number: string }[];
  mask: { name: string; number: string; masked: string }[];
}
interface PinBlockFile { vectors: { name: string; key: string; pan: string; pin: string; block: string; randomFill: string }[] }
interface Tr31File {
  derivation: { name: string; kbpk: string; kbek: string; kbmk: string }[];
  wrap: { name: string; kbpk: string; key: string; pad: string; maskedKeyLength?: number; block: string }[];
  rejected: { name: string; kbpk: string; block: string; code: string }[];
}

/** The policy a block's own header asks for: its usage and mode of use. */
function policyOf(block: string): Json {
  return { usage: block.slice(5, 7), modesOfUse: [block[8]] };
}

export const vectorAdapters: Record<string, Adapter> = {
  'cmac.json': (f: CmacFile): VectorCase[] =>
    f.vectors.flatMap((v): VectorCase[] => [
      { name: v.name, op: 'cmac', args: { key: v.key, data: v.message }, expected: { ok: up(v.mac) } },
      { name: `${v.name}, verify`, op: 'cmac.verify', args: { key: v.key, data: v.message, mac: v.mac }, expected: { ok: true } },
    ]),

  'dukpt.json': (f: DukptFile): VectorCase[] => [
    ...f.bdks.flatMap((set): VectorCase[] => {
      const first = set.transactions.filter((t) => t.workingKeys);
      return [
        { name: `${set.name}, initial key`, op: 'dukpt.initialKey', args: { bdk: set.bdk, initialKeyId: set.initialKeyId }, expected: { ok: set.initialKey } },
        ...set.transactions.map((t): VectorCase => ({ name: `${set.name}, ${t.ksn} derivation key`, op: 'dukpt.derivationKey', args: { initialKey: set.initialKey, ksn: t.ksn }, expected: { ok: t.derivationKey } })),
        ...first.flatMap((t) =>
          (t.workingKeys ?? []).map((w): VectorCase => ({
            name: `${set.name}, ${t.ksn} ${w.usage} ${w.keyType}`,
            op: 'dukpt.hostWorkingKey',
            args: { bdk: set.bdk, ksn: t.ksn, usage: w.usage, keyType: w.keyType },
            expected: { ok: w.key },
          })),
        ),
        ...[...new Set(first.flatMap((t) => (t.workingKeys ?? []).map((w) => `${w.usage} ${w.keyType}`)))].map((kind): VectorCase => {
          const [usage, keyType] = kind.split(' ');
          return {
            name: `${set.name}, the device's first ${first.length} transactions, ${kind}`,
            op: 'dukpt.terminal',
            args: { initialKey: set.initialKey, initialKeyId: set.initialKeyId, usage, keyType, count: first.length },
            expected: { ok: { transactions: first.map((t) => ({ ksn: t.ksn, key: (t.workingKeys ?? []).find((w) => `${w.usage} ${w.keyType}` === kind)?.key ?? '' })) } },
          };
        }),
      ];
    }),
    ...f.skippedCounters.map((s): VectorCase => ({ name: s.name, op: 'dukpt.hostWorkingKey', args: { bdk: s.bdk, ksn: s.ksn, usage: 'data-encrypt' }, expected: { error: 'DUKPT_KSN_INVALID' } })),
  ],

  'ecdsaP256Verify.json': (f: EcdsaVerifyFile): VectorCase[] =>
    f.vectors.map((v): VectorCase => ({
      name: v.name,
      op: 'ecdsa.verify',
      args: { publicKey: v.publicKey, message: v.message, signature: v.signature },
      expected: { ok: v.valid },
    })),

  'kcv.json': (f: KcvFile): VectorCase[] =>
    f.vectors.map((v): VectorCase => ({ name: v.name, op: 'kcv', args: { key: v.key, method: v.method }, expected: { ok: up(v.kcv) } })),

  'kdf.json': (f: KdfFile): VectorCase[] =>
    f.vectors.map((v): VectorCase => ({
      name: v.name,
      op: 'kdf.counterCmacRaw',
      args: { key: v.KI, fixedInput: v.FixedInputData, lengthBytes: v.L / 8 },
      expected: { ok: up(v.KO) },
    })),

  'keyWrap.json': (f: KeyWrapFile): VectorCase[] =>
    (
      [
        ['keyWrap.wrap', 'keyWrap.unwrap', f.kw.vectors],
        ['keyWrap.wrapPadded', 'keyWrap.unwrapPadded', f.kwp.vectors],
      ] as const
    ).flatMap(([wrap, unwrap, vectors]) =>
      vectors.flatMap((v): VectorCase[] => [
        { name: `${v.name}, wrap`, op: wrap, args: { kek: v.kek, data: v.keyData }, expected: { ok: up(v.wrapped) } },
        { name: `${v.name}, unwrap`, op: unwrap, args: { kek: v.kek, data: v.wrapped }, expected: { ok: up(v.keyData) } },
      ]),
    ),

  'luhn.json': (f: LuhnFile): VectorCase[] => [
    ...f.valid.flatMap((v): VectorCase[] => [
      { name: v.name, op: 'pan.isLuhnValid', args: { number: v.number }, expected: { ok: true } },
      { name: `${v.name}, check digit`, op: 'pan.luhnCheckDigit', args: { payload: v.number.slice(0, -1) }, expected: { ok: Number(v.number.slice(-1)) } },
    ]),
    ...f.invalid.map((v): VectorCase => ({ name: v.name, op: 'pan.isLuhnValid', args: { number: v.number }, expected: { ok: false } })),
    ...f.mask.map((v): VectorCase => ({ name: v.name, op: 'pan.mask', args: { pan: v.pan }, expected: { ok: v.masked } })),
  ],

  'mobileNumbers.json': (f: MobileNumberFile): VectorCase[] => [
    ...f.valid.map((v): VectorCase => ({ name: v.name, op: 'mobile.isMainland', args: { number: v.number }, expected: { ok: true } })),
    ...f.invalid.map((v): VectorCase => ({ name: v.name, op: 'mobile.isMainland', args: { number: v.number }, expected: { ok: false } })),
    ...f.mask.map((v): VectorCase => ({ name: v.name, op: 'mobile.mask', args: { number: v.number }, expected: { ok: v.masked } })),
  ],

  'pinblock.json': (f: PinBlockFile): VectorCase[] =>
    f.vectors.flatMap((v): VectorCase[] => [
      {
        name: `${v.name}, encipher with the published fill`,
        op: 'pinblock.iso4.encipher',
        args: { key: v.key, pin: v.pin, pan: v.pan, random: v.randomFill },
        expected: { ok: up(v.block) },
      },
      { name: `${v.name}, decipher`, op: 'pinblock.iso4.decipher', args: { key: v.key, block: v.block, pan: v.pan }, expected: { ok: v.pin } },
    ]),

  'tr31.json': (f: Tr31File): VectorCase[] => [
    ...f.derivation.map((v): VectorCase => ({
      name: v.name,
      op: 'tr31.deriveKeys',
      args: { kbpk: v.kbpk },
      expected: { ok: { kbek: up(v.kbek), kbmk: up(v.kbmk) } },
    })),
    ...f.wrap.flatMap((v): VectorCase[] => [
      { name: `${v.name}, unwrap`, op: 'tr31.unwrap', args: { kbpk: v.kbpk, block: v.block, policy: policyOf(v.block) }, expected: { ok: { key: up(v.key) } } },
      {
        name: `${v.name}, wrap with the published padding`,
        op: 'tr31.wrap',
        args: {
          kbpk: v.kbpk,
          header: v.block.slice(0, parseKeyBlockHeader(v.block).headerLength),
          key: v.key,
          random: v.pad,
          ...(v.maskedKeyLength === undefined ? {} : { maskedKeyLength: v.maskedKeyLength }),
        },
        expected: { ok: v.block },
      },
    ]),
    ...f.rejected.map((v): VectorCase => ({
      name: `${v.name}, rejected`,
      op: 'tr31.unwrap',
      args: { kbpk: v.kbpk, block: v.block, policy: policyOf(v.block) },
      expected: { error: v.code },
    })),
  ],
};
