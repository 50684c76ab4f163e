/**
 * A P-256 private key as the payload of a TR-31 block: the DER ECPrivateKey of RFC 5915 §3 (SEC 1
 * v2 §C.4), the form X9.143 carries asymmetric keys in, with the curve and the public key included
 * so the stored key names its curve and the handle's fingerprint comes from the block itself.
 *
 *   ECPrivateKey ::= SEQUENCE {
 *     version        INTEGER { ecPrivkeyVer1(1) },
 *     privateKey     OCTET STRING,                -- 32 bytes for P-256
 *     parameters [0] ECParameters OPTIONAL,       -- namedCurve prime256v1, 1.2.840.10045.3.1.7
 *     publicKey  [1] BIT STRING OPTIONAL }        -- uncompressed SEC 1 point, 65 bytes
 *
 * For P-256 with every field present each length is fixed, so the encoding is one template of
 * 121 bytes and decoding checks the template byte for byte: nothing else is accepted.
 */
import { P256_PRIVATE_KEY_BYTES, P256_PUBLIC_KEY_BYTES } from '../../shared/crypto/keyTransport';
import { PaypadError } from '../../shared/errors';

/** SEQUENCE (119 bytes) { INTEGER 1, OCTET STRING (32 bytes) ... */
const HEAD = Uint8Array.of(0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20);
/** ... [0] { OID prime256v1 }, [1] { BIT STRING (66 bytes, 0 unused bits) ... */
const MIDDLE = Uint8Array.of(0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0xa1, 0x44, 0x03, 0x42, 0x00);

const PRIVATE_AT = HEAD.length;
const MIDDLE_AT = PRIVATE_AT + P256_PRIVATE_KEY_BYTES;
const PUBLIC_AT = MIDDLE_AT + MIDDLE.length;
export const P256_EC_PRIVATE_KEY_DER_BYTES = PUBLIC_AT + P256_PUBLIC_KEY_BYTES;

export interface P256PrivateKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** The DER ECPrivateKey of a P-256 key pair. The caller wipes the result. */
export function encodeP256PrivateKey(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (privateKey.length !== P256_PRIVATE_KEY_BYTES || publicKey.length !== P256_PUBLIC_KEY_BYTES || publicKey[0] !== 0x04) {
    throw new PaypadError('BAD_LENGTH', 'P-256 key pair: expected a 32-byte private key and a 65-byte uncompressed public key');
  }
  const der = new Uint8Array(P256_EC_PRIVATE_KEY_DER_BYTES);
  der.set(HEAD);
  der.set(privateKey, PRIVATE_AT);
  der.set(MIDDLE, MIDDLE_AT);
  der.set(publicKey, PUBLIC_AT);
  return der;
}

/**
 * The key pair in `der`, copied out (the caller wipes `privateKey`). HSM_HANDLE_INVALID unless
 * `der` is exactly the template: the block it came from was authentic, so anything else means a
 * handle that does not hold a P-256 intake key.
 */
export function decodeP256PrivateKey(der: Uint8Array): P256PrivateKey {
  let matches = der.length === P256_EC_PRIVATE_KEY_DER_BYTES;
  for (let i = 0; matches && i < HEAD.length; i++) matches = der[i] === HEAD[i];
  for (let i = 0; matches && i < MIDDLE.length; i++) matches = der[MIDDLE_AT + i] === MIDDLE[i];
  if (!matches || der[PUBLIC_AT] !== 0x04) {
    throw new PaypadError('HSM_HANDLE_INVALID', 'the key block does not hold a P-256 private key (RFC 5915 ECPrivateKey)');
  }
  return { privateKey: der.slice(PRIVATE_AT, MIDDLE_AT), publicKey: der.slice(PUBLIC_AT) };
}
