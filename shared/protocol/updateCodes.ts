/**
 * The numbered status codes of a program update (SPEC B4: "status and numbered error codes are
 * reported to the TMS at each stage"). The terminal reports `code` in every updateStatus message;
 * the TMS keeps it per terminal and deployment, and people read the table in docs/updates.md.
 * The numbers are stable: a code is never reused for another meaning. The hundreds name the stage.
 * Runs in XS: no Node APIs.
 */
import type { ErrorCode } from '../errors';

/** Where an update is: the stage a status report speaks for. */
export const UPDATE_STAGES = Object.freeze(['query', 'authenticate', 'download', 'verify', 'install', 'confirm'] as const);
export type UpdateStage = (typeof UPDATE_STAGES)[number];

/** The per-terminal status the TMS shows for a deployment (pending is the TMS's own, before any report). */
export const UPDATE_STATUSES = Object.freeze(['downloading', 'installing', 'success', 'failed'] as const);
export type UpdateStatus = (typeof UPDATE_STATUSES)[number];

export const UPDATE_OK = 0;

/**
 * Each failure the terminal can report, by PaypadError code. A code not listed is reported as
 * UPDATE_CODE_OTHER with the error's own code in the report's `error` field.
 */
export const UPDATE_FAILURE_CODES: Readonly<Partial<Record<ErrorCode, number>>> = Object.freeze({
  // 1xx authentication (B3)
  UPDATE_AUTH_FAILED: 101, // TAC-I did not verify: the TMS does not hold this terminal's DMK
  KEY_UNWRAP_FAILED: 102, // the DWK block did not open under DMK
  TR31_MAC_MISMATCH: 102,
  TMS_REFUSED: 103, // an authenticated refusal from the TMS (e.g. SAC-I refused, session expired)
  TMS_RESPONSE_UNSIGNED: 104, // an answer without a MAC under MAK: not acted on
  MAC_MISMATCH: 105, // an answer whose MAC under MAK does not verify (tampered or replayed)
  // 2xx download (B4)
  UPDATE_CHUNK_INVALID: 201, // a chunk's MAC under its DWK-derived key did not verify: not written
  UPDATE_RANGE_MISMATCH: 202, // not a 206 with exactly the range asked for (e.g. 200 with the whole file): not written
  PAYLOAD_TOO_LARGE: 202, // an answer longer than the range asked for (a 200 with a large image): not written
  HTTP_FAILED: 203, // connection lost: the download resumes with a new session
  HTTP_TIMEOUT: 203,
  UPDATE_FAILED: 204, // the slot could not be written
  // 3xx verification before the switch (B4)
  UPDATE_IMAGE_MISMATCH: 301, // the whole image's SHA-256 or size differs from the manifest's
  UPDATE_SIGNATURE_INVALID: 302, // the manifest's ECDSA P-256 signature is not the vendor's
  UPDATE_MODEL_MISMATCH: 303, // the package is for other terminal models
  UPDATE_DOWNGRADE: 304, // not above the installed version, or the installed one is below the package's minimum
  UPDATE_SECURITY_COUNTER: 305, // below the security counter the terminal already holds
  UPDATE_METADATA_EXPIRED: 306, // the signed metadata's expiry has passed (a frozen answer)
  UPDATE_METADATA_ROLLBACK: 307, // the signed metadata is older than what the terminal accepted before (a replayed answer)
  // 4xx install and first start (B4)
  UPDATE_STATE: 401, // the slot switch could not be made
  UPDATE_NOT_CONFIRMED: 402, // the new program did not confirm itself: the previous one was started again
  // 9xx messages
  PROTOCOL_MALFORMED: 901,
  PROTOCOL_REPLAY: 902,
  PROTOCOL_UNSUPPORTED_VERSION: 903,
});

export const UPDATE_CODE_OTHER = 999;

/** The numbered code reported for a failure with `errorCode`. */
export function updateFailureCode(errorCode: string): number {
  const code = (UPDATE_FAILURE_CODES as Readonly<Record<string, number | undefined>>)[errorCode];
  return code === undefined ? UPDATE_CODE_OTHER : code;
}
