/**
 * One download session with the TMS (SPEC B3, B4; shared/protocol/updateAuth, updateChunks): mutual
 * authentication with a fresh DWK, then the image in chunks from where the slot's image ends.
 *
 *   authenticate: T-DATA out; DWK-I opened under DMK in the vault; TAC-I checked (UPDATE_AUTH_FAILED
 *                 before a byte is downloaded); SAC-I back; the TMS opens the session.
 *   download:     a range request per chunk; the answer must be a 206 with exactly that range
 *                 (UPDATE_RANGE_MISMATCH) and a chunk MAC that verifies under KDF(DWK, session,
 *                 offset) (UPDATE_CHUNK_INVALID); only then is the chunk written to the inactive slot
 *                 and the progress record moved past it.
 *
 * Every step is one promise reaction, synchronous on the vault, so the device's stack holds one
 * step's frames at a time (docs/firmware.md "Stack"); the chunk loop chains reactions, it does not
 * recurse on the stack. The DWK is wiped when the session ends, whatever the outcome.
 * Runs in XS: no Node APIs.
 */
import { type Rng, fromHex, randomBytes, toHex } from 'shared/bytes';
import { PaypadError, isPaypadError } from 'shared/errors';
import { UPDATE_CHALLENGE_BYTES, sacInput, tacInput, updateContext } from 'shared/protocol/updateAuth';
import { CHUNK_MAC_HEADER, type ChunkRange, assertExactRange, chunkKeyParams, chunkMacHex, chunkMacInput, rangeHeader } from 'shared/protocol/updateChunks';
import { UPDATE_PROTOCOL_VERSION, tmsSessionConfirmPath, tmsSessionImagePath, tmsSessionsPath } from 'shared/protocol/updateMessages';
import { MAX_BODY_BYTES } from 'shared/protocol/macEnvelope';
import type { Http, HttpResponse } from '../hal/http';
import type { Storage } from '../hal/storage';
import type { Updater } from '../hal/updater';
import type { DownloadKey } from './downloadKey';
import type { KeyVault } from './keyVault';
import type { TerminalIdentity } from './terminalIdentity';
import { type SignedTmsRequest, authenticateTmsAnswer, readTmsAnswer, signTmsRequest } from './tmsExchange';
import { writeDownload } from './updateProgress';

export interface SessionDevice {
  readonly identity: TerminalIdentity;
  readonly vault: KeyVault;
  readonly storage: Storage;
  readonly http: Http;
  readonly rng: Rng;
  readonly updater: Updater;
}

/** The image a session downloads, and how much of it the slot holds. */
export interface SessionTarget {
  readonly deployment: string;
  readonly packageDigest: string;
  readonly size: number;
  written: number;
}

interface OpenSession {
  readonly sessionId: string;
  readonly key: DownloadKey;
  readonly chunkBytes: number;
}

/** Sends a signed request and authenticates the answer (the TMS MAC'd it for this very request). */
function exchange(device: SessionDevice, request: SignedTmsRequest): Promise<HttpResponse> {
  const { kmsUrl, trustAnchor, serial } = device.identity;
  return device.http
    .request({ method: request.method, url: kmsUrl + request.path, headers: request.headers, body: request.body, tls: { trustAnchor }, maxResponseBytes: MAX_BODY_BYTES })
    .then((response) => {
      authenticateTmsAnswer(device.vault, serial, request, response);
      return response;
    });
}

/** What authentication carries from one reaction to the next. */
interface Handshake {
  tData?: Uint8Array;
  key?: DownloadKey;
  sessionId?: string;
  chunkBytes?: number;
}

/**
 * B3 steps 1 to 4. Nothing is downloaded unless both sides proved they hold DMK. Each vault step
 * (the request's MAC, DWK-I's unwrap, TAC-I, SAC-I, the confirmation's MAC) starts a reaction of
 * its own, so none runs under another's frames.
 */
function authenticate(device: SessionDevice, target: SessionTarget): Promise<OpenSession> {
  const { serial } = device.identity;
  const state: Handshake = {};
  return Promise.resolve()
    .then(() => {
      state.tData = randomBytes(device.rng, UPDATE_CHALLENGE_BYTES, 'T-DATA');
      const body = { v: UPDATE_PROTOCOL_VERSION, deployment: target.deployment, packageDigest: target.packageDigest, tData: toHex(state.tData) };
      return signTmsRequest(device.vault, device.storage, serial, 'POST', tmsSessionsPath(serial), body);
    })
    .then((request) => exchange(device, request).then((response) => readTmsAnswer(request, response, 'updateAuthChallenge')))
    .then((challenge) => {
      state.key = device.vault.openDownloadKey(challenge.dwk);
      state.sessionId = challenge.sessionId;
      state.chunkBytes = challenge.chunkBytes;
      return challenge;
    })
    .then((challenge) => {
      const context = updateContext({ serial, sessionId: challenge.sessionId, packageDigest: target.packageDigest });
      checkTac(state.key as DownloadKey, tacInput(state.tData as Uint8Array, context), challenge.tac);
      if (challenge.sData === toHex(state.tData as Uint8Array)) throw new PaypadError('UPDATE_AUTH_FAILED', 'S-DATA repeats T-DATA: not a fresh challenge');
      return toHex((state.key as DownloadKey).mac(sacInput(fromHex(challenge.sData), context)));
    })
    .then((sac) => signTmsRequest(device.vault, device.storage, serial, 'POST', tmsSessionConfirmPath(serial, state.sessionId as string), { v: UPDATE_PROTOCOL_VERSION, sac }))
    .then((confirm) => exchange(device, confirm).then((response) => readTmsAnswer(confirm, response, 'updateSessionOpen')))
    .then((open) => {
      if (open.size !== target.size) throw new PaypadError('UPDATE_IMAGE_MISMATCH', `the TMS serves ${open.size} bytes, the manifest says ${target.size}`);
      return { sessionId: state.sessionId as string, key: state.key as DownloadKey, chunkBytes: state.chunkBytes as number };
    })
    .catch((e: unknown) => {
      state.key?.wipe();
      throw e;
    });
}

function checkTac(key: DownloadKey, input: Uint8Array, tac: string): void {
  try {
    key.verifyMac(input, fromHex(tac));
  } catch (e) {
    if (isPaypadError(e, 'MAC_MISMATCH')) throw new PaypadError('UPDATE_AUTH_FAILED', 'TAC-I does not verify: the TMS does not hold this terminal\'s DMK');
    throw e;
  }
}

/** One chunk: the exact range, its MAC, then the slot and the progress record, in that order. */
function fetchChunk(device: SessionDevice, session: OpenSession, target: SessionTarget): Promise<void> {
  const { serial, kmsUrl, trustAnchor } = device.identity;
  const range: ChunkRange = { sessionId: session.sessionId, offset: target.written, length: Math.min(session.chunkBytes, target.size - target.written), size: target.size };
  let request: SignedTmsRequest | undefined;
  return Promise.resolve()
    .then(() => {
      request = signTmsRequest(device.vault, device.storage, serial, 'GET', tmsSessionImagePath(serial, session.sessionId));
      const headers = { ...request.headers, range: rangeHeader(range) };
      return device.http.request({ method: 'GET', url: kmsUrl + request.path, headers, tls: { trustAnchor }, maxResponseBytes: Math.max(range.length, MAX_BODY_BYTES) });
    })
    .then((response) => {
      if (response.status >= 400) {
        // A refusal (a session expired, say) is MAC'd like any TMS answer: authenticated, then thrown as a TmsRefusal.
        authenticateTmsAnswer(device.vault, serial, request as SignedTmsRequest, response);
        readTmsAnswer(request as SignedTmsRequest, response, 'updateSessionOpen');
      }
      assertExactRange(range, response.status, response.headers, response.body.length);
      return response;
    })
    .then((response) => {
      const tag = fromHex(chunkMacHex(response.headers[CHUNK_MAC_HEADER.toLowerCase()], CHUNK_MAC_HEADER));
      checkChunk(session.key, range, response.body, tag);
      return response.body;
    })
    .then((chunk) => {
      device.updater.write(range.offset, chunk);
      target.written = range.offset + range.length;
      writeDownload(device.storage, { deployment: target.deployment, packageDigest: target.packageDigest, size: target.size, written: target.written });
    });
}

function checkChunk(key: DownloadKey, range: ChunkRange, chunk: Uint8Array, tag: Uint8Array): void {
  try {
    key.verifyDerivedMac(chunkKeyParams(range.sessionId, range.offset), chunkMacInput(range, chunk), tag);
  } catch (e) {
    if (isPaypadError(e, 'MAC_MISMATCH')) throw new PaypadError('UPDATE_CHUNK_INVALID', `the chunk at ${range.offset} does not verify: not written`);
    throw e;
  }
}

function fetchRest(device: SessionDevice, session: OpenSession, target: SessionTarget): Promise<void> {
  if (target.written >= target.size) return Promise.resolve();
  return fetchChunk(device, session, target).then(() => fetchRest(device, session, target));
}

/**
 * A session from authentication to the image's last byte; `target.written` says where it starts
 * and, after a failure, how far it got (the progress record says the same).
 */
export function runDownloadSession(device: SessionDevice, target: SessionTarget): Promise<void> {
  return authenticate(device, target).then((session) =>
    fetchRest(device, session, target).then(
      () => session.key.wipe(),
      (e: unknown) => {
        session.key.wipe();
        throw e;
      },
    ),
  );
}
