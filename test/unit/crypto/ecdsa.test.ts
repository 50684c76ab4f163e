/**
 * HMAC-SHA-256 against RFC 4231 and ECDSA P-256/SHA-256 with RFC 6979 nonces against RFC 6979
 * Appendix A.2.5 (byte for byte) and OpenSSL's verifier (node:crypto).
 */
import { createHmac, createPublicKey, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../shared/bytes';
import { signP256Sha256 } from '../../../shared/crypto/ecdsa';
import { hmacSha256 } from '../../../shared/crypto/hmac';
import { bigIntToBytes, P256_N, p256PrivateKeyFromSeed } from '../../../shared/crypto/p256';
import { p256PublicKey } from '../../../shared/crypto/primitives';

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** An uncompressed P-256 point as a node KeyObject (SPKI DER: the fixed prefix, then the point). */
function publicKeyObject(point: Uint8Array) {
  const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), point]);
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

describe('HMAC-SHA-256 (RFC 4231)', () => {
  it('test cases 1, 2, 6 (a key longer than the block) and random keys against OpenSSL', () => {
    expect(toHex(hmacSha256(new Uint8Array(20).fill(0x0b), ascii('Hi There')))).toBe('B0344C61D8DB38535CA8AFCEAF0BF12B881DC200C9833DA726E9376C2E32CFF7');
    expect(toHex(hmacSha256(ascii('Jefe'), ascii('what do ya want for nothing?')))).toBe('5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843');
    expect(toHex(hmacSha256(new Uint8Array(131).fill(0xaa), ascii('Test Using Larger Than Block-Size Key - Hash Key First')))).toBe(
      '60E431591EE0B67F0D8A26AACBF5B77F8E0BC6213728C5140546040F0EE37F54',
    );
    for (let i = 0; i < 50; i++) {
      const key = randomBytes(i * 3), data = randomBytes(i * 7);
      expect(toHex(hmacSha256(key, data))).toBe(createHmac('sha256', key).update(data).digest('hex').toUpperCase());
    }
  });
});

describe('ECDSA P-256 / SHA-256 with RFC 6979 nonces', () => {
  const x = fromHex('C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721');

  it('RFC 6979 A.2.5: the key pair and the signatures of "sample" and "test", byte for byte', () => {
    expect(toHex(p256PublicKey(x))).toBe(
      '04' + '60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6' + '7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299',
    );
    expect(toHex(signP256Sha256(x, ascii('sample')))).toBe(
      'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716' + 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
    );
    expect(toHex(signP256Sha256(x, ascii('test')))).toBe(
      'F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367' + '019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083',
    );
  });

  it('OpenSSL verifies signatures of random keys and messages, and refuses a flipped bit', () => {
    for (let i = 0; i < 10; i++) {
      const key = p256PrivateKeyFromSeed(randomBytes(48));
      const message = randomBytes(1 + i * 37);
      const signature = signP256Sha256(key, message);
      const publicKey = publicKeyObject(p256PublicKey(key));
      expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
      const tampered = Buffer.from(signature);
      tampered[i] ^= 1;
      expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, tampered)).toBe(false);
    }
  });

  it('refuses keys that are not scalars in [1, n-1] with typed errors', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'none';
    };
    expect(code(() => signP256Sha256(new Uint8Array(31), ascii('m')))).toBe('KEY_LENGTH');
    expect(code(() => signP256Sha256(new Uint8Array(32), ascii('m')))).toBe('BAD_ARGUMENT');
    expect(code(() => signP256Sha256(bigIntToBytes(P256_N, 32), ascii('m')))).toBe('BAD_ARGUMENT');
  });
});
