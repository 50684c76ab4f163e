/**
 * The PIN pad's device identity (A8; docs/key-loading.md "Device identity"): an ECDSA P-256 key
 * pair made in the device, and the certificate the paypad CA issued for its public key (role
 * device, CN = serial). As ANSI X9.24-2 (TR-34) gives the key-receiving device a CA-issued
 * credential, this is what lets MTMS take a TK envelope only from the device the factory enrolled
 * under that serial, not from any device that claims it.
 *
 * The private key is kept as every vault key is: a TR-31 version D record under the device root
 * key (slotRecord.ts), usage S0 (asymmetric key pair for digital signature, X9.143:2021 §6.3.1
 * table 2), algorithm E (elliptic curve), mode S (signature only, §6.3.3 table 4), exportability N
 * (never leaves the device). No method returns it: its one use is sign(), which opens the record,
 * signs with RFC 6979 deterministic nonces (shared/crypto/ecdsa: no random source can leak the
 * key) and wipes it. Callers sign only the domain-separated bytes of shared/protocol/deviceIdentity.
 *
 * The key pair is made once, the first time the production line asks for the device's identity
 * (enrolment, the last step of manufacture), and never replaced. It lives in its own Storage
 * namespace: repair (A13) zeroizes the vault's slots, not this, so a repaired terminal keeps its
 * identity and certificate.
 * Runs in XS: no Node APIs.
 */
import { type Rng, wipe } from 'shared/bytes';
import { assertAesKey } from 'shared/crypto/aes';
import { signP256Sha256 } from 'shared/crypto/ecdsa';
import { generateP256KeyPair } from 'shared/crypto/keyTransport';
import { p256PublicKey } from 'shared/crypto/primitives';
import { type KeyBlockKeys, type Tr31KeyPolicy, deriveKeyBlockKeys } from 'shared/crypto/tr31';
import { PaypadError } from 'shared/errors';
import { STORAGE_VALUE_MAX, type Storage } from '../hal/storage';
import type { KeyAttributes } from './keySlots';
import { openSlotRecord, sealSlotRecord } from './slotRecord';

/** The Storage namespace of the device identity: the key record and the certificate. */
export const DEVICE_NAMESPACE = 'device';
/** The key record's Storage key, also its slot binding (slotRecord.ts). */
export const DEVICE_KEY_SLOT = 'ID';
const CERTIFICATE_KEY = 'cert';

export const DEVICE_KEY_POLICY: Tr31KeyPolicy = Object.freeze({ usage: 'S0', modesOfUse: Object.freeze(['S']), algorithm: 'E' });
const DEVICE_KEY_ATTRIBUTES: KeyAttributes = Object.freeze({ keyUsage: 'S0', algorithm: 'E', modeOfUse: 'S', keyVersionNumber: '00', exportability: 'N' });

/** True when `needle` occurs in `haystack`. */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

export class DeviceKey {
  readonly #storage: Storage;
  readonly #rng: Rng;
  /** The device root key's TR-31 KBEK and KBMK, derived once: every record is sealed and opened under them. */
  readonly #root: KeyBlockKeys;

  /** `rootKey`: the device root key that seals the vault (keyVault.ts); its record keys are derived from it. */
  constructor(storage: Storage, rng: Rng, rootKey: Uint8Array) {
    assertAesKey(rootKey, 'device root key');
    this.#storage = storage;
    this.#rng = rng;
    this.#root = deriveKeyBlockKeys(rootKey);
  }

  /** The identity public key (uncompressed SEC 1, 65 bytes); the key pair is made on the first call. */
  publicKey(): Uint8Array {
    if (this.#storage.get(DEVICE_NAMESPACE, DEVICE_KEY_SLOT) === undefined) this.#generate();
    return this.#open((privateKey) => p256PublicKey(privateKey));
  }

  /** ECDSA P-256 / SHA-256 over `message`, r || s. VAULT_SLOT_EMPTY before the key pair is made. */
  sign(message: Uint8Array): Uint8Array {
    return this.#open((privateKey) => signP256Sha256(privateKey, message));
  }

  /** The device certificate (DER) stored by certify, or undefined before enrolment. */
  certificate(): Uint8Array | undefined {
    return this.#storage.get(DEVICE_NAMESPACE, CERTIFICATE_KEY);
  }

  /**
   * Stores the certificate the CA issued for this device. The device checks only that it is a DER
   * SEQUENCE that fits a Storage value and carries this device's public key (DEVICE_CERT_INVALID
   * otherwise): the chain, the role and the serial are MTMS's to check at every intake.
   */
  storeCertificate(der: Uint8Array): void {
    if (!(der instanceof Uint8Array) || der.length < 2 || der[0] !== 0x30 || der.length > STORAGE_VALUE_MAX) {
      throw new PaypadError('DEVICE_CERT_INVALID', `device certificate: expected a DER certificate of at most ${STORAGE_VALUE_MAX} bytes`);
    }
    if (this.#storage.get(DEVICE_NAMESPACE, DEVICE_KEY_SLOT) === undefined || !contains(der, this.publicKey())) {
      throw new PaypadError('DEVICE_CERT_INVALID', "the certificate is not for this device's identity key; nothing was stored");
    }
    this.#storage.set(DEVICE_NAMESPACE, CERTIFICATE_KEY, der.slice());
  }

  #generate(): void {
    const pair = generateP256KeyPair(this.#rng);
    try {
      this.#storage.set(DEVICE_NAMESPACE, DEVICE_KEY_SLOT, sealSlotRecord(this.#root, DEVICE_KEY_SLOT, DEVICE_KEY_ATTRIBUTES, pair.privateKey, this.#rng));
    } finally {
      wipe(pair.privateKey);
    }
  }

  #open<T>(use: (privateKey: Uint8Array) => T): T {
    const record = this.#storage.get(DEVICE_NAMESPACE, DEVICE_KEY_SLOT);
    if (record === undefined) throw new PaypadError('VAULT_SLOT_EMPTY', 'the device has no identity key yet: enrol it (paypad mtms device enrol)');
    const { key } = openSlotRecord(this.#root, DEVICE_KEY_SLOT, DEVICE_KEY_POLICY, record);
    try {
      return use(key);
    } finally {
      wipe(key);
    }
  }
}
