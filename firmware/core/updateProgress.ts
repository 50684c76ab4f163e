/**
 * What the terminal keeps in its Storage about program updates (docs/updates.md "On the
 * terminal"), so a power cut or a lost connection at any moment is survived:
 *
 *   update/download   the package being downloaded and how many of its bytes the slot holds
 *                     (written after each chunk reached the slot: a power cut can only make it lag)
 *   update/install    the package switched to, written BEFORE the switch: at the next start it says
 *                     what to report (success once the new program confirmed, 402 after a rollback)
 *   update/accepted   the highest manifest metadataVersion accepted and security counter installed
 *                     (the TUF-style rollback and MCUboot-style downgrade floors)
 * Runs in XS: no Node APIs.
 */
import { PaypadError, isPaypadError } from 'shared/errors';
import { MAX_IMAGE_BYTES, MAX_SECURITY_COUNTER } from 'shared/protocol/updateManifest';
import { packageDigestHex } from 'shared/protocol/updateAuth';
import { deploymentId } from 'shared/protocol/updateMessages';
import { programVersion } from 'shared/protocol/updateVersion';
import { type Infer, type Schema, decodeJson, encodeJson, integer, object } from 'shared/protocol/validate';
import type { Storage } from '../hal/storage';

export const UPDATE_NAMESPACE = 'update';
const RECORD_MAX_BYTES = 512;

const downloadRecord = object({ deployment: deploymentId, packageDigest: packageDigestHex, size: integer(1, MAX_IMAGE_BYTES), written: integer(0, MAX_IMAGE_BYTES) });
const installRecord = object({ deployment: deploymentId, packageDigest: packageDigestHex, version: programVersion, from: programVersion, securityCounter: integer(0, MAX_SECURITY_COUNTER) });
const acceptedRecord = object({ metadataVersion: integer(0, Number.MAX_SAFE_INTEGER), securityCounter: integer(0, MAX_SECURITY_COUNTER) });

export type DownloadProgress = Infer<typeof downloadRecord>;
export type PendingInstall = Infer<typeof installRecord>;
export type AcceptedFloors = Infer<typeof acceptedRecord>;

function read<T>(storage: Storage, key: string, schema: Schema<T>): T | undefined {
  const bytes = storage.get(UPDATE_NAMESPACE, key);
  if (bytes === undefined) return undefined;
  try {
    return decodeJson(bytes, RECORD_MAX_BYTES, schema, key);
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    throw new PaypadError('STORAGE_CORRUPT', `update record ${key} does not read back (${e.code})`);
  }
}

function write<T>(storage: Storage, key: string, schema: Schema<T>, value: T): void {
  storage.set(UPDATE_NAMESPACE, key, encodeJson(schema(value, key)));
}

export function readDownload(storage: Storage): DownloadProgress | undefined {
  return read(storage, 'download', downloadRecord);
}
export function writeDownload(storage: Storage, progress: DownloadProgress): void {
  write(storage, 'download', downloadRecord, progress);
}
export function clearDownload(storage: Storage): void {
  storage.delete(UPDATE_NAMESPACE, 'download');
}

export function readInstall(storage: Storage): PendingInstall | undefined {
  return read(storage, 'install', installRecord);
}
export function writeInstall(storage: Storage, install: PendingInstall): void {
  write(storage, 'install', installRecord, install);
}
export function clearInstall(storage: Storage): void {
  storage.delete(UPDATE_NAMESPACE, 'install');
}

/** The floors; zeros on a terminal that never accepted a package. */
export function readAccepted(storage: Storage): AcceptedFloors {
  return read(storage, 'accepted', acceptedRecord) ?? { metadataVersion: 0, securityCounter: 0 };
}
export function writeAccepted(storage: Storage, floors: AcceptedFloors): void {
  write(storage, 'accepted', acceptedRecord, floors);
}
