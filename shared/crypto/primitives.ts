/**
 * The crypto-primitive seam: the few operations everything in shared/crypto is built from.
 *
 *   AES (FIPS 197) in ECB and CBC (SP 800-38A), unpadded, whole blocks
 *   SHA-256 (FIPS 180-4), of one message or of one given in parts
 *   P-256 (FIPS 186-5): public key from a private key, the ECC CDH shared x-coordinate, and a
 *   scalar times a point (the second half of ECDSA verification)
 *
 * Callers check their inputs before they get here (key lengths, IVs, whole blocks, validated
 * points and scalars, in shared/crypto/aes and shared/crypto/p256), so an implementation only
 * computes. This module is the compact implementation used in Node and in the XS test engine:
 * no tables at import, a few hundred bytes of state on first use. The device build puts
 * Moddable's native crypto (C, outside the JS heap) in its place under this same module name
 * (manifest.json; firmware/hal/moddable/nativePrimitives.ts), and tsc holds that module to
 * this one's exports.
 */
export { aesDecryptCbc, aesDecryptEcb, aesEncryptCbc, aesEncryptEcb } from './compact/aes';
export { p256Multiply, p256PublicKey, p256SharedSecretX } from './compact/p256';
export { type Sha256Hash, createSha256, sha256 } from './compact/sha256';
