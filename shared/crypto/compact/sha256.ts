/**
 * SHA-256 (FIPS 180-4 §6.2) for a small heap: the 64 round constants are made on first use, not
 * at import, and a message is hashed with one 64-word schedule. Behind shared/crypto/primitives
 * in Node and in the XS test engine; the device build uses Moddable's native Digest instead.
 */

let roundConstants: Uint32Array | undefined;

/**
 * §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes, as
 * hex: a string literal stays in the code (flash on the device), and decoding it word by word
 * keeps the stack flat (Uint32Array.of with 64 arguments put all of them on the XS stack at once).
 */
// One literal, not a sum of them: a concatenation would be computed, and held, at import.
const ROUND_CONSTANTS_HEX = '428a2f9871374491b5c0fbcfe9b5dba53956c25b59f111f1923f82a4ab1c5ed5d807aa9812835b01243185be550c7dc372be5d7480deb1fe9bdc06a7c19bf174e49b69c1efbe47860fc19dc6240ca1cc2de92c6f4a7484aa5cb0a9dc76f988da983e5152a831c66db00327c8bf597fc7c6e00bf3d5a7914706ca63511429296727b70a852e1b21384d2c6dfc53380d13650a7354766a0abb81c2c92e92722c85a2bfe8a1a81a664bc24b8b70c76c51a3d192e819d6990624f40e3585106aa07019a4c1161e376c082748774c34b0bcb5391c0cb34ed8aa4a5b9cca4f682e6ff3748f82ee78a5636f84c878148cc7020890befffaa4506cebbef9a3f7c67178f2';

function constants(): Uint32Array {
  if (roundConstants === undefined) {
    roundConstants = new Uint32Array(64);
    for (let t = 0; t < 64; t++) roundConstants[t] = parseInt(ROUND_CONSTANTS_HEX.slice(8 * t, 8 * t + 8), 16);
  }
  return roundConstants;
}

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

/** §6.2.2 over one padded message; `h` is updated in place. */
function compress(h: Uint32Array, w: Uint32Array, block: Uint8Array, offset: number, k: Uint32Array): void {
  for (let t = 0; t < 16; t++) {
    const i = offset + 4 * t;
    w[t] = (block[i] << 24) | (block[i + 1] << 16) | (block[i + 2] << 8) | block[i + 3];
  }
  for (let t = 16; t < 64; t++) {
    const s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
    const s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  let a = h[0];
  let b = h[1];
  let c = h[2];
  let d = h[3];
  let e = h[4];
  let f = h[5];
  let g = h[6];
  let hh = h[7];
  for (let t = 0; t < 64; t++) {
    const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[t] + w[t]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

/** A SHA-256 computed over data given in parts (an image read back from flash, a chunk at a time). */
export interface Sha256Hash {
  update(data: Uint8Array): void;
  /** The digest of everything given; the hash cannot be used after. */
  digest(): Uint8Array;
}

class CompactSha256 implements Sha256Hash {
  // §5.3.3: the first 32 bits of the fractions of the square roots of the first 8 primes.
  readonly #h = Uint32Array.of(0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19);
  readonly #w = new Uint32Array(64);
  /** The bytes of an incomplete block, carried to the next update. */
  readonly #block = new Uint8Array(64);
  #buffered = 0;
  #length = 0;

  update(data: Uint8Array): void {
    const k = constants();
    let offset = 0;
    this.#length += data.length;
    if (this.#buffered > 0) {
      const take = Math.min(64 - this.#buffered, data.length);
      this.#block.set(data.subarray(0, take), this.#buffered);
      this.#buffered += take;
      offset = take;
      if (this.#buffered < 64) return;
      compress(this.#h, this.#w, this.#block, 0, k);
      this.#buffered = 0;
    }
    const whole = offset + (data.length - offset) - ((data.length - offset) % 64);
    for (; offset < whole; offset += 64) compress(this.#h, this.#w, data, offset, k);
    this.#block.set(data.subarray(offset));
    this.#buffered = data.length - offset;
  }

  digest(): Uint8Array {
    const k = constants();
    // §5.1.1 padding: 0x80, zeros, then the length in bits as a 64-bit big-endian integer.
    const tail = new Uint8Array(this.#buffered < 56 ? 64 : 128);
    tail.set(this.#block.subarray(0, this.#buffered));
    tail[this.#buffered] = 0x80;
    const bits = this.#length * 8;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 4294967296));
    view.setUint32(tail.length - 4, bits >>> 0);
    for (let offset = 0; offset < tail.length; offset += 64) compress(this.#h, this.#w, tail, offset, k);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(4 * i, this.#h[i]);
    tail.fill(0);
    this.#w.fill(0);
    this.#block.fill(0);
    return out;
  }
}

export function createSha256(): Sha256Hash {
  return new CompactSha256();
}

export function sha256(data: Uint8Array): Uint8Array {
  const hash = new CompactSha256();
  hash.update(data);
  return hash.digest();
}
