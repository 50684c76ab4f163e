/**
 * Power-up known-answer tests of the crypto primitives, as a PIN pad runs them at start-up
 * (PCI PTS POI: self-tests of the cryptographic functions at initialisation). They catch a
 * primitive that is wired wrongly (a native binding reading the wrong bytes, say) before it
 * touches a key. Vectors: FIPS 197 Appendix C.1, SP 800-38A F.2.1, FIPS 180-4 ("abc"), and
 * P-256 with d = 2 against d = 1 (2G's x-coordinate both as a public key and as ECDH output).
 */
import { constantTimeEqual, fromHex, toHex } from '../bytes';
import { PaypadError } from '../errors';
import { aesDecryptCbc, aesDecryptEcb, aesEncryptCbc, aesEncryptEcb, p256PublicKey, p256SharedSecretX, sha256 } from './primitives';

export function selfTestPrimitives(): void {
  const check = (what: string, got: Uint8Array, expected: string): void => {
    if (!constantTimeEqual(got, fromHex(expected))) throw new PaypadError('CRYPTO_SELF_TEST_FAILED', `crypto self-test: ${what} gave a wrong answer`);
  };
  const key = fromHex('000102030405060708090A0B0C0D0E0F');
  check('AES-128 encrypt', aesEncryptEcb(key, fromHex('00112233445566778899AABBCCDDEEFF')), '69C4E0D86A7B0430D8CDB78070B4C55A');
  check('AES-128 decrypt', aesDecryptEcb(key, fromHex('69C4E0D86A7B0430D8CDB78070B4C55A')), '00112233445566778899AABBCCDDEEFF');
  const cbcKey = fromHex('2B7E151628AED2A6ABF7158809CF4F3C');
  const plain = fromHex('6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E51');
  const cipher = '7649ABAC8119B246CEE98E9B12E9197D5086CB9B507219EE95DB113A917678B2';
  check('AES-CBC encrypt', aesEncryptCbc(cbcKey, key, plain), cipher);
  check('AES-CBC decrypt', aesDecryptCbc(cbcKey, key, fromHex(cipher)), toHex(plain));
  check('SHA-256', sha256(Uint8Array.of(0x61, 0x62, 0x63)), 'BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD');
  const one = new Uint8Array(32);
  one[31] = 1;
  const two = new Uint8Array(32);
  two[31] = 2;
  const twoGx = '7CF27B188D034F7E8A52380304B51AC3C08969E277F21B35A60B48FC47669978';
  check('P-256 public key', p256PublicKey(two), `04${twoGx}07775510DB8ED040293D9AC69F7430DBBA7DADE63CE982299E04B79D227873D1`);
  check('P-256 ECDH', p256SharedSecretX(two, p256PublicKey(one)), twoGx);
}
