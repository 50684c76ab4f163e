/**
 * The RFC 5915 ECPrivateKey template the software HSM stores intake keys in, checked against
 * OpenSSL's own SEC 1 DER encoder (node:crypto) as the independent reference.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/bytes';
import { generateP256KeyPair } from '../../../shared/crypto/keyTransport';
import { P256_EC_PRIVATE_KEY_DER_BYTES, decodeP256PrivateKey, encodeP256PrivateKey } from '../../../host/hsm/ecPrivateKey';
import { expectCode, rng } from './hsmTestKit';

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

describe('P-256 ECPrivateKey (RFC 5915 §3)', () => {
  it('encodes byte for byte what OpenSSL writes as SEC 1 DER, and decodes back', () => {
    for (let i = 0; i < 8; i++) {
      const { privateKey, publicKey } = generateP256KeyPair(rng);
      const jwk = { kty: 'EC', crv: 'P-256', d: base64url(privateKey), x: base64url(publicKey.subarray(1, 33)), y: base64url(publicKey.subarray(33)) };
      const reference = createPrivateKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'sec1' });
      const der = encodeP256PrivateKey(privateKey, publicKey);
      expect(der.length).toBe(P256_EC_PRIVATE_KEY_DER_BYTES);
      expect(toHex(der)).toBe(toHex(new Uint8Array(reference)));
      const decoded = decodeP256PrivateKey(der);
      expect(toHex(decoded.privateKey)).toBe(toHex(privateKey));
      expect(toHex(decoded.publicKey)).toBe(toHex(publicKey));
    }
  });

  it('a DER key from OpenSSL decodes to the key pair OpenSSL reports', () => {
    const { privateKey, publicKey } = generateP256KeyPair(rng);
    const jwk = { kty: 'EC', crv: 'P-256', d: base64url(privateKey), x: base64url(publicKey.subarray(1, 33)), y: base64url(publicKey.subarray(33)) };
    const der = new Uint8Array(createPrivateKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'sec1' }));
    const raw = createPublicKey(createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'sec1' })).export({ format: 'jwk' });
    const decoded = decodeP256PrivateKey(der);
    expect(base64url(decoded.publicKey.subarray(1, 33))).toBe(raw.x);
    expect(base64url(decoded.privateKey)).toBe(jwk.d);
  });

  it('decodes nothing but the exact template', async () => {
    const { privateKey, publicKey } = generateP256KeyPair(rng);
    const der = encodeP256PrivateKey(privateKey, publicKey);
    await expectCode(() => decodeP256PrivateKey(der.subarray(0, 120)), 'HSM_HANDLE_INVALID');
    await expectCode(() => decodeP256PrivateKey(new Uint8Array(121)), 'HSM_HANDLE_INVALID');
    for (const at of [0, 1, 4, 6, 46, 55, 56]) {
      const changed = der.slice();
      changed[at] ^= 0x01; // version, lengths, curve OID, BIT STRING padding, point prefix
      await expectCode(() => decodeP256PrivateKey(changed), 'HSM_HANDLE_INVALID');
    }
  });

  it('refuses to encode keys of the wrong shape', async () => {
    const { privateKey, publicKey } = generateP256KeyPair(rng);
    await expectCode(() => encodeP256PrivateKey(privateKey.subarray(1), publicKey), 'BAD_LENGTH');
    await expectCode(() => encodeP256PrivateKey(privateKey, publicKey.subarray(0, 33)), 'BAD_LENGTH');
  });
});
