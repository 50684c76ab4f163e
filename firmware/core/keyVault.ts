/**
 * The PIN pad's key vault (SPEC A1, A10-A13, X1; docs/key-loading.md; ARCHITECTURE §3).
 *
 * Keys enter only by on-device generation (TK, from the HAL Rng) or by TR-31 import under the
 * parent slot (TMK under TK, working keys under TMK), and are used only through the operations
 * below. No method returns key bytes; what is readable is each slot's attributes and its CMAC
 * key check value. The TK leaves only as a key-transport envelope for MTMS's public key (A10).
 *
 * Each slot is one record in HAL Storage: a TR-31 version D block under the device root key
 * (slotRecord.ts), so its attributes are MAC-bound and a tampered, truncated or swapped record fails
 * closed with VAULT_RECORD_INVALID. The vault does not erase on that failure: erasing would not
 * protect a key (a bad record opens nothing) and would hide the evidence; the caller's response
 * is repair(). No decrypted key is cached: every operation opens its record, uses the key and
 * wipes it, which costs a few AES blocks per operation and keeps nothing secret in the heap
 * between operations but the root key.
 *
 * Limits: a record is authentic but not fresh, so someone who can rewrite the flash can put back
 * an older record of the same slot (a previous TMK, say); NVS deletion marks entries erased rather
 * than overwriting them. Production devices turn on ESP32 flash and NVS encryption for both.
 * Synchronous, like the HAL Storage it sits on. Runs in XS: no Node APIs.
 */
import { type Rng, asciiToBytes, constantTimeEqual, randomBytes, wipe } from 'shared/bytes';
import { assertAesKey } from 'shared/crypto/aes';
import { encipherCardData } from 'shared/crypto/cardData';
import { aesCmac, verifyAesCmac } from 'shared/crypto/cmac';
import { keyCheckValue } from 'shared/crypto/kcv';
import { deriveKeyCounterCmac } from 'shared/crypto/kdf';
import { encodeKeyEnvelope, wrapKeyForRecipient } from 'shared/crypto/keyTransport';
import { encipherPinBlockIso4 } from 'shared/crypto/pinblock';
import { type KeyBlockKeys, type Tr31Header, type UnwrappedKey, deriveKeyBlockKeys, unwrapKeyBlock } from 'shared/crypto/tr31';
import { PaypadError, isPaypadError } from 'shared/errors';
import { serial as serialField } from 'shared/protocol/fields';
import { type MacKeyId, tkMacKdfParams } from 'shared/protocol/macEnvelope';
import { DWK_KEY_POLICY } from 'shared/protocol/updateAuth';
import type { Storage } from '../hal/storage';
import { DownloadKey } from './downloadKey';
import {
  KEY_SLOTS,
  type KeyAttributes,
  type KeySlotName,
  TK_BYTES,
  TK_EXPORTABILITY,
  VAULT_NAMESPACE,
  WORKING_KEY_SLOTS,
  type WorkingKeySlotName,
  assertKeySlotName,
} from './keySlots';
import { STORAGE_KEY_CONTEXT, openSlotRecord, sealSlotRecord } from './slotRecord';
import { tkTransportContext } from 'shared/protocol/tkTransport';


/** The X9.24-1 / TR-31 AES key check value is 5 bytes (shared/crypto/kcv 'cmac'). */
const KCV_BYTES = 5;

export interface KeyVaultOptions {
  readonly storage: Storage;
  readonly rng: Rng;
  /** The device root key (AES), a HAL secret: NVS on the ESP32, a file in the emulator. Copied. */
  readonly rootKey: Uint8Array;
  /** The terminal's serial: bound into K_tkmac and into the TK envelope's context. */
  readonly serial: string;
}

/** What may be read about a slot: its MAC-bound TR-31 attributes and its key check value. */
export interface KeySlotInfo {
  readonly slot: KeySlotName;
  readonly keyUsage: string;
  readonly algorithm: string;
  readonly modeOfUse: string;
  readonly keyVersionNumber: string;
  readonly exportability: string;
  /** Leftmost 5 bytes of CMAC(K, 0^16) (X9.24-1:2017, TR-31:2018). */
  readonly kcv: Uint8Array;
}

/** One working key of a sign-on answer (A12): a TR-31 block under TMK and its CMAC KCV. */
export interface WorkingKeyDelivery {
  readonly name: WorkingKeySlotName;
  readonly block: string;
  readonly kcv: Uint8Array;
}

interface SealedKey {
  readonly record: Uint8Array;
  readonly info: KeySlotInfo;
}

/** A delivered key unwrapped and checked, before it is sealed: its holder must wipe `key`. */
interface CheckedKey {
  readonly slot: KeySlotName;
  readonly key: Uint8Array;
  readonly header: KeyAttributes;
  readonly kcv: Uint8Array;
}


/** BAD_ARGUMENT / BAD_LENGTH unless the deliveries name distinct working-key slots, each with a KCV of the right length. */
function assertDeliveries(deliveries: readonly WorkingKeyDelivery[]): void {
  if (!Array.isArray(deliveries) || deliveries.length === 0 || deliveries.length > WORKING_KEY_SLOTS.length) {
    throw new PaypadError('BAD_ARGUMENT', `working keys: expected 1 to ${WORKING_KEY_SLOTS.length} deliveries`);
  }
  const seen: string[] = [];
  for (const d of deliveries) {
    const name = typeof d === 'object' && d !== null ? d.name : undefined;
    if (!(WORKING_KEY_SLOTS as readonly unknown[]).includes(name)) {
      throw new PaypadError('BAD_ARGUMENT', `working key name must be one of ${WORKING_KEY_SLOTS.join(', ')}`);
    }
    if (seen.includes(name as string)) throw new PaypadError('BAD_ARGUMENT', `working key ${name} is delivered more than once`);
    seen.push(name as string);
    assertDeliveredKcv(d.name, d.kcv);
  }
}

/** BAD_LENGTH unless a delivered key check value has the vault's length; checked before any unwrap. */
function assertDeliveredKcv(slot: string, expectedKcv: Uint8Array): void {
  if (!(expectedKcv instanceof Uint8Array) || expectedKcv.length !== KCV_BYTES) {
    throw new PaypadError('BAD_LENGTH', `${slot} key check value: expected ${KCV_BYTES} bytes`);
  }
}
function describe(slot: KeySlotName, attributes: KeyAttributes, kcv: Uint8Array): KeySlotInfo {
  const { keyUsage, algorithm, modeOfUse, keyVersionNumber, exportability } = attributes;
  return { slot, keyUsage, algorithm, modeOfUse, keyVersionNumber, exportability, kcv };
}

function assertBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', `${what}: expected bytes`);
}

export class KeyVault {
  readonly #storage: Storage;
  readonly #rng: Rng;
  /** The device root key's TR-31 KBEK and KBMK, derived once: every record is sealed and opened under them. */
  readonly #root: KeyBlockKeys;
  readonly #serial: string;

  constructor(options: KeyVaultOptions) {
    if (typeof options !== 'object' || options === null) throw new PaypadError('BAD_ARGUMENT', 'key vault: expected options');
    if (typeof options.storage !== 'object' || options.storage === null) throw new PaypadError('BAD_ARGUMENT', 'key vault: expected a Storage');
    if (typeof options.rng !== 'function') throw new PaypadError('BAD_ARGUMENT', 'key vault: expected an Rng');
    assertAesKey(options.rootKey, 'device root key');
    this.#serial = serialField(options.serial, 'serial');
    this.#storage = options.storage;
    this.#rng = options.rng;
    this.#root = deriveKeyBlockKeys(options.rootKey);
  }

  /** The slot's attributes and KCV, or null when it is empty. VAULT_RECORD_INVALID if its record fails. */
  slotInfo(slot: KeySlotName): KeySlotInfo | null {
    const name = assertKeySlotName(slot);
    if (this.#storage.get(VAULT_NAMESPACE, name) === undefined) return null;
    return this.#open(name, (key, header) => describe(name, header, keyCheckValue(key, 'cmac')));
  }

  /**
   * A1: makes TK from the HAL Rng. Only into an empty vault (VAULT_SLOT_OCCUPIED otherwise): a
   * new TK starts a new key hierarchy, which is what repair() is for.
   */
  generateTransportKey(): KeySlotInfo {
    if (this.#storage.keys(VAULT_NAMESPACE).length > 0) {
      throw new PaypadError('VAULT_SLOT_OCCUPIED', 'the vault already holds keys; repair() erases them and makes a new TK');
    }
    const policy = KEY_SLOTS.TK;
    const attributes: KeyAttributes = {
      keyUsage: policy.usage,
      algorithm: policy.algorithm,
      modeOfUse: policy.modesOfUse[0],
      keyVersionNumber: '00',
      exportability: TK_EXPORTABILITY,
    };
    const tk = randomBytes(this.#rng, TK_BYTES, 'TK');
    try {
      const info = describe('TK', attributes, keyCheckValue(tk, 'cmac'));
      this.#storage.set(VAULT_NAMESPACE, 'TK', this.#seal('TK', attributes, tk));
      return info;
    } finally {
      wipe(tk);
    }
  }

  /**
   * A10: the TK as a key-transport envelope (shared/crypto/keyTransport, encoded) that only the
   * holder of `mtmsPublicKey`'s private key opens, with context `paypad-tk|<serial>`.
   */
  exportTransportKey(mtmsPublicKey: Uint8Array): Uint8Array {
    const context = tkTransportContext(this.#serial);
    return this.#open('TK', (tk, header) => {
      if (header.exportability !== TK_EXPORTABILITY) {
        throw new PaypadError('TR31_USAGE_NOT_ALLOWED', `TK exportability is ${header.exportability}; it cannot leave the vault`);
      }
      return encodeKeyEnvelope(wrapKeyForRecipient(mtmsPublicKey, tk, context, this.#rng));
    });
  }

  /**
   * A11: unwraps the TMK block under TK (K1, mode B, AES), checks its KCV against `expectedKcv`
   * in constant time and only then stores it. Any failure stores nothing. A TMK already present is
   * replaced; the working keys stay until the next sign-on replaces them.
   */
  importTerminalMasterKey(block: string, expectedKcv: Uint8Array): KeySlotInfo {
    // Sealed after TK is closed again: the seal's TR-31 wrap must not stack on the unwrap's frames.
    assertDeliveredKcv('TMK', expectedKcv);
    const checked = this.#open('TK', (tk) => {
      const opened = this.#openDelivery('TMK', tk, block);
      return this.#checkDelivery('TMK', opened, expectedKcv);
    });
    const [sealed] = this.#sealChecked([checked]);
    this.#storage.set(VAULT_NAMESPACE, 'TMK', sealed.record);
    return sealed.info;
  }

  /**
   * A12: unwraps each working key under TMK with its slot's usage and mode, and checks every KCV
   * before any is stored: one failure stores none. A storage failure part way puts back the
   * records that were there before, so the previous key set stays whole.
   */
  importWorkingKeys(deliveries: readonly WorkingKeyDelivery[]): KeySlotInfo[] {
    assertDeliveries(deliveries);
    const checked = this.#open('TMK', (tmk) => this.#openDeliveries(tmk, deliveries));
    const sealed = this.#sealChecked(checked);
    this.#storeAll(sealed);
    return sealed.map((s) => s.info);
  }

  /** AES-CMAC (16 bytes) under MAK, or under K_tkmac = KDF(TK, 'paypad TK MAC', serial) for 'TK' (X2). */
  mac(keyId: MacKeyId, data: Uint8Array): Uint8Array {
    assertBytes(data, 'MAC input');
    return this.#withMacKey(keyId, (key) => aesCmac(key, data));
  }

  /** Throws MAC_MISMATCH unless `mac` (8 to 16 bytes, SP 800-38B §5.3) verifies, compared in constant time. */
  verifyMac(keyId: MacKeyId, data: Uint8Array, mac: Uint8Array): void {
    assertBytes(data, 'MAC input');
    assertBytes(mac, 'MAC');
    this.#withMacKey(keyId, (key) => verifyAesCmac(key, data, mac));
  }

  /**
   * B3: DWK from its TR-31 block under DMK (usage M6, mode C, AES), as a DownloadKey that computes
   * and verifies CMACs with it and never gives it out. TR31_* / KEY_UNWRAP_FAILED when the block
   * does not open under this terminal's DMK or says something else.
   */
  openDownloadKey(block: string): DownloadKey {
    const { key } = this.#open('DMK', (dmk) => unwrapKeyBlock(dmk, block, DWK_KEY_POLICY));
    return new DownloadKey(key);
  }

  /** ISO 9564-1 format 4 PIN block under PIK (A12). */
  encipherPin(pin: string, pan: string): Uint8Array {
    return this.#open('PIK', (pik) => encipherPinBlockIso4(pik, pin, pan, this.#rng));
  }

  /** Card data (track 2) as IV || AES-CBC under TDK (shared/crypto/cardData), for POSP to decipher in its HSM (X1). */
  encipherCardData(data: Uint8Array): Uint8Array {
    assertBytes(data, 'card data');
    return this.#open('TDK', (tdk) => encipherCardData(tdk, data, this.#rng));
  }

  /**
   * Erases every slot's record. It keeps deleting past a failure, so as much as possible is gone,
   * then reports the first failure. Nothing decrypted is held in memory to wipe (see above).
   */
  zeroize(): void {
    let failure: unknown;
    for (const name of this.#storage.keys(VAULT_NAMESPACE)) {
      try {
        this.#storage.delete(VAULT_NAMESPACE, name);
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** A13: erases the vault and makes a new TK, which then goes through A2-A7 again. */
  repair(): KeySlotInfo {
    this.zeroize();
    return this.generateTransportKey();
  }

  /** Opens `slot`'s record (slotRecord.ts), lends the key to `use`, and wipes it after. */
  #open<T>(slot: KeySlotName, use: (key: Uint8Array, header: Tr31Header) => T): T {
    const record = this.#storage.get(VAULT_NAMESPACE, slot);
    if (record === undefined) throw new PaypadError('VAULT_SLOT_EMPTY', `key slot ${slot} is empty`);
    const { key, header } = openSlotRecord(this.#root, slot, KEY_SLOTS[slot], record);
    try {
      return use(key, header);
    } finally {
      wipe(key);
    }
  }

  #withMacKey<T>(keyId: MacKeyId, use: (key: Uint8Array) => T): T {
    if (keyId === 'MAK') return this.#open('MAK', use);
    if (keyId === 'TK') {
      return this.#open('TK', (tk) => {
        const tkMac = deriveKeyCounterCmac(tk, tkMacKdfParams(this.#serial));
        try {
          return use(tkMac);
        } finally {
          wipe(tkMac);
        }
      });
    }
    const slot = assertKeySlotName(keyId);
    throw new PaypadError('TR31_USAGE_NOT_ALLOWED', `key slot ${slot} (usage ${KEY_SLOTS[slot].usage}) cannot compute a MAC`);
  }

  /** Every delivery unwrapped under TMK and checked; on any failure the ones already open are wiped. */
  #openDeliveries(tmk: Uint8Array, deliveries: readonly WorkingKeyDelivery[]): CheckedKey[] {
    const keys: CheckedKey[] = [];
    try {
      for (let i = 0; i < deliveries.length; i++) {
        const { name, block, kcv } = deliveries[i];
        const opened = this.#openDelivery(name, tmk, block);
        keys.push(this.#checkDelivery(name, opened, kcv));
      }
      return keys;
    } catch (e) {
      for (let i = 0; i < keys.length; i++) wipe(keys[i].key);
      throw e;
    }
  }

  /**
   * A delivered block unwrapped under its parent key with `slot`'s policy. Opening and checking
   * are two calls made one after the other, not one inside the other: the unwrap's chain (KDF,
   * CMAC, AES) then sits on a small frame (docs/firmware.md "Stack").
   */
  #openDelivery(slot: KeySlotName, parentKey: Uint8Array, block: string): UnwrappedKey {
    try {
      return unwrapKeyBlock(parentKey, block, KEY_SLOTS[slot]);
    } catch (e) {
      if (!isPaypadError(e)) throw e;
      throw new PaypadError(e.code, `${slot} key block: ${e.message}`);
    }
  }

  /** The opened key, once its context and KCV are right; wiped otherwise. The caller wipes it later (#sealChecked does). */
  #checkDelivery(slot: KeySlotName, { key, header }: UnwrappedKey, expectedKcv: Uint8Array): CheckedKey {
    try {
      // X9.143:2021 §6.2: a storage-only block is not for exchange.
      if (header.keyContext === STORAGE_KEY_CONTEXT) {
        throw new PaypadError('TR31_USAGE_NOT_ALLOWED', `${slot} key block has key context ${STORAGE_KEY_CONTEXT} (storage only)`);
      }
      const kcv = keyCheckValue(key, 'cmac');
      if (!constantTimeEqual(kcv, expectedKcv)) {
        throw new PaypadError('KCV_MISMATCH', `${slot} key check value does not match the one delivered with it; nothing was stored`);
      }
      return { slot, key, header, kcv };
    } catch (e) {
      wipe(key);
      throw e;
    }
  }

  /** The at-rest records of checked keys; every key is wiped, sealed or not. */
  #sealChecked(checked: readonly CheckedKey[]): SealedKey[] {
    const sealed: SealedKey[] = [];
    try {
      for (let i = 0; i < checked.length; i++) {
        const { slot, header, key, kcv } = checked[i];
        const record = this.#seal(slot, header, key);
        sealed.push({ record, info: describe(slot, header, kcv) });
      }
      return sealed;
    } finally {
      for (let i = 0; i < checked.length; i++) wipe(checked[i].key);
    }
  }

  #seal(slot: KeySlotName, attributes: KeyAttributes, key: Uint8Array): Uint8Array {
    return sealSlotRecord(this.#root, slot, attributes, key, this.#rng);
  }

  #storeAll(sealed: readonly SealedKey[]): void {
    const previous = sealed.map((s) => this.#storage.get(VAULT_NAMESPACE, s.info.slot));
    let attempted = 0;
    try {
      for (const s of sealed) {
        attempted++;
        this.#storage.set(VAULT_NAMESPACE, s.info.slot, s.record);
      }
    } catch (e) {
      for (let i = 0; i < attempted; i++) {
        const slot = sealed[i].info.slot;
        try {
          if (previous[i] === undefined) this.#storage.delete(VAULT_NAMESPACE, slot);
          else this.#storage.set(VAULT_NAMESPACE, slot, previous[i] as Uint8Array);
        } catch {
          // The write failure is the one to report; a record left behind is a whole, authentic key.
        }
      }
      throw e;
    }
  }
}
