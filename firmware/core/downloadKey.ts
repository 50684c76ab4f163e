/**
 * A download work key (DWK, SPEC B3) while its session lasts: opened from its TR-31 block under DMK
 * by the vault (KeyVault.openDownloadKey), held here in a private field and used only through the
 * methods below, then wiped. It is never stored: a power cut ends the session, and the terminal
 * authenticates again with a fresh DWK. Chunk keys (shared/protocol/updateChunks) are derived from
 * it per chunk and wiped at once.
 * Runs in XS: no Node APIs.
 */
import { wipe } from 'shared/bytes';
import { aesCmac, verifyAesCmac } from 'shared/crypto/cmac';
import { type KdfParams, deriveKeyCounterCmac } from 'shared/crypto/kdf';
import { PaypadError } from 'shared/errors';

export class DownloadKey {
  #key: Uint8Array | undefined;

  /** Takes `key` (16 bytes, AES) over; the caller keeps no copy. */
  constructor(key: Uint8Array) {
    this.#key = key;
  }

  #live(): Uint8Array {
    if (this.#key === undefined) throw new PaypadError('UPDATE_STATE', 'download key: the session is over');
    return this.#key;
  }

  /** AES-CMAC (16 bytes) under DWK: SAC-I. */
  mac(data: Uint8Array): Uint8Array {
    return aesCmac(this.#live(), data);
  }

  /** MAC_MISMATCH unless `tag` is the CMAC of `data` under DWK (TAC-I), compared in constant time. */
  verifyMac(data: Uint8Array, tag: Uint8Array): void {
    verifyAesCmac(this.#live(), data, tag);
  }

  /** MAC_MISMATCH unless `tag` is the CMAC of `data` under KDF(DWK, params): a chunk's MAC. */
  verifyDerivedMac(params: KdfParams, data: Uint8Array, tag: Uint8Array): void {
    const derived = deriveKeyCounterCmac(this.#live(), params);
    try {
      verifyAesCmac(derived, data, tag);
    } finally {
      wipe(derived);
    }
  }

  /** Ends the session: the key is wiped and every method refuses. */
  wipe(): void {
    if (this.#key !== undefined) wipe(this.#key);
    this.#key = undefined;
  }
}
