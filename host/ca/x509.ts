/**
 * The one place that loads @peculiar/x509. The library decorates its ASN.1 schemas with
 * reflect-metadata, which must be loaded before it, and it needs a WebCrypto provider: Node's.
 * Everything in the host that builds or parses certificates imports `x509` from here.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

// Node's WebCrypto types by their DOM names (the Node-side tsconfig has no DOM lib).
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;

/** ECDSA over P-256 with SHA-256 (RFC 5758 §3.2): the only suite Moddable's TLS 1.2 speaks. */
export const EC_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export const subtle = webcrypto.subtle;
/** RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2): the keys merchants and the bill platform sign with. */
export const RSA_SIGNING_ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
