/**
 * Which key may do what: the attribute rules every HSM implementation enforces, written once.
 *
 * A key's attributes are its TR-31 header (X9.143:2021 §6.3), bound to the key by the block's MAC.
 * Generation and import accept only the usage / mode-of-use pairs X9.143 allows for the usages
 * paypad needs. Each command names the attributes it needs as a Tr31KeyPolicy, checked by the
 * TR-31 unwrap after the block's MAC, so an altered header reads as tampering, not as a usage error.
 */
import type { DukptKeyUsage } from '../../shared/crypto/dukpt';
import type { Tr31Header, Tr31HeaderInit, Tr31KeyPolicy } from '../../shared/crypto/tr31';
import { completeKeyBlockHeader, parseKeyBlockHeader } from '../../shared/crypto/tr31Header';
import { PaypadError } from '../../shared/errors';
import { type Exportability, type GenerateKeyRequest, type KeyAttributes, type KeyHandle, type ModeOfUse, type SymmetricKeyUsage, assertKeyHandle } from './hsm';

/**
 * X9.143:2021 §6.3.3 table 4 read against §6.3.1 table 2 (AWS Payment Cryptography's "valid key
 * attributes" list agrees): encryption-type keys encrypt/wrap, decrypt/unwrap or both; CMAC keys
 * generate, verify or both. N ("no restrictions") is left out on purpose: every paypad key has one job.
 */
const MODES_BY_USAGE: Readonly<Record<SymmetricKeyUsage, readonly ModeOfUse[]>> = {
  K0: ['B', 'D', 'E'],
  K1: ['B', 'D', 'E'],
  P0: ['B', 'D', 'E'],
  D0: ['B', 'D', 'E'],
  M6: ['C', 'G', 'V'],
  V0: ['C', 'G', 'V'],
  // A BDK derives keys and does nothing else (X9.143:2021 table 4, mode X).
  B0: ['X'],
};

const EXPORTABILITY: readonly Exportability[] = ['E', 'N', 'S'];
export const AES_KEY_LENGTHS: readonly number[] = [16, 24, 32];

function refuse(message: string): never {
  throw new PaypadError('TR31_USAGE_NOT_ALLOWED', message);
}

/** TR31_USAGE_NOT_ALLOWED unless `attributes` describe an AES key paypad's HSM may hold. */
export function assertKeyAttributes(attributes: KeyAttributes): void {
  if (typeof attributes !== 'object' || attributes === null) throw new PaypadError('BAD_ARGUMENT', 'key attributes: expected an object');
  const modes = Object.hasOwn(MODES_BY_USAGE, attributes.usage) ? MODES_BY_USAGE[attributes.usage] : undefined;
  if (!modes) refuse(`key usage must be one of ${Object.keys(MODES_BY_USAGE).join(', ')}`);
  if (attributes.algorithm !== 'A') refuse('algorithm must be A (AES)');
  if (!modes.includes(attributes.modeOfUse)) refuse(`a ${attributes.usage} key has mode of use ${modes.join(', ')}`);
  if (!EXPORTABILITY.includes(attributes.exportability)) refuse(`exportability must be one of ${EXPORTABILITY.join(', ')}`);
}

/** The TR-31 header fields of a key with `attributes`. */
export function headerOf(attributes: KeyAttributes): Tr31HeaderInit {
  return { keyUsage: attributes.usage, algorithm: attributes.algorithm, modeOfUse: attributes.modeOfUse, exportability: attributes.exportability };
}

/** BAD_LENGTH unless `lengthBytes` is an AES key length. */
export function assertAesKeyLength(lengthBytes: number): void {
  if (!AES_KEY_LENGTHS.includes(lengthBytes)) {
    throw new PaypadError('BAD_LENGTH', `AES key length must be ${AES_KEY_LENGTHS.join(', ')} bytes, got ${String(lengthBytes).slice(0, 16)}`);
  }
}

/** What each command needs of the key it is handed. */
export const COMMAND_POLICIES = {
  /** CMAC generation: M6, generate (G) or generate-and-verify (C). */
  mac: { usage: 'M6', modesOfUse: ['C', 'G'], algorithm: 'A' },
  /** CMAC verification: M6, verify (V) or generate-and-verify (C). */
  verifyMac: { usage: 'M6', modesOfUse: ['C', 'V'], algorithm: 'A' },
  /**
   * SP 800-108 derivation of a MAC key. TR-31 has no mode meaning "wraps and derives"; paypad's TK
   * does both (K1, mode B, docs/key-loading.md), so derivation is allowed from K1 keys of mode B.
   */
  deriveMacKey: { usage: 'K1', modesOfUse: ['B'], algorithm: 'A' },
  /**
   * SP 800-108 derivation from a CMAC key: a download work key (DWK, M6 mode C) derives the MAC key
   * of each image chunk from the session and the chunk's offset (shared/protocol/updateChunks).
   */
  deriveChunkKey: { usage: 'M6', modesOfUse: ['C'], algorithm: 'A' },
  /** Wrapping a key into a TR-31 block: K1 that may encrypt/wrap (B or E). */
  wrapKeyBlock: { usage: 'K1', modesOfUse: ['B', 'E'], algorithm: 'A' },
  /** ECDH key agreement for key transport: K3, algorithm E (elliptic curve), mode X (derive keys). */
  keyAgreement: { usage: 'K3', modesOfUse: ['X'], algorithm: 'E' },
  /**
   * A zone master key (ZMK) exporting a zone key: K0 that may wrap (B or E). K0, the general
   * key-encryption key two parties share (X9.143:2021 table 2); K1 stays the KBPK of the terminal
   * hierarchy (TK, TMK), so no terminal key can wrap or unwrap a zone key, and no ZMK a terminal key.
   */
  exportUnderZmk: { usage: 'K0', modesOfUse: ['B', 'E'], algorithm: 'A' },
  /** A ZMK unwrapping a received key block: K0 that may unwrap (B or D). */
  importUnderKek: { usage: 'K0', modesOfUse: ['B', 'D'], algorithm: 'A' },
  /** The key a PIN block arrives under (translation source, verification): P0 that may decrypt. */
  decipherPin: { usage: 'P0', modesOfUse: ['B', 'D'], algorithm: 'A' },
  /** The key a translated PIN block leaves under: P0 that may encrypt. */
  encipherPin: { usage: 'P0', modesOfUse: ['B', 'E'], algorithm: 'A' },
  /** Deciphering card data a terminal enciphered under its TDK (shared/crypto/cardData): D0 that may decrypt. */
  decipherData: { usage: 'D0', modesOfUse: ['B', 'D'], algorithm: 'A' },
  /** Computing a PIN verification value when a PIN is set: V0, generate (G) or both (C). */
  generatePvv: { usage: 'V0', modesOfUse: ['C', 'G'], algorithm: 'A' },
  /** Verifying a PIN against its verification value: V0, verify (V) or both (C). */
  verifyPvv: { usage: 'V0', modesOfUse: ['C', 'V'], algorithm: 'A' },
  /** AES DUKPT: the BDK a transaction's working key is derived from (B0, derive only). */
  deriveDukpt: { usage: 'B0', modesOfUse: ['X'], algorithm: 'A' },
} as const satisfies Record<string, Tr31KeyPolicy>;

/**
 * The policy a MAC-key derivation's base key must meet, by the usage its block declares: a DWK
 * derives chunk keys, any other key must be a TK (deriveMacKey). The block's MAC is checked when
 * it is opened under that policy, so a forged header gains nothing. TR31_MALFORMED for a block
 * whose header does not read, HSM_HANDLE_INVALID for a handle out of shape.
 */
export function derivationPolicy(baseKey: KeyHandle): Tr31KeyPolicy {
  assertKeyHandle(baseKey, 'base key');
  return parseKeyBlockHeader(baseKey.block).header.keyUsage === 'M6' ? COMMAND_POLICIES.deriveChunkKey : COMMAND_POLICIES.deriveMacKey;
}

/**
 * The attributes a DUKPT working key is kept with on the host, the device's usage read from the
 * other side: what the device enciphers the host deciphers, the MACs it generates the host verifies.
 * Exportability N: a transaction's key never leaves the HSM. BAD_ARGUMENT for key-encryption, which
 * no host command uses, and anything that is not a DUKPT usage.
 */
export function dukptWorkingKeyAttributes(usage: DukptKeyUsage): KeyAttributes {
  const host: Readonly<Record<string, readonly [SymmetricKeyUsage, ModeOfUse]>> = DUKPT_HOST_ATTRIBUTES;
  const found = typeof usage === 'string' && Object.hasOwn(host, usage) ? host[usage] : undefined;
  if (!found) throw new PaypadError('BAD_ARGUMENT', `DUKPT working key usage: expected one of ${Object.keys(host).join(', ')}`);
  return { usage: found[0], algorithm: 'A', modeOfUse: found[1], exportability: 'N' };
}

const DUKPT_HOST_ATTRIBUTES: Readonly<Partial<Record<DukptKeyUsage, readonly [SymmetricKeyUsage, ModeOfUse]>>> = Object.freeze({
  'data-encrypt': ['D0', 'D'],
  'data-decrypt': ['D0', 'E'],
  'data-both': ['D0', 'B'],
  'pin-encryption': ['P0', 'D'],
  'mac-generation': ['M6', 'V'],
  'mac-verification': ['M6', 'G'],
  'mac-both': ['M6', 'C'],
});

/** The header every intake private key is stored with; it never leaves the HSM (exportability N). */
export const INTAKE_KEY_HEADER = { keyUsage: 'K3', algorithm: 'E', modeOfUse: 'X', exportability: 'N' } as const;

/** Key context '1': the block is for storage under the master key only (X9.143:2021 §6.2 table 1). */
export const STORAGE_CONTEXT = '1';
/** Key context '2': the block is for key exchange only (X9.143:2021 §6.2 table 1). */
const EXCHANGE_CONTEXT = '2';

/** The keys two parties share per zone (the acquirer link): the zone PIN key and the zone MAC key. */
const ZONE_KEY_USAGES: readonly SymmetricKeyUsage[] = ['P0', 'M6'];

/**
 * Modes of use a key may be narrowed to when exported (X9.143:2021 §6.3.3 table 4): a key both
 * sides use in both directions (B, C) may reach the receiver for one direction only. So the host
 * may keep a PIN key as B, decrypting what the terminal encrypts, while the terminal gets it as E.
 */
const NARROWER_MODES: Readonly<Partial<Record<string, readonly string[]>>> = { B: ['E', 'D'], C: ['G', 'V'] };

/**
 * The header `key` may be exported with under a KBPK of `kbpkLength` bytes. Refuses
 * (TR31_USAGE_NOT_ALLOWED) a key that is not exportable or not AES, a header that would change the
 * key's usage or algorithm (that would turn a PIN key into a MAC key at the receiver), widen or
 * change its mode of use (narrowing B to E or D, C to G or V is allowed), loosen its
 * exportability, or claim the storage context; and (HSM_KEY_TOO_WEAK) a
 * KBPK shorter than the key: a key is protected only by a key of at least its strength (ANSI
 * X9.24-1; X9.143:2021 §6.3.6.15's wrapping pedigree exists to flag the exception, which paypad never makes).
 */
export function exportHeader(key: Tr31Header, keyLength: number, kbpkLength: number, init: Tr31HeaderInit): Tr31Header {
  if (key.exportability === 'N') refuse('the key is not exportable (exportability N)');
  if (key.algorithm !== 'A') refuse('only AES keys are exported');
  const header = completeKeyBlockHeader(init);
  if (header.keyUsage !== key.keyUsage || header.algorithm !== key.algorithm) {
    refuse(`the export header must keep the key's usage ${key.keyUsage} and algorithm ${key.algorithm}`);
  }
  if (header.modeOfUse !== key.modeOfUse && !(NARROWER_MODES[key.modeOfUse] ?? []).includes(header.modeOfUse)) {
    refuse(`the export header may keep mode of use ${key.modeOfUse} or narrow it (${key.modeOfUse} to ${(NARROWER_MODES[key.modeOfUse] ?? []).join(' or ') || 'nothing narrower'})`);
  }
  if (header.exportability !== key.exportability && header.exportability !== 'N') {
    refuse(`the export header may keep exportability ${key.exportability} or narrow it to N`);
  }
  if (header.keyContext === STORAGE_CONTEXT) refuse('an exported block cannot claim the storage key context (1)');
  assertProtects('KBPK', kbpkLength, keyLength);
  return header;
}

/**
 * The header a new zone key is exported with under a ZMK of `zmkLength` bytes: the key's own
 * attributes, key context 2. exportHeader's rules apply (an N key is refused: it is made to be
 * exported), and only zone keys are made this way.
 */
export function zoneKeyExportHeader(request: GenerateKeyRequest, zmkLength: number): Tr31Header {
  if (!ZONE_KEY_USAGES.includes(request.usage)) refuse(`a zone key is a PIN key (P0) or a MAC key (M6), not ${request.usage}`);
  const header = headerOf(request);
  return exportHeader(completeKeyBlockHeader(header), request.lengthBytes, zmkLength, { ...header, keyContext: EXCHANGE_CONTEXT });
}

/**
 * What a received key block must satisfy, checked after its MAC by the TR-31 unwrap: a `usage`
 * key, AES, with a mode of use X9.143 allows for that usage (a ZPK cannot arrive as a MAC key).
 */
export function importPolicy(usage: SymmetricKeyUsage): Tr31KeyPolicy {
  const modes = Object.hasOwn(MODES_BY_USAGE, usage) ? MODES_BY_USAGE[usage] : undefined;
  if (!modes) refuse(`key usage must be one of ${Object.keys(MODES_BY_USAGE).join(', ')}`);
  return { usage, modesOfUse: modes, algorithm: 'A' };
}

/**
 * The attributes a key received in an authentic block `header` is kept with: its usage, mode of
 * use and exportability as sent (X9.143:2021 §6.3.5: E may be exported again under a KEK, N never,
 * S only as the block allows). Refuses (TR31_USAGE_NOT_ALLOWED) a block claiming the storage
 * context, which only this HSM's master key writes, and (HSM_KEY_TOO_WEAK) a KEK shorter than the key.
 */
export function importedAttributes(header: Tr31Header, keyLength: number, kekLength: number): KeyAttributes {
  const attributes = { usage: header.keyUsage, algorithm: header.algorithm, modeOfUse: header.modeOfUse, exportability: header.exportability } as KeyAttributes;
  assertKeyAttributes(attributes);
  if (header.keyContext === STORAGE_CONTEXT) refuse('a received key block cannot claim the storage key context (1)');
  assertProtects('KEK', kekLength, keyLength);
  return attributes;
}

/** HSM_KEY_TOO_WEAK when a wrapping key is shorter than the key it wraps. */
function assertProtects(what: string, wrappingKeyLength: number, keyLength: number): void {
  if (wrappingKeyLength < keyLength) {
    throw new PaypadError('HSM_KEY_TOO_WEAK', `a ${wrappingKeyLength * 8}-bit ${what} cannot protect a ${keyLength * 8}-bit key`);
  }
}
