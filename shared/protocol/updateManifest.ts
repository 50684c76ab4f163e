/**
 * The program package's manifest (SPEC B4; docs/updates.md "Packages"): what the vendor signs about
 * an image, and the checks a terminal makes before it switches to it.
 *
 * The manifest is JSON, carried as the exact bytes the vendor signed (hex in `manifest`), so no
 * re-encoding ever stands between the signature and what is read. The signature is ECDSA P-256 with
 * SHA-256 (FIPS 186-5; r || s, IEEE P1363) over
 *
 *   "PAYPAD-UPDATE-MANIFEST-1\n" || manifest bytes
 *
 * under the vendor key named by `keyId` (the first 8 bytes of SHA-256 of its SEC 1 public key), one of
 * the public keys the firmware is built with. As in TUF's targets metadata (TUF specification
 * §5.5), the manifest carries its own `metadataVersion` (never lower than one the terminal accepted
 * before for that program: a replayed older answer) and `expires` (a frozen answer grows stale),
 * beside the image's name, version, target models, size, SHA-256, the minimum installed version it
 * may replace and its security counter (MCUboot's downgrade-prevention counter: never lower than
 * the terminal's).
 *
 * The package's identity in a session (shared/protocol/updateAuth context) is the SHA-256 of the
 * manifest bytes: `packageDigest`.
 * Runs in XS: no Node APIs.
 */
import { concatBytes, fromHex, toHex, utf8ToBytes } from '../bytes';
import { signP256Sha256, verifyP256Sha256 } from '../crypto/ecdsa';
import { sha256 } from '../crypto/primitives';
import { PaypadError } from '../errors';
import { signatureHex } from './fields';
import { compareVersions, programName, programVersion, terminalModel } from './updateVersion';
import { type Infer, array, decodeJson, encodeJson, hex, integer, object, string, version } from './validate';

export const MANIFEST_VERSION = 1;
export const MANIFEST_SIGNATURE_TAG = 'PAYPAD-UPDATE-MANIFEST-1\n';
/** A manifest is a few hundred bytes; more is refused before it is parsed. */
export const MANIFEST_MAX_BYTES = 1024;
/** Two ESP32 app slots of 1.94 MB fit in 4 MB of flash; 16 MiB bounds any board's slot. */
export const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
export const MAX_SECURITY_COUNTER = 0x7fffffff;
export const VENDOR_KEY_ID_BYTES = 8;

/** ISO 8601 UTC to the second, e.g. 2027-01-31T00:00:00Z: one text per instant, parsed alike by Node and XS. */
export const utcTimestamp = string({
  min: 20,
  max: 20,
  pattern: /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$/,
  describe: 'a UTC time as YYYY-MM-DDTHH:MM:SSZ',
});

export const manifestSchema = object({
  v: version(MANIFEST_VERSION),
  name: programName,
  version: programVersion,
  models: array(terminalModel, 1, 16),
  size: integer(1, MAX_IMAGE_BYTES),
  sha256: hex(32, 32),
  minimumVersion: programVersion,
  securityCounter: integer(0, MAX_SECURITY_COUNTER),
  metadataVersion: integer(1, Number.MAX_SAFE_INTEGER),
  expires: utcTimestamp,
});
export type Manifest = Infer<typeof manifestSchema>;

/** A manifest as it travels: its signed bytes (hex), the signing key's id and the signature. */
export const signedManifestSchema = object({
  manifest: hex(2, MANIFEST_MAX_BYTES),
  keyId: hex(VENDOR_KEY_ID_BYTES, VENDOR_KEY_ID_BYTES),
  signature: signatureHex,
});
export type SignedManifest = Infer<typeof signedManifestSchema>;

/** A manifest whose signature verified, with the digest that names its package in a session. */
export interface OpenedManifest {
  readonly manifest: Manifest;
  /** SHA-256 of the signed manifest bytes, 64 uppercase hex digits. */
  readonly packageDigest: string;
}

/** What the terminal holds that a manifest is checked against. */
export interface InstalledProgram {
  readonly model: string;
  /** The running program's version (installed). */
  readonly version: string;
  /** The highest security counter of any program this terminal confirmed (0 at manufacture). */
  readonly securityCounter: number;
  /** The highest metadataVersion this terminal accepted for the program (0 when none). */
  readonly metadataVersion: number;
}

/** The first 8 bytes of SHA-256 of the SEC 1 public key, hex. */
export function vendorKeyId(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey).subarray(0, VENDOR_KEY_ID_BYTES));
}

function signingInput(manifestBytes: Uint8Array): Uint8Array {
  return concatBytes(utf8ToBytes(MANIFEST_SIGNATURE_TAG), manifestBytes);
}

/** The vendor's side (`paypad tms package`): the manifest validated, encoded and signed. */
export function signManifest(manifest: Manifest, privateKey: Uint8Array, publicKey: Uint8Array): SignedManifest {
  const bytes = encodeJson(manifestSchema(manifest, 'manifest'));
  if (bytes.length > MANIFEST_MAX_BYTES) throw new PaypadError('PROTOCOL_MALFORMED', `manifest: ${bytes.length} bytes exceed ${MANIFEST_MAX_BYTES}`);
  return { manifest: toHex(bytes), keyId: vendorKeyId(publicKey), signature: toHex(signP256Sha256(privateKey, signingInput(bytes))) };
}

/**
 * UPDATE_SIGNATURE_INVALID unless one of `vendorKeys` (SEC 1 public keys) signed the manifest; then
 * the manifest parsed and validated (PROTOCOL_MALFORMED). The signature is checked before a byte of
 * the manifest is parsed.
 */
export function openSignedManifest(signed: SignedManifest, vendorKeys: readonly Uint8Array[]): OpenedManifest {
  const checked = signedManifestSchema(signed, 'signedManifest');
  const bytes = fromHex(checked.manifest);
  let key: Uint8Array | undefined;
  for (const candidate of vendorKeys) if (vendorKeyId(candidate) === checked.keyId) key = candidate;
  if (key === undefined) throw new PaypadError('UPDATE_SIGNATURE_INVALID', 'manifest: signed by a key this terminal does not trust');
  const input = signingInput(bytes);
  if (!verifyP256Sha256(key, input, fromHex(checked.signature))) throw new PaypadError('UPDATE_SIGNATURE_INVALID', "manifest: the signature is not the vendor's");
  const manifest = decodeJson(bytes, MANIFEST_MAX_BYTES, manifestSchema, 'manifest');
  return { manifest, packageDigest: toHex(sha256(bytes)) };
}

/**
 * The checks before a download starts and again before the switch (SPEC B4): the terminal's
 * model, a version above the installed one, the installed one at least the package's minimum, a
 * security counter no lower than the terminal's, metadata not older than accepted before and not
 * expired at `nowMs`. Each refusal has its own code (shared/protocol/updateCodes).
 */
export function checkManifestFor(manifest: Manifest, installed: InstalledProgram, nowMs: number): void {
  if (!manifest.models.includes(installed.model)) throw new PaypadError('UPDATE_MODEL_MISMATCH', `package ${manifest.name} ${manifest.version} is not for model ${installed.model}`);
  if (compareVersions(manifest.version, installed.version) <= 0) {
    throw new PaypadError('UPDATE_DOWNGRADE', `package version ${manifest.version} is not above the installed ${installed.version}`);
  }
  if (compareVersions(installed.version, manifest.minimumVersion) < 0) {
    throw new PaypadError('UPDATE_DOWNGRADE', `installed version ${installed.version} is below the package's minimum ${manifest.minimumVersion}`);
  }
  if (manifest.securityCounter < installed.securityCounter) {
    throw new PaypadError('UPDATE_SECURITY_COUNTER', `security counter ${manifest.securityCounter} is below the terminal's ${installed.securityCounter}`);
  }
  if (manifest.metadataVersion < installed.metadataVersion) {
    throw new PaypadError('UPDATE_METADATA_ROLLBACK', `metadata version ${manifest.metadataVersion} is older than the accepted ${installed.metadataVersion}`);
  }
  if (!(Date.parse(manifest.expires) > nowMs)) throw new PaypadError('UPDATE_METADATA_EXPIRED', `package metadata expired at ${manifest.expires}`);
}
