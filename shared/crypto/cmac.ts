/**
 * AES-CMAC, NIST SP 800-38B (RFC 4493 for AES-128). Vectors: test/vectors/cmac.json.
 */
import { constantTimeEqual, wipe } from '../bytes';
import { PaypadError } from '../errors';
import { AES_BLOCK, aesCbcEncrypt, aesEcbEncrypt, assertAesKey } from './aes';

/** SP 800-38B §6.1: doubling in GF(2^128), R_128 = 0^120 || 10000111. */
function doubleSubkey(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(AES_BLOCK);
  for (let i = 0; i < AES_BLOCK; i++) out[i] = ((block[i] << 1) | (i + 1 < AES_BLOCK ? block[i + 1] >> 7 : 0)) & 0xff;
  if (block[0] & 0x80) out[AES_BLOCK - 1] ^= 0x87;
  return out;
}

/** The full 16-byte CMAC of `data` under `key`. */
export function aesCmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  assertAesKey(key, 'CMAC key');
  if (!(data instanceof Uint8Array)) throw new PaypadError('BAD_ARGUMENT', 'CMAC: expected bytes to MAC');
  // Each step its own call from this small frame, none in another's arguments, the last a tail
  // call: on the terminal CMAC is the innermost step of its deepest chains (docs/firmware.md "Stack").
  const l = aesEcbEncrypt(key, new Uint8Array(AES_BLOCK));
  const message = preparedMessage(data, l);
  return cbcMacOfPrepared(key, message);
}

/**
 * §6.2 steps 1-4 from L = CIPH_K(0^128) (wiped here): the message padded 10* if its last block is
 * partial, that block XORed with K1 or K2. Exported for an HSM whose token runs the cipher but
 * not the CMAC it needs (host/hsm/pkcs11Hsm.ts derives K_tkmac so).
 */
export function preparedMessage(data: Uint8Array, l: Uint8Array): Uint8Array {
  const k1 = doubleSubkey(l);
  const k2 = doubleSubkey(k1);
  // §6.2: a complete last block is XORed with K1; a partial (or empty) one is padded 10* and XORed with K2.
  const complete = data.length > 0 && data.length % AES_BLOCK === 0;
  const message = new Uint8Array(complete ? data.length : data.length + AES_BLOCK - (data.length % AES_BLOCK));
  message.set(data);
  if (!complete) message[data.length] = 0x80;
  const last = message.length - AES_BLOCK;
  const subkey = complete ? k1 : k2;
  for (let i = 0; i < AES_BLOCK; i++) message[last + i] ^= subkey[i];
  wipe(l, k1, k2);
  return message;
}

/** §6.2 steps 5-7: the last block of the CBC chain over the prepared message; the message is wiped. */
function cbcMacOfPrepared(key: Uint8Array, message: Uint8Array): Uint8Array {
  const chain = aesCbcEncrypt(key, new Uint8Array(AES_BLOCK), message);
  const mac = chain.slice(message.length - AES_BLOCK);
  wipe(message, chain);
  return mac;
}

/**
 * Verifies a (possibly truncated, SP 800-38B §5.3: at least 8 bytes) CMAC in constant time.
 * Throws MAC_MISMATCH on any difference, so a caller cannot forget to check a boolean.
 */
export function verifyAesCmac(key: Uint8Array, data: Uint8Array, mac: Uint8Array): void {
  if (mac.length < 8 || mac.length > 16) {
    throw new PaypadError('BAD_LENGTH', `CMAC: expected 8 to 16 bytes, got ${mac.length}`);
  }
  const expected = aesCmac(key, data).subarray(0, mac.length);
  if (!constantTimeEqual(expected, mac)) throw new PaypadError('MAC_MISMATCH', 'CMAC does not verify');
}
