/**
 * TLS settings for every paypad HTTPS listener (MTMS, each KMS): the paypad CA as the only trust
 * anchor for clients, TLS 1.2 at least, and the one suite the PIN pad's TLS speaks.
 *
 * Moddable's TLS (modules/crypt/ssl) stops at TLS 1.2 and, of the ECDSA suites, offers only
 * TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (RFC 5289 §3.2) on P-256: that suite and the P-256
 * group must stay available. The other suites are AEAD with ECDHE only (forward secrecy).
 *
 * Client certificates: requestCert asks every client for one, but rejectUnauthorized is false,
 * on purpose. A KMS listener also serves PIN pads, which authenticate with MACs and have no
 * certificate (docs/key-loading.md), and a client with a bad certificate gets a typed JSON error
 * (requireClientCert) instead of a bare handshake reset it cannot explain. The price: every route
 * that needs a certificate must be behind requireClientCert; routes without it are open to any
 * TLS client.
 */
import type { ServerOptions } from 'node:https';
import type { TlsIdentity } from './identity';

export const TLS_MIN_VERSION = 'TLSv1.2';

/** OpenSSL names; TLS 1.3 suites (TLS_*) then TLS 1.2, the Moddable suite first among those. */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
].join(':');

/** ECDHE groups: P-256 (secp256r1) for the PIN pad, X25519 for everyone else. */
export const TLS_ECDH_CURVES = 'X25519:P-256';

export function serverTlsOptions(identity: TlsIdentity): ServerOptions {
  return {
    cert: identity.certPem,
    key: identity.keyPem,
    ca: [identity.caPem],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: TLS_MIN_VERSION,
    ciphers: TLS_CIPHERS,
    ecdhCurve: TLS_ECDH_CURVES,
    honorCipherOrder: true,
  };
}
