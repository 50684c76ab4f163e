/**
 * P-256 point arithmetic on BigInt for a small heap: Jacobian coordinates, a Montgomery ladder
 * (the same add and double for every key bit, whatever its value), no precomputed tables. Behind
 * shared/crypto/primitives in Node and in the XS test engine; the device build uses Moddable's
 * native elliptic-curve code instead. Callers have validated keys and points (shared/crypto/p256).
 */
import { type AffinePoint, bytesToBigInt, bigIntToBytes, decodeP256Point, encodeP256Point, P256_GX, P256_GY, P256_P, powMod } from '../p256';

/** Jacobian (X, Y, Z) for the affine point (X/Z^2, Y/Z^3); Z = 0 is the point at infinity. */
interface Jacobian {
  x: bigint;
  y: bigint;
  z: bigint;
}

const INFINITY: Jacobian = { x: 1n, y: 1n, z: 0n };

function mod(a: bigint): bigint {
  const r = a % P256_P;
  return r < 0n ? r + P256_P : r;
}

/** dbl-2001-b (a = -3), Bernstein-Lange Explicit-Formulas Database. */
function double(q: Jacobian): Jacobian {
  if (q.z === 0n || q.y === 0n) return INFINITY;
  const delta = mod(q.z * q.z);
  const gamma = mod(q.y * q.y);
  const beta = mod(q.x * gamma);
  const alpha = mod(3n * (q.x - delta) * (q.x + delta));
  const x = mod(alpha * alpha - 8n * beta);
  const z = mod((q.y + q.z) * (q.y + q.z) - gamma - delta);
  const y = mod(alpha * (4n * beta - x) - 8n * gamma * gamma);
  return { x, y, z };
}

/** add-2007-bl, with the doubling and inverse cases it excludes. */
function add(a: Jacobian, b: Jacobian): Jacobian {
  if (a.z === 0n) return b;
  if (b.z === 0n) return a;
  const z1z1 = mod(a.z * a.z);
  const z2z2 = mod(b.z * b.z);
  const u1 = mod(a.x * z2z2);
  const u2 = mod(b.x * z1z1);
  const s1 = mod(a.y * b.z * z2z2);
  const s2 = mod(b.y * a.z * z1z1);
  const h = mod(u2 - u1);
  const r = mod(2n * (s2 - s1));
  if (h === 0n) return r === 0n ? double(a) : INFINITY;
  const i = mod(4n * h * h);
  const j = mod(h * i);
  const v = mod(u1 * i);
  const x = mod(r * r - j - 2n * v);
  const y = mod(r * (v - x) - 2n * s1 * j);
  const z = mod(((a.z + b.z) * (a.z + b.z) - z1z1 - z2z2) * h);
  return { x, y, z };
}

/** k * point by a Montgomery ladder over all 256 bits of k. */
function multiply(point: AffinePoint, k: bigint): Jacobian {
  let r0 = INFINITY;
  let r1: Jacobian = { x: point.x, y: point.y, z: 1n };
  for (let i = 255n; i >= 0n; i--) {
    if ((k >> i) & 1n) {
      r0 = add(r0, r1);
      r1 = double(r1);
    } else {
      r1 = add(r0, r1);
      r0 = double(r0);
    }
  }
  return r0;
}

/** Affine coordinates; null for the point at infinity. z^-1 = z^(p-2) (Fermat). */
function toAffine(q: Jacobian): AffinePoint | null {
  if (q.z === 0n) return null;
  const zInverse = powMod(q.z, P256_P - 2n, P256_P);
  const zInverse2 = mod(zInverse * zInverse);
  return { x: mod(q.x * zInverse2), y: mod(q.y * zInverse2 * zInverse) };
}

/** Q = d * G, SEC 1 uncompressed (65 bytes). */
export function p256PublicKey(privateKey: Uint8Array): Uint8Array {
  const q = toAffine(multiply({ x: P256_GX, y: P256_GY }, bytesToBigInt(privateKey)));
  if (!q) throw new RangeError('P-256: private key is not a scalar in [1, n-1]');
  return encodeP256Point(q);
}

/** SP 800-56A r3 §5.7.1.2 ECC CDH primitive: Z = x-coordinate of d * Q (32 bytes). */
export function p256SharedSecretX(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const peer = decodeP256Point(publicKey);
  const shared = peer && toAffine(multiply(peer, bytesToBigInt(privateKey)));
  if (!shared) throw new RangeError('P-256: the shared point is the point at infinity');
  return bigIntToBytes(shared.x, 32);
}

/** k * Q for a validated point Q and a scalar k in [1, n-1], SEC 1 uncompressed (ECDSA verification's u2 * Q). */
export function p256Multiply(scalar: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const point = decodeP256Point(publicKey);
  const product = point && toAffine(multiply(point, bytesToBigInt(scalar)));
  if (!product) throw new RangeError('P-256: the product is the point at infinity');
  return encodeP256Point(product);
}
