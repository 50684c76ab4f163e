/**
 * ECDSA P-256 / SHA-256 verification (shared/crypto/ecdsa.ts verifyP256Sha256, FIPS 186-5 §6.4.2):
 * the published vectors of test/vectors/ecdsaP256Verify.json, and agreement with OpenSSL's signer
 * (node:crypto) on random keys and messages, including a flipped bit. The incremental SHA-256 of
 * the primitive seam (images hashed in parts) against OpenSSL on every split.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../shared/bytes';
import { verifyP256Sha256 } from '../../../shared/crypto/ecdsa';
import { createSha256 } from '../../../shared/crypto/primitives';

const file = JSON.parse(readFileSync(new URL('../../vectors/ecdsaP256Verify.json', import.meta.url), 'utf8')) as {
  vectors: { name: string; publicKey: string; message: string; signature: string; valid: boolean }[];
};

describe('ECDSA P-256 / SHA-256 verification', () => {
  for (const v of file.vectors) {
    it(`${v.name}: ${v.valid ? 'verifies' : 'refused'}`, () => {
      expect(verifyP256Sha256(fromHex(v.publicKey), fromHex(v.message), fromHex(v.signature))).toBe(v.valid);
    });
  }

  it("OpenSSL's signatures verify; one flipped bit of message or signature does not", () => {
    for (let i = 0; i < 8; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const point = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-65));
      const message = new Uint8Array(randomBytes(1 + i * 53));
      const signature = new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
      expect(verifyP256Sha256(point, message, signature)).toBe(true);
      const tampered = signature.slice();
      tampered[i * 7] ^= 0x80;
      expect(verifyP256Sha256(point, message, tampered)).toBe(false);
      const other = message.slice();
      other[0] ^= 1;
      expect(verifyP256Sha256(point, other, signature)).toBe(false);
    }
  });

  it('a wrong-length signature is refused; a public key off the curve is PUBLIC_KEY_INVALID', () => {
    const v = file.vectors[0];
    expect(verifyP256Sha256(fromHex(v.publicKey), fromHex(v.message), fromHex(v.signature).subarray(1))).toBe(false);
    const offCurve = fromHex(v.publicKey);
    offCurve[64] ^= 1;
    expect(() => verifyP256Sha256(offCurve, fromHex(v.message), fromHex(v.signature))).toThrow(expect.objectContaining({ code: 'PUBLIC_KEY_INVALID' }));
  });
});

describe('SHA-256 in parts (the seam\'s createSha256)', () => {
  it('equals OpenSSL for every split of messages around the block boundaries', () => {
    for (const length of [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000]) {
      const data = new Uint8Array(randomBytes(length));
      const expected = createHash('sha256').update(data).digest('hex').toUpperCase();
      for (let split = 0; split <= length; split += Math.max(1, Math.floor(length / 7))) {
        const hash = createSha256();
        hash.update(data.subarray(0, split));
        hash.update(data.subarray(split, split + 3));
        hash.update(data.subarray(split + 3));
        expect(toHex(hash.digest())).toBe(expected);
      }
    }
  });
});
