/**
 * The terminal <-> TMS update protocol's messages and paths (SPEC B1-B7; docs/updates.md). The TMS
 * runs beside the customer's KMS, on its listener and with its keys (MAK for the envelope, DMK for
 * DWK-I), so a terminal reaches it at the KMS URL it was manufactured with:
 *
 *   POST /tms/v1/terminals/<serial>/update/query                    updateQuery -> updateOffer           (B1, B2)
 *   POST /tms/v1/terminals/<serial>/update/sessions                 updateAuthRequest -> updateAuthChallenge (B3 1-2)
 *   POST /tms/v1/terminals/<serial>/update/sessions/<id>/confirm    updateAuthConfirm -> updateSessionOpen   (B3 3-4)
 *   GET  /tms/v1/terminals/<serial>/update/sessions/<id>/image      Range -> 206 chunk (updateChunks.ts)     (B4)
 *   POST /tms/v1/terminals/<serial>/update/status                   updateStatus -> updateStatusAck          (B4)
 *
 * Every request is in the MAC'd envelope under MAK (macEnvelope.ts), numbered from the terminal's one
 * persisted sequence (shared with key loading and POSP), so a replayed or reordered request is
 * PROTOCOL_REPLAY at the TMS; every JSON answer is MAC'd under MAK with the request's serial and
 * sequence, so an answer replayed from another request fails its MAC at the terminal. A refusal is
 * an errorBody (messages.ts), MAC'd when the request authenticated. An image chunk is MAC'd under
 * its DWK-derived key instead (updateChunks.ts). A session lives from its challenge until its
 * image is served or it expires; its image and confirm paths answer only after SAC-I verified.
 *
 * B6: POSP carries `updateNotice` in a transaction answer (transactions.ts), under that answer's MAC.
 * Runs in XS: no Node APIs.
 */
import { errorCode, tr31Block } from './fields';
import { UPDATE_CODE_OTHER, UPDATE_STAGES, UPDATE_STATUSES } from './updateCodes';
import { challengeHex, cryptogramHex, packageDigestHex, sessionIdHex } from './updateAuth';
import { MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from './updateChunks';
import { MAX_IMAGE_BYTES, signedManifestSchema } from './updateManifest';
import { programName, programVersion, terminalModel } from './updateVersion';
import { type Infer, array, integer, object, oneOf, optional, string, version } from './validate';

export const TMS_API_PREFIX = '/tms/v1';
export const UPDATE_PROTOCOL_VERSION = 1;
/** Update bodies are under 2 KB (a signed manifest is the largest part). */
export const UPDATE_MAX_BODY_BYTES = 4096;

/** e.g. /tms/v1/terminals/PP-0001/update/query; `serial` is already validated. The MAC covers it. */
export function tmsQueryPath(serial: string): string {
  return `${TMS_API_PREFIX}/terminals/${serial}/update/query`;
}
export function tmsSessionsPath(serial: string): string {
  return `${TMS_API_PREFIX}/terminals/${serial}/update/sessions`;
}
/** `sessionId` as the challenge gave it (32 hex digits, uppercase). */
export function tmsSessionConfirmPath(serial: string, sessionId: string): string {
  return `${tmsSessionsPath(serial)}/${sessionId}/confirm`;
}
export function tmsSessionImagePath(serial: string, sessionId: string): string {
  return `${tmsSessionsPath(serial)}/${sessionId}/image`;
}
export function tmsStatusPath(serial: string): string {
  return `${TMS_API_PREFIX}/terminals/${serial}/update/status`;
}

const v = version(UPDATE_PROTOCOL_VERSION);
/** The TMS's name for one deployment of one package (what a status report is counted against). */
export const deploymentId = string({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/, describe: '1 to 64 of A-Z a-z 0-9 _ -' });
const installedProgram = object({ name: programName, version: programVersion });
const numberedCode = integer(0, UPDATE_CODE_OTHER);

/** What started a query: the terminal's schedule (B5), a notice in a transaction answer (B6), or a person. */
export const UPDATE_TRIGGERS = Object.freeze(['schedule', 'notice', 'manual', 'resume'] as const);
export type UpdateTrigger = (typeof UPDATE_TRIGGERS)[number];

/** B6: "an update is waiting for you", inside a MAC'd transaction answer; the terminal then runs B1. */
export const updateNoticeSchema = object({ name: programName, version: programVersion });

export const updateMessages = Object.freeze({
  /** Terminal -> TMS (B1): who it is and what runs on it. */
  updateQuery: object({
    v,
    model: terminalModel,
    installed: array(installedProgram, 1, 8),
    trigger: oneOf(...UPDATE_TRIGGERS),
  }),
  /**
   * TMS -> terminal (B2): the package targeted at this terminal now, if any. `mode` 'forced'
   * installs as soon as it is verified; 'attempt' lets the terminal's application choose the moment.
   */
  updateOffer: object({
    v,
    offer: optional(object({ deployment: deploymentId, mode: oneOf('forced', 'attempt'), package: signedManifestSchema })),
  }),
  /** Terminal -> TMS (B3 1): T-DATA for the package it verified the signature of. */
  updateAuthRequest: object({ v, deployment: deploymentId, packageDigest: packageDigestHex, tData: challengeHex }),
  /** TMS -> terminal (B3 2): the session, DWK-I under DMK, TAC-I and S-DATA; the chunk length it serves. */
  updateAuthChallenge: object({
    v,
    sessionId: sessionIdHex,
    dwk: tr31Block,
    tac: cryptogramHex,
    sData: challengeHex,
    chunkBytes: integer(MIN_CHUNK_BYTES, MAX_CHUNK_BYTES),
  }),
  /** Terminal -> TMS (B3 3): SAC-I, sent only after TAC-I verified. */
  updateAuthConfirm: object({ v, sac: cryptogramHex }),
  /** TMS -> terminal (B3 4): SAC-I verified; the image of `size` bytes may now be fetched. */
  updateSessionOpen: object({ v, size: integer(1, MAX_IMAGE_BYTES) }),
  /**
   * Terminal -> TMS (B4): where it is. `code` 0 with a status other than 'failed', else the numbered
   * failure (updateCodes.ts) and, for UPDATE_CODE_OTHER, the PaypadError code in `error`. `offset`:
   * the image bytes the terminal holds (download, resume). `version`: the version it reports from
   * (after the first start of the new program: the one now running).
   */
  updateStatus: object({
    v,
    deployment: deploymentId,
    packageDigest: packageDigestHex,
    sessionId: optional(sessionIdHex),
    stage: oneOf(...UPDATE_STAGES),
    status: oneOf(...UPDATE_STATUSES),
    code: numberedCode,
    error: optional(errorCode),
    offset: optional(integer(0, MAX_IMAGE_BYTES)),
    version: programVersion,
  }),
  /** TMS -> terminal: the report is recorded. */
  updateStatusAck: object({ v }),
});

export type UpdateMessageName = keyof typeof updateMessages;
export type UpdateMessage<N extends UpdateMessageName> = Infer<(typeof updateMessages)[N]>;
export type UpdateQuery = UpdateMessage<'updateQuery'>;
export type UpdateOffer = UpdateMessage<'updateOffer'>;
export type UpdateAuthRequest = UpdateMessage<'updateAuthRequest'>;
export type UpdateAuthChallenge = UpdateMessage<'updateAuthChallenge'>;
export type UpdateAuthConfirm = UpdateMessage<'updateAuthConfirm'>;
export type UpdateSessionOpen = UpdateMessage<'updateSessionOpen'>;
export type UpdateStatusReport = UpdateMessage<'updateStatus'>;
export type UpdateNotice = Infer<typeof updateNoticeSchema>;

/** Parsed JSON as the named message, or PROTOCOL_MALFORMED / PROTOCOL_UNSUPPORTED_VERSION naming the field. */
export function validateUpdateMessage<N extends UpdateMessageName>(name: N, value: unknown): UpdateMessage<N> {
  return updateMessages[name](value, name) as UpdateMessage<N>;
}
