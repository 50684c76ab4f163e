/**
 * One customer's TMS, beside its KMS (docs/updates.md "Where the TMS runs"; SPEC B1-B4): the
 * terminal side of shared/protocol/updateMessages, on the KMS's listener and with its HSM, because
 * the terminal's DMK and MAK are handles only that HSM opens. The DWK is made there, leaves only
 * as a TR-31 block under DMK, and every cryptogram and chunk MAC is computed inside it (X1).
 *
 *   query     B1/B2: the inventory gets the terminal's model and versions; targeting answers
 *   sessions  B3 1-2: a fresh DWK (M6, mode C) exported under DMK, TAC-I = CMAC(DWK, T-DATA || context),
 *             a fresh S-DATA; only for the package on offer to this terminal now
 *   confirm   B3 3-4: SAC-I verified once; a wrong one refuses the session for good (nothing served)
 *   image     B4: one range per request, 206 with Content-Range and the chunk's MAC under the key
 *             derived from DWK and the offset (updateChunks.ts); only in an authenticated session
 *             that has not expired
 *   status    B4: the per-terminal status and numbered code, the inventory, then the rollout
 *
 * Every request is MAC'd under MAK and uses the terminal's one sequence, claimed here as POSP
 * claims it (sessionStore.claimSequence): a replayed request is PROTOCOL_REPLAY, MAC'd. A serial
 * this KMS does not hold is verified under a decoy MAK, as the KMS does (no serial oracle).
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { fromHex, toHex, utf8ToBytes } from '../../shared/bytes';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { type MacFunction, type ReceivedRequest, MAC_HEADERS, signResponse, verifyRequest } from '../../shared/protocol/macEnvelope';
import { toErrorBody } from '../../shared/protocol/messages';
import { UPDATE_CHALLENGE_BYTES, UPDATE_SESSION_ID_BYTES, sacInput, tacInput, updateContext } from '../../shared/protocol/updateAuth';
import { type ChunkRange, CHUNK_MAC_HEADER, MAX_CHUNK_BYTES, chunkKeyParams, chunkMacInput, contentRangeHeader } from '../../shared/protocol/updateChunks';
import { UPDATE_OK } from '../../shared/protocol/updateCodes';
import { type UpdateMessage, type UpdateMessageName, UPDATE_MAX_BODY_BYTES, UPDATE_PROTOCOL_VERSION, validateUpdateMessage } from '../../shared/protocol/updateMessages';
import type { Schema } from '../db/schema';
import type { Hsm } from '../hsm/hsm';
import { httpStatusOf } from '../http/errors';
import type { TerminalReply } from '../http/terminalRoute';
import { TK_ATTRIBUTES } from '../kms/kmsService';
import type { KmsStore, TerminalRecord } from '../kms/kmsStore';
import { type DecoyKeys, terminalMac } from '../kms/terminalEnvelope';
import type { InstalledVersions } from './inventory';
import { type SessionStore, createSessionStore } from './sessionStore';
import { findOffer } from './targeting';
import type { Tms } from './tms';

/** The chunk length this TMS serves: the largest the protocol allows, fewest round trips. */
export const CHUNK_BYTES = MAX_CHUNK_BYTES;
/** A session lasts this long from its challenge (a 1 MiB image takes seconds on a POS link). */
export const SESSION_TTL_MS = 10 * 60 * 1000;

export interface TmsService {
  readonly customerCode: string;
  query(request: ReceivedRequest): Promise<TerminalReply>;
  authenticate(request: ReceivedRequest): Promise<TerminalReply>;
  confirm(request: ReceivedRequest, sessionId: string): Promise<TerminalReply>;
  /** `range` is the request's Range header as sent (it is not under the request MAC; the chunk MAC binds the range). */
  image(request: ReceivedRequest, sessionId: string, range: string | undefined): Promise<TerminalReply>;
  status(request: ReceivedRequest): Promise<TerminalReply>;
}

export interface TmsServiceOptions {
  readonly customerCode: string;
  readonly hsm: Hsm;
  readonly kmsStore: KmsStore;
  readonly db: Kysely<Schema>;
  readonly tms: Tms;
  readonly clock?: () => Date;
}

/** DWK as the HSM makes it (updateAuth: M6, AES, mode C), exported under DMK for this session only. */
const DWK_REQUEST = { usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'E', lengthBytes: 16 } as const;

function readUpdate<N extends UpdateMessageName>(name: N, body: Uint8Array): UpdateMessage<N> {
  if (body.length > UPDATE_MAX_BODY_BYTES) throw new PaypadError('PAYLOAD_TOO_LARGE', `the ${name} body exceeds ${UPDATE_MAX_BODY_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new PaypadError('BAD_JSON', `the ${name} body is not UTF-8 JSON`);
  }
  return validateUpdateMessage(name, json);
}

/** RFC 9110 §14.1.2, one range with both ends: "bytes=<first>-<last>". TMS_RANGE_INVALID otherwise. */
export function parseRangeHeader(header: string | undefined, size: number): { offset: number; length: number } {
  const m = header === undefined ? null : /^bytes=(0|[1-9][0-9]{0,9})-(0|[1-9][0-9]{0,9})$/.exec(header);
  if (m === null) throw new PaypadError('TMS_RANGE_INVALID', 'Range: expected one range bytes=<first>-<last>');
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (last < first || last >= size) throw new PaypadError('TMS_RANGE_INVALID', `Range: ${first}-${last} is not inside the image of ${size} bytes`);
  if (last - first + 1 > CHUNK_BYTES) throw new PaypadError('TMS_RANGE_INVALID', `Range: at most ${CHUNK_BYTES} bytes per request`);
  return { offset: first, length: last - first + 1 };
}

export async function openTmsService(options: TmsServiceOptions): Promise<TmsService> {
  const { customerCode, hsm, kmsStore, tms } = options;
  const clock = options.clock ?? (() => new Date());
  const sessions: SessionStore = createSessionStore(options.db);
  // Made fresh at each start, never stored or sent: no MAC under them verifies (kms/terminalEnvelope).
  const decoy: DecoyKeys = {
    tk: await hsm.generateKey({ ...TK_ATTRIBUTES, lengthBytes: 16 }),
    mak: await hsm.generateKey({ usage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', lengthBytes: 16 }),
  };

  const terminalOf = async (serial: string): Promise<TerminalRecord> =>
    (await kmsStore.terminal(customerCode, serial)) ?? { customerCode, serial, generation: 0, lastSeq: 0, tkDeliveryId: '', intakeSequence: 0, tk: decoy.tk, updatedAt: clock() };

  const signed = async (request: ReceivedRequest, mac: MacFunction, status: number, message: object, failure?: unknown): Promise<TerminalReply> => {
    const body = utf8ToBytes(JSON.stringify(message));
    const headers = await signResponse({ status, serial: request.serial, seq: request.seq }, body, mac);
    return failure === undefined ? { status, headers, body } : { status, headers, body, failure };
  };
  const refusal = (request: ReceivedRequest, mac: MacFunction, e: unknown) => signed(request, mac, isPaypadError(e) ? httpStatusOf(e.code) : 500, toErrorBody(e), e);

  /**
   * Authenticates under MAK, claims the sequence, runs `act`. Throws only while unauthenticated
   * (MAC_MISMATCH, unsigned); every later failure is a MAC'd refusal.
   */
  const exchange = async (request: ReceivedRequest, act: (terminal: TerminalRecord, mac: MacFunction) => Promise<TerminalReply>): Promise<TerminalReply> => {
    if (request.keyId !== 'MAK') throw new PaypadError('PROTOCOL_MALFORMED', `${MAC_HEADERS.keyId}: update requests are MAC'd under MAK, not ${request.keyId}`);
    const terminal = await terminalOf(request.serial);
    const mac = terminalMac(hsm, terminal, 'MAK', decoy);
    await verifyRequest(request, mac, 0);
    const mak = terminal.workingKeys?.MAK;
    if (mak === undefined) throw new PaypadError('INTERNAL', 'a request verified under a MAK the terminal does not have');
    const claimed = request.seq > terminal.lastSeq && (await sessions.claimSequence({ customerCode, serial: terminal.serial, generation: terminal.generation, makBlock: mak.block, seq: request.seq }));
    if (!claimed) return refusal(request, mac, new PaypadError('PROTOCOL_REPLAY', `sequence ${request.seq} of terminal ${request.serial} was used before: replayed or reordered`));
    try {
      return await act(terminal, mac);
    } catch (e) {
      return refusal(request, mac, e);
    }
  };

  const json = <N extends UpdateMessageName>(request: ReceivedRequest, name: N, act: (terminal: TerminalRecord, message: UpdateMessage<N>) => Promise<object>) =>
    exchange(request, async (terminal, mac) => signed(request, mac, 200, await act(terminal, readUpdate(name, request.body))));

  /** The session of this terminal, still current (TMS_SESSION_EXPIRED), in `state` (TMS_SESSION_STATE). */
  const currentSession = async (serial: string, sessionId: string, state: 'challenged' | 'authenticated') => {
    const session = await sessions.get(customerCode, serial, sessionId);
    if (session.expiresAt <= clock()) throw new PaypadError('TMS_SESSION_EXPIRED', `download session ${sessionId} expired at ${session.expiresAt.toISOString()}: start a new one`);
    if (session.state !== state) throw new PaypadError('TMS_SESSION_STATE', `download session ${sessionId} is ${session.state}, not ${state}`);
    return session;
  };

  const installedOf = async (serial: string): Promise<{ model: string; versions: InstalledVersions }> => {
    const entry = await tms.inventory.entry(serial);
    if (entry === undefined) throw new PaypadError('TMS_NOT_OFFERED', `terminal ${serial} has not asked for an update (B1) yet`);
    return { model: entry.model, versions: entry.versions };
  };

  return {
    customerCode,

    query: (request) =>
      json(request, 'updateQuery', async (terminal, message) => {
        const versions = Object.fromEntries(message.installed.map((p) => [p.name, p.version]));
        await tms.inventory.record({ customerCode, serial: terminal.serial, model: message.model, versions, stage: 'query', code: UPDATE_OK, at: clock() });
        const offer = await findOffer(tms.deployments, tms.packages, { serial: terminal.serial, model: message.model, installed: versions }, clock());
        return validateUpdateMessage('updateOffer', {
          v: UPDATE_PROTOCOL_VERSION,
          ...(offer === undefined ? {} : { offer: { deployment: String(offer.deployment.id), mode: offer.deployment.mode, package: offer.package.signed } }),
        });
      }),

    authenticate: (request) =>
      json(request, 'updateAuthRequest', async (terminal, message) => {
        const installed = await installedOf(terminal.serial);
        const offer = await findOffer(tms.deployments, tms.packages, { serial: terminal.serial, model: installed.model, installed: installed.versions }, clock());
        if (offer === undefined || String(offer.deployment.id) !== message.deployment || offer.package.packageDigest !== message.packageDigest.toUpperCase()) {
          throw new PaypadError('TMS_NOT_OFFERED', `deployment ${message.deployment} offers terminal ${terminal.serial} no such package now`);
        }
        const dmk = terminal.workingKeys?.DMK;
        if (dmk === undefined) throw new PaypadError('KMS_KEY_STATE', `terminal ${terminal.serial} has no DMK: sign on first`);
        const sessionId = toHex(randomBytes(UPDATE_SESSION_ID_BYTES));
        const sData = new Uint8Array(randomBytes(UPDATE_CHALLENGE_BYTES));
        const context = updateContext({ serial: terminal.serial, sessionId, packageDigest: offer.package.packageDigest });
        const dwk = await hsm.generateZoneKey(dmk, DWK_REQUEST);
        const tac = await hsm.mac(dwk.handle, tacInput(fromHex(message.tData), context));
        await sessions.open(
          { sessionId, customerCode, serial: terminal.serial, packageId: offer.package.id, deploymentId: offer.deployment.id, dwk: dwk.handle, sData: toHex(sData), expiresAt: new Date(clock().getTime() + SESSION_TTL_MS) },
          clock(),
        );
        return validateUpdateMessage('updateAuthChallenge', { v: UPDATE_PROTOCOL_VERSION, sessionId, dwk: dwk.block, tac: toHex(tac), sData: toHex(sData), chunkBytes: CHUNK_BYTES });
      }),

    confirm: (request, sessionId) =>
      json(request, 'updateAuthConfirm', async (terminal, message) => {
        const session = await currentSession(terminal.serial, sessionId, 'challenged');
        const pkg = await tms.packages.get(session.packageId);
        const context = updateContext({ serial: terminal.serial, sessionId: session.sessionId, packageDigest: pkg.packageDigest });
        try {
          await hsm.verifyMac(session.dwk, sacInput(fromHex(session.sData), context), fromHex(message.sac));
        } catch (e) {
          if (!isPaypadError(e, 'MAC_MISMATCH')) throw e;
          await sessions.settle(session.sessionId, 'refused');
          throw new PaypadError('TMS_SAC_INVALID', `SAC-I of session ${session.sessionId} does not verify: the terminal does not hold its DMK; nothing is served`);
        }
        if (!(await sessions.settle(session.sessionId, 'authenticated'))) throw new PaypadError('TMS_SESSION_STATE', `download session ${session.sessionId} was confirmed or refused meanwhile`);
        return validateUpdateMessage('updateSessionOpen', { v: UPDATE_PROTOCOL_VERSION, size: pkg.manifest.size });
      }),

    image: (request, sessionId, rangeHeader) =>
      exchange(request, async (terminal) => {
        const session = await currentSession(terminal.serial, sessionId, 'authenticated');
        const pkg = await tms.packages.get(session.packageId);
        const { offset, length } = parseRangeHeader(rangeHeader, pkg.manifest.size);
        const image = await tms.packages.image(pkg);
        const range: ChunkRange = { sessionId: session.sessionId, offset, length, size: pkg.manifest.size };
        const chunk = image.subarray(offset, offset + length);
        const chunkMac = await hsm.macWithDerivedKey(session.dwk, chunkKeyParams(session.sessionId, offset), chunkMacInput(range, chunk));
        return {
          status: 206,
          headers: { 'Content-Range': contentRangeHeader(range), [CHUNK_MAC_HEADER]: toHex(chunkMac), 'Content-Type': 'application/octet-stream' },
          body: chunk,
        };
      }),

    status: (request) =>
      json(request, 'updateStatus', async (terminal, report) => {
        const deploymentId = Number(report.deployment);
        const member = Number.isSafeInteger(deploymentId) ? await tms.deployments.terminal(deploymentId, terminal.serial) : undefined;
        if (member === undefined) throw new PaypadError('TMS_NOT_OFFERED', `terminal ${terminal.serial} is not in deployment ${report.deployment}`);
        const deployment = await tms.deployments.get(deploymentId);
        const pkg = await tms.packages.get(deployment.packageId);
        if (pkg.packageDigest !== report.packageDigest.toUpperCase()) throw new PaypadError('TMS_NOT_OFFERED', `deployment ${report.deployment} is not package ${report.packageDigest}`);
        const installed = await installedOf(terminal.serial);
        await tms.inventory.record({
          customerCode,
          serial: terminal.serial,
          model: installed.model,
          versions: { ...installed.versions, [pkg.manifest.name]: report.version },
          deploymentId,
          stage: report.stage,
          code: report.code,
          at: clock(),
        });
        await tms.deployments.setStatus(deploymentId, terminal.serial, report.status, report.status === 'failed' ? report.code : undefined, clock());
        if (report.sessionId !== undefined && report.stage !== 'authenticate' && report.stage !== 'download') await sessions.close(customerCode, terminal.serial, report.sessionId.toUpperCase());
        await tms.rollout.evaluate(deploymentId);
        return validateUpdateMessage('updateStatusAck', { v: UPDATE_PROTOCOL_VERSION });
      }),
  };
}
