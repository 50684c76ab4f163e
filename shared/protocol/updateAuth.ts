/**
 * Mutual authentication before a download (SPEC B3, after patent CN102707972A):
 *
 *   1. terminal -> TMS  T-DATA, a fresh 16-byte random challenge, and the package it asks for;
 *   2. TMS: a fresh download work key DWK (AES-128); DWK-I = DWK as a TR-31 version D block under
 *      the terminal's DMK (usage M6, mode C: a CMAC key); TAC-I = CMAC(DWK, T-DATA || context);
 *      a fresh 16-byte S-DATA; TMS -> terminal  session id, DWK-I, TAC-I, S-DATA;
 *   3. terminal: opens DWK-I under DMK, checks TAC-I; on success answers SAC-I = CMAC(DWK, S-DATA || context);
 *   4. TMS checks SAC-I; only then does the session serve the image.
 *
 * context = "PAYPAD-UPDATE-CONTEXT-1\n" serial "\n" session id (hex) "\n" package digest (hex),
 * so a TAC or SAC answers one terminal, one session and one package only. CMAC is AES-CMAC
 * (SP 800-38B), full 16 bytes. A failure on either side ends the session with nothing downloaded.
 * A terminal refuses S-DATA equal to its T-DATA, so SAC-I can never be TAC-I sent back.
 * Runs in XS: no Node APIs.
 */
import { concatBytes, utf8ToBytes } from '../bytes';
import type { Tr31KeyPolicy } from '../crypto/tr31';
import { PaypadError } from '../errors';
import { serial as serialField } from './fields';
import { hex } from './validate';

export const UPDATE_CHALLENGE_BYTES = 16;
export const UPDATE_SESSION_ID_BYTES = 16;
export const UPDATE_CRYPTOGRAM_BYTES = 16;
export const DWK_BYTES = 16;
export const UPDATE_CONTEXT_TAG = 'PAYPAD-UPDATE-CONTEXT-1';

/** What DWK-I must say about DWK (X9.143:2021 table 2: M6 = ISO 9797-1 MAC algorithm 5, CMAC; mode C = generate and verify). */
export const DWK_KEY_POLICY: Tr31KeyPolicy = Object.freeze({ usage: 'M6', modesOfUse: Object.freeze(['C']), algorithm: 'A' });

export const challengeHex = hex(UPDATE_CHALLENGE_BYTES, UPDATE_CHALLENGE_BYTES);
export const sessionIdHex = hex(UPDATE_SESSION_ID_BYTES, UPDATE_SESSION_ID_BYTES);
export const cryptogramHex = hex(UPDATE_CRYPTOGRAM_BYTES, UPDATE_CRYPTOGRAM_BYTES);
export const packageDigestHex = hex(32, 32);

export interface UpdateContextFields {
  readonly serial: string;
  /** 32 hex digits. */
  readonly sessionId: string;
  /** SHA-256 of the signed manifest bytes, 64 hex digits (updateManifest packageDigest). */
  readonly packageDigest: string;
}

/** The context bytes both cryptograms bind (fields validated, hex uppercased). */
export function updateContext(fields: UpdateContextFields): Uint8Array {
  const serial = serialField(fields.serial, 'context.serial');
  const sessionId = sessionIdHex(fields.sessionId, 'context.sessionId');
  const digest = packageDigestHex(fields.packageDigest, 'context.packageDigest');
  return utf8ToBytes(`${UPDATE_CONTEXT_TAG}\n${serial}\n${sessionId}\n${digest}`);
}

function challenge(bytes: Uint8Array, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== UPDATE_CHALLENGE_BYTES) throw new PaypadError('BAD_ARGUMENT', `${what}: expected ${UPDATE_CHALLENGE_BYTES} bytes`);
  return bytes;
}

/** What TAC-I is the CMAC of under DWK: T-DATA || context. */
export function tacInput(tData: Uint8Array, context: Uint8Array): Uint8Array {
  return concatBytes(challenge(tData, 'T-DATA'), context);
}

/** What SAC-I is the CMAC of under DWK: S-DATA || context. */
export function sacInput(sData: Uint8Array, context: Uint8Array): Uint8Array {
  return concatBytes(challenge(sData, 'S-DATA'), context);
}
