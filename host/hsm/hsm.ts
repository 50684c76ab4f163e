/**
 * The one HSM interface every host role uses (jPOS SMAdapter style: one interface, one method per
 * HSM command; the software HSM and, later, a PKCS#11 HSM plug in behind it and nothing else
 * knows which it got). ARCHITECTURE §3: the HSM generates, wraps, unwraps and translates keys;
 * keys exist in clear only inside an implementation's functions.
 *
 * Keys are referred to by KeyHandle: the key as a TR-31 key block under the HSM's master key (the
 * LMK) plus its check value. A handle is ciphertext and attributes, so a role may keep it in a
 * database row (X1); only the HSM that made it can open it. No method returns key bytes: what
 * leaves is a handle, a key block or envelope under another key, a MAC, a check value or a public key.
 *
 * Every method is asynchronous because a real HSM is a device across a bus or a network.
 *
 * Errors every command may raise (PaypadError codes):
 *   HSM_HANDLE_INVALID      the handle is not { block, kcv }, or its kcv is not its key's
 *   TR31_MALFORMED          the handle's block is not a key block
 *   TR31_MAC_MISMATCH       the block was altered, or it was made by another HSM (another LMK)
 *   TR31_USAGE_NOT_ALLOWED  the key's usage, mode of use, algorithm or exportability forbids the
 *                           command (a PIN key cannot MAC; a MAC key cannot wrap)
 *   HSM_UNAVAILABLE         the HSM was closed
 */
import type { DukptKeyUsage } from '../../shared/crypto/dukpt';
import type { KdfParams } from '../../shared/crypto/kdf';
import type { Tr31HeaderInit } from '../../shared/crypto/tr31';
import { PaypadError } from '../../shared/errors';

/** A key as the host stores it: never raw bytes. */
export interface KeyHandle {
  /** TR-31 key block (version D, key context '1' = storage) under the HSM's master key. */
  readonly block: string;
  /**
   * Uppercase hex, 5 bytes. AES keys: the CMAC KCV (X9.24-1:2017 §7.7.2, TR-31:2018 §A.5.6 'KC').
   * Key pairs have no standard KCV; theirs is the leftmost 5 bytes of SHA-256 over the uncompressed
   * public key, so a handle in a database row can be matched with the public key a peer holds.
   */
  readonly kcv: string;
}

/** X9.143:2021 §6.3.1 table 2: the symmetric key usages paypad's key hierarchy needs. */
export type SymmetricKeyUsage =
  | 'K0' // key encryption / wrapping key (DMK, ZMK)
  | 'K1' // TR-31 key block protection key (TK, TMK)
  | 'P0' // PIN encryption key (PIK, ZPK)
  | 'D0' // data encryption key (TDK)
  | 'M6' // ISO 9797-1:2011 MAC algorithm 5 = CMAC (MAK, ZAK)
  | 'V0' // PIN verification key, "other" algorithm (the issuer's PVK: pinVerification.ts)
  | 'B0'; // base derivation key: the BDK of AES DUKPT (shared/crypto/dukpt), mode X only

/** X9.143:2021 §6.3.3 table 4. */
export type ModeOfUse = 'B' | 'C' | 'D' | 'E' | 'G' | 'V' | 'X';

/** X9.143:2021 §6.3.5 table 6: E exportable under a KEK per X9.24, N never, S in any form. */
export type Exportability = 'E' | 'N' | 'S';

/** The attributes an AES key is born with; the HSM refuses combinations X9.143 does not allow. */
export interface KeyAttributes {
  readonly usage: SymmetricKeyUsage;
  readonly algorithm: 'A';
  readonly modeOfUse: ModeOfUse;
  readonly exportability: Exportability;
}

export interface GenerateKeyRequest extends KeyAttributes {
  readonly lengthBytes: 16 | 24 | 32;
}

export type Curve = 'P-256';

export interface KeyPair {
  /** The private key, TR-31 usage K3 (key agreement), algorithm E, mode X, never exportable. */
  readonly handle: KeyHandle;
  /** Uncompressed SEC 1 point (65 bytes), for shared/crypto/keyTransport senders. */
  readonly publicKey: Uint8Array;
}

/**
 * One custodian's share of a key at a key ceremony: split knowledge and dual control (ANSI
 * X9.24-1:2017), the key being the XOR of two or three components.
 */
export interface KeyComponent {
  /** The component as its custodian enters it (16, 24 or 32 bytes, the key's length). */
  readonly value: Uint8Array;
  /** Its check value from the custodian's form: 10 hex digits, the CMAC KCV. */
  readonly kcv: string;
}

/** A zone key made in this HSM: the handle it keeps and the same key for the other party. */
export interface ZoneKey {
  readonly handle: KeyHandle;
  /** TR-31 version D block under the ZMK, key context 2 (key exchange), for the 0800 key exchange. */
  readonly block: string;
}

export interface Hsm {
  /** A new random AES key with these attributes. */
  generateKey(request: GenerateKeyRequest): Promise<KeyHandle>;

  /** A key-transport intake key pair (docs/key-loading.md: MTMS's and each KMS's intake key). */
  generateKeyPair(curve: Curve): Promise<KeyPair>;

  /**
   * Opens a shared/crypto/keyTransport envelope (encoded) addressed to `intakeKey` with `context`
   * and keeps the key with `attributes` (KMS receives a TK, A7/A10). KEY_UNWRAP_FAILED when the
   * envelope is for another key pair or context, or was altered.
   */
  importTransportedKey(intakeKey: KeyHandle, envelope: Uint8Array, context: Uint8Array, attributes: KeyAttributes): Promise<KeyHandle>;

  /**
   * Re-addresses an envelope for `intakeKey` to `recipientPublicKey` under `contextOut`; the key is
   * in clear only inside the HSM (MTMS forwards a terminal's TK to the customer's KMS, A7/A10).
   * Returns the encoded envelope.
   */
  translateTransportedKey(
    intakeKey: KeyHandle,
    envelope: Uint8Array,
    contextIn: Uint8Array,
    recipientPublicKey: Uint8Array,
    contextOut: Uint8Array,
  ): Promise<Uint8Array>;

  /**
   * `key` as a TR-31 block under `kbpk` (TMK under TK, A11; working keys under TMK, A12). The
   * header must repeat the key's usage and algorithm, may keep its mode of use or narrow it (B to E
   * or D, C to G or V; a PIK kept as B reaches the terminal as E), may keep its exportability or
   * narrow it to N, and must not claim the storage context. `kbpk` must be a K1 key that may wrap
   * (mode B or E) and at least as long as `key` (HSM_KEY_TOO_WEAK). A key with exportability N
   * cannot be exported.
   */
  exportKeyUnder(kbpk: KeyHandle, key: KeyHandle, header: Tr31HeaderInit): Promise<string>;

  /**
   * A key entered as two or three components at a key ceremony (a ZMK shared with a bank, K0).
   * Each component must match its check value and the combined key `kcv` (KCV_MISMATCH, saying
   * which); KEY_COMPONENTS_INVALID for a count other than 2 or 3, repeated components or a zero
   * key; BAD_LENGTH for components of different or non-AES lengths. The components are clear by
   * nature: on a payment HSM custodians type them at its console, here they pass through the host.
   */
  importKeyComponents(attributes: KeyAttributes, components: readonly KeyComponent[], kcv: string): Promise<KeyHandle>;

  /**
   * Keeps the key of a TR-31 block received under `kek` (a K0 that may unwrap: mode B or D): a
   * zone key (ZPK P0, ZAK M6) under the ZMK, or a new ZMK under the old one. The block must hold
   * a `usage` key whose mode of use X9.143 allows for it, must not claim the storage context, and
   * `kek` must be at least as long as the key (HSM_KEY_TOO_WEAK). The key keeps the block's
   * mode of use and exportability (X9.143:2021 §6.3.5: N is never exported from here).
   */
  importKeyBlock(kek: KeyHandle, block: string, usage: SymmetricKeyUsage): Promise<KeyHandle>;

  /**
   * A new zone key (ZPK P0 or ZAK M6) with `request`'s attributes, kept here and exported under
   * `zmk` (a K0 that may wrap: mode B or E, at least as long as the key) with the same
   * attributes, for the other party to import. The key must be exportable (E or S).
   */
  generateZoneKey(zmk: KeyHandle, request: GenerateKeyRequest): Promise<ZoneKey>;

  /**
   * PIN translation, ISO 9564-1 format 4 on both sides: `pinBlock` under `sourceKey` (P0 that may
   * decrypt: B or D) for `pan` becomes a block for the same PAN under `destinationKey` (P0 that may
   * encrypt: B or E); the terminal's PIK to the acquirer link's ZPK. PIN_BLOCK_INVALID when the
   * block does not decipher to a format 4 PIN field for this key and PAN (tampered, another key,
   * another PAN); BAD_LENGTH unless 16 bytes; PAN_INVALID. HSM_COMMAND_UNSUPPORTED from an HSM
   * that cannot keep the PIN inside its boundary (the PKCS#11 HSM, docs/payment-keys.md).
   */
  translatePinBlock(sourceKey: KeyHandle, destinationKey: KeyHandle, pinBlock: Uint8Array, pan: string): Promise<Uint8Array>;

  /**
   * The issuer's PIN verification value (PVV, host/hsm/pinVerification.ts) of the PIN in
   * `pinBlock` (format 4 under `pinKey`, P0 mode B or D) for `pan`, under `pvk` (V0, mode C or
   * G): what an issuer keeps instead of the PIN when a card's PIN is set. Errors as translatePinBlock.
   */
  pinVerificationValue(pinKey: KeyHandle, pvk: KeyHandle, pinBlock: Uint8Array, pan: string): Promise<Uint8Array>;

  /**
   * Issuer PIN verification: PIN_INCORRECT unless the PIN in `pinBlock` (format 4 under `pinKey`,
   * P0 mode B or D) for `pan` has the verification value `pvv` under `pvk` (V0, mode C or V);
   * compared in constant time, no PIN leaves the HSM. A malformed block is PIN_BLOCK_INVALID, a
   * key of the wrong usage TR31_USAGE_NOT_ALLOWED; otherwise errors as translatePinBlock.
   */
  verifyPin(pinKey: KeyHandle, pvk: KeyHandle, pinBlock: Uint8Array, pan: string, pvv: Uint8Array): Promise<void>;

  /**
   * Card data a terminal enciphered under its TDK (`dataKey`, D0 that may decrypt: B or D), as
   * shared/crypto/cardData makes it: IV || AES-CBC, ISO/IEC 9797-1 padding method 2. Returns the
   * clear data (track 2) for the caller to use for one authorisation and wipe. CARD_DATA_INVALID
   * for a length that is not an IV and whole blocks, or padding that is not there (another key,
   * altered): call it only on data whose message MAC verified, so no padding oracle is offered.
   */
  decipherCardData(dataKey: KeyHandle, enciphered: Uint8Array): Promise<Uint8Array>;

  /** The 16-byte AES-CMAC of `data` under a CMAC key (M6, mode C or G). */
  mac(key: KeyHandle, data: Uint8Array): Promise<Uint8Array>;

  /** MAC_MISMATCH unless `mac` (8 to 16 bytes) is the CMAC of `data` (M6, mode C or V); constant time. */
  verifyMac(key: KeyHandle, data: Uint8Array, mac: Uint8Array): Promise<void>;

  /**
   * The 16-byte AES-CMAC of `data` under the key derived from `baseKey` with SP 800-108 counter
   * mode over CMAC (shared/crypto/kdf): K_tkmac from TK with protocol's tkMacKdfParams(serial).
   * `baseKey` must be a K1 key with mode B (docs/key-loading.md: TK wraps TMK and derives its own
   * MAC key), or an M6 key with mode C (a DWK derives the MAC key of each image chunk,
   * shared/protocol/updateChunks). The derived key never leaves the command.
   */
  macWithDerivedKey(baseKey: KeyHandle, derivation: KdfParams, data: Uint8Array): Promise<Uint8Array>;

  /** verifyMac under the key macWithDerivedKey derives. */
  verifyMacWithDerivedKey(baseKey: KeyHandle, derivation: KdfParams, data: Uint8Array, mac: Uint8Array): Promise<void>;

  /**
   * AES DUKPT (ANSI X9.24-3-2017; shared/crypto/dukpt, docs/dukpt.md): the working key of `usage`
   * for the transaction of `ksn`, derived inside the HSM from the BDK (`bdk`: B0, mode X) and kept
   * as a handle for the other commands, with the attributes the host's side of that usage needs:
   * data-encrypt D0/D (decipherCardData opens what the device enciphered), data-decrypt D0/E,
   * data-both D0/B, pin-encryption P0/D, mac-generation M6/V (verifies the device's MACs),
   * mac-verification M6/G, mac-both M6/C. Same length as the BDK, exportability N: a
   * transaction's key never leaves. DUKPT_KSN_INVALID for a KSN no device uses; BAD_ARGUMENT for
   * key-encryption or an unknown usage; HSM_COMMAND_UNSUPPORTED where a backend cannot derive
   * inside its boundary (the PKCS#11 HSM for BDKs longer than AES-128).
   */
  deriveDukptWorkingKey(bdk: KeyHandle, ksn: Uint8Array, usage: DukptKeyUsage): Promise<KeyHandle>;

  /** The check value recomputed from the key inside the HSM (equal to handle.kcv, or the handle is refused). */
  keyCheckValue(key: KeyHandle): Promise<string>;

  /** Forgets the master key; every later call fails with HSM_UNAVAILABLE. */
  close(): Promise<void>;
}

const KCV_HEX = /^[0-9A-Fa-f]{10}$/;
/** TR-31 block length field: four decimal digits. */
const MAX_BLOCK_LENGTH = 9999;

/** HSM_HANDLE_INVALID unless `handle` has the shape of a KeyHandle (its contents are the HSM's to check). */
export function assertKeyHandle(handle: KeyHandle, what: string): void {
  if (
    typeof handle !== 'object' ||
    handle === null ||
    typeof handle.block !== 'string' ||
    handle.block.length === 0 ||
    handle.block.length > MAX_BLOCK_LENGTH ||
    typeof handle.kcv !== 'string' ||
    !KCV_HEX.test(handle.kcv)
  ) {
    throw new PaypadError('HSM_HANDLE_INVALID', `${what}: expected a key handle { block: TR-31 key block, kcv: 10 hex digits }`);
  }
}

/** BAD_ARGUMENT unless `value` is bytes. */
export function assertBytes(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', `${what}: expected bytes`);
}
