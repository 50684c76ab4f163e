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
  | 'K0' // key encryption / wrapping key (DMK)
  | 'K1' // TR-31 key block protection key (TK, TMK)
  | 'P0' // PIN encryption key (PIK)
  | 'D0' // data encryption key (TDK)
  | 'M6'; // ISO 9797-1:2011 MAC algorithm 5 = CMAC (MAK)

/** X9.143:2021 §6.3.3 table 4. */
export type ModeOfUse = 'B' | 'C' | 'D' | 'E' | 'G' | 'V';

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
   * header must repeat the key's usage, algorithm and mode of use, may keep its exportability or
   * narrow it to N, and must not claim the storage context. `kbpk` must be a K1 key that may wrap
   * (mode B or E) and at least as long as `key` (HSM_KEY_TOO_WEAK). A key with exportability N
   * cannot be exported.
   */
  exportKeyUnder(kbpk: KeyHandle, key: KeyHandle, header: Tr31HeaderInit): Promise<string>;

  /** The 16-byte AES-CMAC of `data` under a CMAC key (M6, mode C or G). */
  mac(key: KeyHandle, data: Uint8Array): Promise<Uint8Array>;

  /** MAC_MISMATCH unless `mac` (8 to 16 bytes) is the CMAC of `data` (M6, mode C or V); constant time. */
  verifyMac(key: KeyHandle, data: Uint8Array, mac: Uint8Array): Promise<void>;

  /**
   * The 16-byte AES-CMAC of `data` under the key derived from `baseKey` with SP 800-108 counter
   * mode over CMAC (shared/crypto/kdf): K_tkmac from TK with protocol's tkMacKdfParams(serial).
   * `baseKey` must be a K1 key with mode B (docs/key-loading.md: TK wraps TMK and derives its own
   * MAC key). The derived key never leaves the command.
   */
  macWithDerivedKey(baseKey: KeyHandle, derivation: KdfParams, data: Uint8Array): Promise<Uint8Array>;

  /** verifyMac under the key macWithDerivedKey derives. */
  verifyMacWithDerivedKey(baseKey: KeyHandle, derivation: KdfParams, data: Uint8Array, mac: Uint8Array): Promise<void>;

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
