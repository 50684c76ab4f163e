/**
 * Card data (track 2) enciphered under the terminal's data key TDK (TR-31 usage D0) for POSP:
 *
 *   IV (16 random bytes) || AES-CBC(TDK, IV, data || 0x80 || 0x00 ...)
 *
 * CBC mode as NIST SP 800-38A §6.2 defines it, with a fresh unpredictable IV per message
 * (SP 800-38A Appendix C), and ISO/IEC 9797-1:2011 padding method 2 (a 1 bit, then 0 bits to the
 * block boundary; always at least one padding byte), so any length up to CARD_DATA_MAX_BYTES
 * round-trips exactly. There is no TR-31 or X9.143 wrapper: the data is not a key, and the
 * message that carries it is MAC'd whole under MAK (shared/protocol/macEnvelope), which covers IV
 * and ciphertext: CBC's malleability and a padding oracle are closed by verifying that MAC before
 * anything is deciphered (encrypt-then-MAC). Deciphering happens in the host's HSM only.
 *
 * Runs in XS and Node: no Node APIs, no tables. Buffers that held clear data are wiped.
 */
import { type Rng, randomBytes, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { AES_BLOCK, aesCbcDecrypt, aesCbcEncrypt } from './aes';

/** Track 2 is at most 37 characters (ISO/IEC 7813); the limit leaves room without inviting bulk data. */
export const CARD_DATA_MAX_BYTES = 64;
/** IV and the padded data: 16 + 80 bytes at most. */
export const ENCIPHERED_CARD_DATA_MAX_BYTES = AES_BLOCK + CARD_DATA_MAX_BYTES + AES_BLOCK;
export const ENCIPHERED_CARD_DATA_MIN_BYTES = 2 * AES_BLOCK;

const PAD_MARKER = 0x80;

/** `data` (1 to CARD_DATA_MAX_BYTES bytes) enciphered under `key` with a fresh IV from `rng`. */
export function encipherCardData(key: Uint8Array, data: Uint8Array, rng: Rng): Uint8Array {
  if (!(data instanceof Uint8Array) || data.length === 0 || data.length > CARD_DATA_MAX_BYTES) {
    throw new PaypadError('CARD_DATA_INVALID', `card data: expected 1 to ${CARD_DATA_MAX_BYTES} bytes`);
  }
  const padded = new Uint8Array((Math.floor(data.length / AES_BLOCK) + 1) * AES_BLOCK);
  padded.set(data);
  padded[data.length] = PAD_MARKER;
  const iv = randomBytes(rng, AES_BLOCK, 'card data IV');
  try {
    const out = new Uint8Array(AES_BLOCK + padded.length);
    out.set(iv);
    out.set(aesCbcEncrypt(key, iv, padded), AES_BLOCK);
    return out;
  } finally {
    wipe(padded);
  }
}

/**
 * The card data inside `enciphered` (encipherCardData's output). CARD_DATA_INVALID when it is not
 * IV plus whole blocks within the limits, or its padding is not method 2 (another key, altered).
 */
export function decipherCardData(key: Uint8Array, enciphered: Uint8Array): Uint8Array {
  assertEncipheredCardData(enciphered);
  return removeCardDataPadding(aesCbcDecrypt(key, enciphered.subarray(0, AES_BLOCK), enciphered.subarray(AES_BLOCK)));
}

/** CARD_DATA_INVALID unless `enciphered` is an IV and 1 to 5 AES blocks. For an HSM that runs the CBC itself. */
export function assertEncipheredCardData(enciphered: Uint8Array): void {
  if (
    !(enciphered instanceof Uint8Array) ||
    enciphered.length < ENCIPHERED_CARD_DATA_MIN_BYTES ||
    enciphered.length > ENCIPHERED_CARD_DATA_MAX_BYTES ||
    enciphered.length % AES_BLOCK !== 0
  ) {
    throw new PaypadError('CARD_DATA_INVALID', `enciphered card data: expected an IV and 1 to ${ENCIPHERED_CARD_DATA_MAX_BYTES / AES_BLOCK - 1} AES blocks`);
  }
}

/** The data before ISO/IEC 9797-1 method 2 padding; `padded` is wiped. CARD_DATA_INVALID when there is none. */
export function removeCardDataPadding(padded: Uint8Array): Uint8Array {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 1 || padded[end] !== PAD_MARKER) {
    wipe(padded);
    throw new PaypadError('CARD_DATA_INVALID', 'enciphered card data does not decipher under this key (ISO/IEC 9797-1 padding method 2 not found)');
  }
  const data = padded.slice(0, end);
  wipe(padded);
  return data;
}
