/**
 * What a PIN pad is given once, at manufacture, and keeps for life (docs/key-loading.md "Parties"):
 *
 *   serial        printed on the label; the operator reads it over the local link (A2)
 *   MTMS key      MTMS's intake public key (P-256), pinned: the TK is only ever wrapped for it (A10)
 *   KMS URL       https://host[:port] of the customer's KMS, for TMK download and sign-on (A11, A12)
 *   trust anchor  the paypad CA certificate (DER) the KMS's TLS certificate must chain to
 *
 * Pinning the MTMS key at manufacture, rather than asking for it over the local link, is what
 * keeps a rogue operating terminal from getting the TK wrapped for a key of its own (A8, A10).
 *
 * Kept in HAL Storage namespace TERMINAL_NAMESPACE: 'ca' (the DER) first, then 'identity' (JSON),
 * so the presence of 'identity' means manufacture finished. Nothing here is secret.
 * Runs in XS: no Node APIs.
 */
import { P256_PUBLIC_KEY_BYTES, assertPublicKey } from 'shared/crypto/keyTransport';
import { fromHex, toHex } from 'shared/bytes';
import { PaypadError, isPaypadError } from 'shared/errors';
import { serial as serialField } from 'shared/protocol/fields';
import { type Infer, decodeJson, encodeJson, hex, object, string, version } from 'shared/protocol/validate';
import { STORAGE_VALUE_MAX, type Storage } from '../hal/storage';

/** The public-key check value lives with the other check values; re-exported for the terminal's callers. */
export { publicKeyCheckValue } from 'shared/protocol/publicKeyCheck';

/** The Storage namespace of the terminal application (identity and key-loading state). */
export const TERMINAL_NAMESPACE = 'terminal';
const IDENTITY_KEY = 'identity';
const TRUST_ANCHOR_KEY = 'ca';
const IDENTITY_VERSION = 1;

export interface TerminalIdentity {
  readonly serial: string;
  /** MTMS's intake public key, an uncompressed SEC 1 P-256 point (65 bytes). */
  readonly mtmsPublicKey: Uint8Array;
  /** https://host[:port], no path: request paths are the protocol's own (kmsClient.ts). */
  readonly kmsUrl: string;
  /** DER X.509 certificate of the paypad CA. */
  readonly trustAnchor: Uint8Array;
}

/**
 * An origin only. The MAC covers the request path as the KMS receives it (macEnvelope), so a
 * path prefix that a proxy strips would break every MAC; a DNS name or IPv4, as the device's
 * HTTP client resolves (hal/moddable/httpRequest).
 */
const kmsUrl = string({
  min: 12,
  max: 270,
  pattern: /^https:\/\/[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[1-9][0-9]{0,4})?$/,
  describe: 'https://host[:port] without a path',
});

const identityRecord = object({
  v: version(IDENTITY_VERSION),
  serial: serialField,
  mtmsKey: hex(P256_PUBLIC_KEY_BYTES, P256_PUBLIC_KEY_BYTES),
  kmsUrl,
});
type IdentityRecord = Infer<typeof identityRecord>;

function checkKmsUrl(url: unknown): string {
  const checked = kmsUrl(url, 'KMS URL');
  const port = /:(\d+)$/.exec(checked);
  if (port && Number(port[1]) > 65535) throw new PaypadError('PROTOCOL_MALFORMED', 'KMS URL: port out of range');
  return checked;
}

/** PUBLIC_KEY_INVALID unless `key` is an uncompressed P-256 point on the curve (SP 800-56A r3 §5.6.2.3.3). */
function checkMtmsPublicKey(key: unknown): Uint8Array {
  assertPublicKey(key as Uint8Array, 'MTMS intake public key');
  return (key as Uint8Array).slice();
}

/** A DER SEQUENCE that fits one Storage value; the certificate itself is for TLS to check. */
function checkTrustAnchor(der: unknown): Uint8Array {
  if (!(der instanceof Uint8Array) || der.length < 2 || der[0] !== 0x30 || der.length > STORAGE_VALUE_MAX) {
    throw new PaypadError('BAD_ARGUMENT', `trust anchor: expected a DER certificate of at most ${STORAGE_VALUE_MAX} bytes`);
  }
  return der.slice();
}

/**
 * Manufacture: validates and stores the identity. TERMINAL_ALREADY_INITIALIZED if one is there:
 * a terminal's serial and pinned keys never change in the field.
 */
export function provisionTerminal(storage: Storage, identity: TerminalIdentity): TerminalIdentity {
  if (storage.get(TERMINAL_NAMESPACE, IDENTITY_KEY) !== undefined) {
    throw new PaypadError('TERMINAL_ALREADY_INITIALIZED', 'this terminal already has its serial, MTMS key and KMS URL');
  }
  let checked: TerminalIdentity;
  try {
    checked = {
      serial: serialField(identity.serial, 'serial'),
      mtmsPublicKey: checkMtmsPublicKey(identity.mtmsPublicKey),
      kmsUrl: checkKmsUrl(identity.kmsUrl),
      trustAnchor: checkTrustAnchor(identity.trustAnchor),
    };
  } catch (e) {
    // The field rules speak protocol (PROTOCOL_MALFORMED); here they check the caller's arguments.
    if (isPaypadError(e, 'PROTOCOL_MALFORMED')) throw new PaypadError('BAD_ARGUMENT', e.message);
    throw e;
  }
  const record: IdentityRecord = { v: IDENTITY_VERSION, serial: checked.serial, mtmsKey: toHex(checked.mtmsPublicKey), kmsUrl: checked.kmsUrl };
  storage.set(TERMINAL_NAMESPACE, TRUST_ANCHOR_KEY, checked.trustAnchor);
  storage.set(TERMINAL_NAMESPACE, IDENTITY_KEY, encodeJson(record));
  return checked;
}

function corrupt(what: string): PaypadError {
  return new PaypadError('STORAGE_CORRUPT', `terminal identity: ${what}; the terminal must be manufactured again`);
}

/** The stored identity. TERMINAL_NOT_INITIALIZED before manufacture, STORAGE_CORRUPT if it does not read back. */
export function loadTerminalIdentity(storage: Storage): TerminalIdentity {
  const bytes = storage.get(TERMINAL_NAMESPACE, IDENTITY_KEY);
  if (bytes === undefined) {
    throw new PaypadError('TERMINAL_NOT_INITIALIZED', 'this terminal has no serial yet: it must be manufactured (paypad terminal init)');
  }
  let record: IdentityRecord;
  try {
    record = decodeJson(bytes, STORAGE_VALUE_MAX, identityRecord, 'identity');
    checkKmsUrl(record.kmsUrl);
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    throw corrupt(`the stored record does not validate (${e.code})`);
  }
  const trustAnchor = storage.get(TERMINAL_NAMESPACE, TRUST_ANCHOR_KEY);
  if (trustAnchor === undefined) throw corrupt('the CA certificate is missing');
  let mtmsPublicKey: Uint8Array;
  try {
    mtmsPublicKey = checkMtmsPublicKey(fromHex(record.mtmsKey, 'MTMS key'));
    checkTrustAnchor(trustAnchor);
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    throw corrupt(`a stored key or certificate does not validate (${e.code})`);
  }
  return { serial: record.serial, mtmsPublicKey, kmsUrl: record.kmsUrl, trustAnchor };
}
