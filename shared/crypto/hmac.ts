/**
 * HMAC-SHA-256 (RFC 2104, FIPS 198-1) over the SHA-256 primitive. Vectors: RFC 4231 §4.
 */
import { wipe } from '../bytes';
import { sha256 } from './primitives';

const BLOCK = 64;

export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  // RFC 2104 §2: a key longer than the block is hashed first, then zero-padded to the block.
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? sha256(key) : key);
  const inner = new Uint8Array(BLOCK + message.length);
  const outer = new Uint8Array(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = k[i] ^ 0x36;
    outer[i] = k[i] ^ 0x5c;
  }
  inner.set(message, BLOCK);
  const innerHash = sha256(inner);
  outer.set(innerHash, BLOCK);
  const mac = sha256(outer);
  wipe(k, inner, outer, innerHash);
  return mac;
}
