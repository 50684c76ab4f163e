/**
 * Key check values for AES keys.
 *  - 'cmac' (ANSI X9.24-1:2017 / TR-31:2018): the leftmost 5 bytes of AES-CMAC(K, 0^16).
 *  - 'legacy': the leftmost 3 bytes of AES-ECB(K, 0^16), as older HSMs print it.
 * Example from STANDARDS.md: 3F419E1CB7079442AA37474C2EFBF8B8 -> cmac 08793E25AB, legacy E5E07C.
 */
import { aesEcbEncrypt } from './aes';
import { aesCmac } from './cmac';

export type KcvMethod = 'cmac' | 'legacy';

export function keyCheckValue(key: Uint8Array, method: KcvMethod = 'cmac'): Uint8Array {
  const zeros = new Uint8Array(16);
  return method === 'cmac' ? aesCmac(key, zeros).slice(0, 5) : aesEcbEncrypt(key, zeros).slice(0, 3);
}
