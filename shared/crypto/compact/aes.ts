/**
 * AES (FIPS 197) in ECB and CBC (SP 800-38A), unpadded, written for a small heap: the S-box and
 * its inverse (256 bytes each) are computed on first use, never at import, and nothing else is
 * tabled. This is the implementation behind shared/crypto/primitives in Node and in the XS test
 * engine; the device build replaces that module with Moddable's native AES (docs/firmware.md).
 *
 * Callers (shared/crypto/aes) have checked the key length, the IV and whole blocks.
 */

let sbox: Uint8Array | undefined;
let inverseSbox: Uint8Array | undefined;

/** FIPS 197 §5.1.1: multiplicative inverse in GF(2^8), then the affine map with 0x63. */
function sboxes(): [Uint8Array, Uint8Array] {
  if (!sbox || !inverseSbox) {
    const s = new Uint8Array(256);
    const inv = new Uint8Array(256);
    // Walk p through GF(2^8)* by multiplying with 3 and q through the inverses by dividing by 3.
    let p = 1;
    let q = 1;
    do {
      p = p ^ ((p << 1) & 0xff) ^ (p & 0x80 ? 0x1b : 0);
      q ^= q << 1;
      q ^= q << 2;
      q ^= q << 4;
      q &= 0xff;
      if (q & 0x80) q ^= 0x09;
      const x = q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63;
      s[p] = x;
      inv[x] = p;
    } while (p !== 1);
    s[0] = 0x63;
    inv[0x63] = 0;
    sbox = s;
    inverseSbox = inv;
  }
  return [sbox, inverseSbox];
}

function rotl8(x: number, n: number): number {
  return ((x << n) | (x >> (8 - n))) & 0xff;
}

function xtime(x: number): number {
  return ((x << 1) ^ (x & 0x80 ? 0x1b : 0)) & 0xff;
}

function mul(a: number, b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) r ^= a;
    a = xtime(a);
    b >>= 1;
  }
  return r;
}

/** FIPS 197 §5.2 key expansion: (rounds + 1) round keys of 16 bytes, in one array. */
function expandKey(key: Uint8Array, s: Uint8Array): Uint8Array {
  const nk = key.length / 4;
  const rounds = nk + 6;
  const w = new Uint8Array(16 * (rounds + 1));
  w.set(key);
  let rcon = 1;
  for (let i = nk; i < 4 * (rounds + 1); i++) {
    let t0 = w[4 * i - 4];
    let t1 = w[4 * i - 3];
    let t2 = w[4 * i - 2];
    let t3 = w[4 * i - 1];
    if (i % nk === 0) {
      const r = t0;
      t0 = s[t1] ^ rcon;
      t1 = s[t2];
      t2 = s[t3];
      t3 = s[r];
      rcon = xtime(rcon);
    } else if (nk > 6 && i % nk === 4) {
      t0 = s[t0];
      t1 = s[t1];
      t2 = s[t2];
      t3 = s[t3];
    }
    const j = 4 * (i - nk);
    w[4 * i] = w[j] ^ t0;
    w[4 * i + 1] = w[j + 1] ^ t1;
    w[4 * i + 2] = w[j + 2] ^ t2;
    w[4 * i + 3] = w[j + 3] ^ t3;
  }
  return w;
}

/**
 * §5.1 Cipher, in place on the 16-byte block at `at`. SubBytes, ShiftRows (§5.1.1, §5.1.2; the
 * state is column-major), MixColumns (§5.1.3) and AddRoundKey are written out in this one frame:
 * the terminal's deepest call chains end here, and a small device stack pays for every frame.
 */
function encryptBlock(w: Uint8Array, s: Uint8Array, state: Uint8Array, at: number, t: Uint8Array): void {
  const rounds = w.length / 16 - 1;
  for (let i = 0; i < 16; i++) state[at + i] ^= w[i];
  for (let round = 1; round <= rounds; round++) {
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) t[4 * c + r] = s[state[at + 4 * ((c + r) & 3) + r]];
    for (let c = 0; c < 16; c += 4) {
      const a0 = t[c];
      const a1 = t[c + 1];
      const a2 = t[c + 2];
      const a3 = t[c + 3];
      if (round < rounds) {
        const all = a0 ^ a1 ^ a2 ^ a3;
        t[c] = a0 ^ all ^ xtime(a0 ^ a1);
        t[c + 1] = a1 ^ all ^ xtime(a1 ^ a2);
        t[c + 2] = a2 ^ all ^ xtime(a2 ^ a3);
        t[c + 3] = a3 ^ all ^ xtime(a3 ^ a0);
      }
    }
    for (let i = 0; i < 16; i++) state[at + i] = t[i] ^ w[16 * round + i];
  }
}

/** §5.3 InvCipher, in place, written out as encryptBlock is (InvShiftRows, InvSubBytes, AddRoundKey, InvMixColumns). */
function decryptBlock(w: Uint8Array, inv: Uint8Array, state: Uint8Array, at: number, t: Uint8Array): void {
  const rounds = w.length / 16 - 1;
  for (let i = 0; i < 16; i++) t[i] = state[at + i] ^ w[16 * rounds + i];
  for (let round = rounds - 1; round >= 0; round--) {
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) state[at + 4 * ((c + r) & 3) + r] = inv[t[4 * c + r]];
    for (let i = 0; i < 16; i++) t[i] = state[at + i] ^ w[16 * round + i];
    if (round > 0) {
      for (let c = 0; c < 16; c += 4) {
        const a0 = t[c];
        const a1 = t[c + 1];
        const a2 = t[c + 2];
        const a3 = t[c + 3];
        t[c] = mul(a0, 14) ^ mul(a1, 11) ^ mul(a2, 13) ^ mul(a3, 9);
        t[c + 1] = mul(a0, 9) ^ mul(a1, 14) ^ mul(a2, 11) ^ mul(a3, 13);
        t[c + 2] = mul(a0, 13) ^ mul(a1, 9) ^ mul(a2, 14) ^ mul(a3, 11);
        t[c + 3] = mul(a0, 11) ^ mul(a1, 13) ^ mul(a2, 9) ^ mul(a3, 14);
      }
    }
  }
  state.set(t, at);
}

/**
 * ECB or CBC (SP 800-38A §6.1, §6.2) over a copy of `data`, one block at a time; `iv` present
 * means CBC. The round keys and the scratch block are wiped before returning.
 */
function run(key: Uint8Array, data: Uint8Array, decrypt: boolean, iv?: Uint8Array): Uint8Array {
  const [s, inv] = sboxes();
  const w = expandKey(key, s);
  const out = data.slice();
  const t = new Uint8Array(16);
  const chain = iv ? iv.slice() : undefined;
  const next = new Uint8Array(16);
  for (let at = 0; at < out.length; at += 16) {
    if (decrypt) {
      if (chain) next.set(out.subarray(at, at + 16));
      decryptBlock(w, inv, out, at, t);
      if (chain) {
        for (let i = 0; i < 16; i++) out[at + i] ^= chain[i];
        chain.set(next);
      }
    } else {
      if (chain) for (let i = 0; i < 16; i++) out[at + i] ^= chain[i];
      encryptBlock(w, s, out, at, t);
      if (chain) chain.set(out.subarray(at, at + 16));
    }
  }
  w.fill(0);
  t.fill(0);
  next.fill(0);
  return out;
}

export function aesEncryptEcb(key: Uint8Array, data: Uint8Array): Uint8Array {
  return run(key, data, false);
}

export function aesDecryptEcb(key: Uint8Array, data: Uint8Array): Uint8Array {
  return run(key, data, true);
}

/** SP 800-38A §6.2: C_i = E(P_i xor C_(i-1)), C_0 = IV. */
export function aesEncryptCbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return run(key, data, false, iv);
}

/** SP 800-38A §6.2: P_i = D(C_i) xor C_(i-1). */
export function aesDecryptCbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return run(key, data, true, iv);
}
