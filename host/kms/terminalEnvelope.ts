/**
 * The KMS side of the MAC'd terminal envelope (X2; shared/protocol/macEnvelope): which key a
 * request may be MAC'd under, verification with that key in the HSM, and responses MAC'd with the
 * same key.
 *
 * What gets a Paypad-Mac: every answer to a request whose MAC verified, failures included
 * (a replay, a malformed body, a key the terminal has not loaded yet), so the terminal can act on
 * them. A request that did not authenticate (bad MAC, bad headers) gets an unsigned error:
 * shared/protocol's verifyResponse refuses it, and the terminal may only show it.
 *
 * No serial oracle: an unauthenticated sender must not learn whether the KMS holds a serial, or
 * how far that terminal got. A serial the KMS does not know is verified under a decoy TK, and a
 * MAC under MAK for a terminal without one under a decoy MAK: keys made in the HSM when the KMS
 * starts and never given to anyone. Such a request does the same work as a wrong MAC and gets the
 * same answer, 401 MAC_MISMATCH "request MAC does not verify".
 */
import { utf8ToBytes } from '../../shared/bytes';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { type MacFunction, type MacKeyId, type ReceivedRequest, MAC_HEADERS, signResponse, tkMacKdfParams, verifyRequest } from '../../shared/protocol/macEnvelope';
import { type MessageName, type Message, toErrorBody, validateMessage } from '../../shared/protocol/messages';
import type { Hsm, KeyHandle } from '../hsm/hsm';
import { httpStatusOf } from '../http/errors';
import type { TerminalReply } from '../http/terminalRoute';
import type { TerminalRecord } from './kmsStore';

/** The reply type lives with the route that sends it; the KMS and POSP build it here. */
export type { TerminalReply };

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Keys nobody holds, for requests that name a serial or a key the KMS does not have (see above). */
export interface DecoyKeys {
  /** K1, mode B, like a TK: K_tkmac is derived from it. */
  readonly tk: KeyHandle;
  /** M6, like a MAK. */
  readonly mak: KeyHandle;
}

/**
 * The MAC function of `keyId` for this terminal: K_tkmac derived from TK inside the HSM, or the
 * MAK issued at sign-on; the decoy MAK when the terminal has none, so no request MAC'd under MAK
 * verifies then.
 */
export function terminalMac(hsm: Hsm, terminal: TerminalRecord, keyId: MacKeyId, decoy: DecoyKeys): MacFunction {
  if (keyId === 'TK') {
    const derivation = tkMacKdfParams(terminal.serial);
    return (data) => hsm.macWithDerivedKey(terminal.tk, derivation, data);
  }
  const mak = terminal.workingKeys?.MAK ?? decoy.mak;
  return (data) => hsm.mac(mak, data);
}

/** The request body as the named message. BAD_JSON or PROTOCOL_MALFORMED naming the field. */
export function readBody<N extends MessageName>(name: N, body: Uint8Array): Message<N> {
  let json: unknown;
  try {
    json = JSON.parse(STRICT_UTF8.decode(body));
  } catch {
    throw new PaypadError('BAD_JSON', `the ${name} body is not UTF-8 JSON`);
  }
  return validateMessage(name, json);
}

export interface TerminalExchange<R> {
  readonly request: ReceivedRequest;
  /** The stored terminal the request names (request.serial), or one holding the decoy TK for an unknown serial. */
  readonly terminal: TerminalRecord;
  readonly decoy: DecoyKeys;
  /** The keys this message may be MAC'd under. */
  readonly allowedKeys: readonly MacKeyId[];
  /** Runs once the request authenticated and is fresh; returns the response message. */
  readonly act: () => Promise<R>;
}

/**
 * Authenticates `request` (key allowed for the message, MAC, sequence above the stored one), runs
 * `act`, and returns the MAC'd reply. Throws only while the request is not authenticated.
 */
export async function exchange<R extends object>(hsm: Hsm, x: TerminalExchange<R>): Promise<TerminalReply> {
  const { request, terminal } = x;
  if (!x.allowedKeys.includes(request.keyId)) {
    throw new PaypadError('PROTOCOL_MALFORMED', `${MAC_HEADERS.keyId}: this message is MAC'd under ${x.allowedKeys.join(' or ')}, not ${request.keyId}`);
  }
  const mac = terminalMac(hsm, terminal, request.keyId, x.decoy);
  try {
    await verifyRequest(request, mac, terminal.lastSeq);
  } catch (e) {
    // A replay carries a valid MAC: it is authentic, so its refusal is signed like any answer.
    if (!isPaypadError(e, 'PROTOCOL_REPLAY')) throw e;
    return reply(request, mac, httpStatusOf(e.code), toErrorBody(e), e);
  }
  let result: R;
  try {
    result = await x.act();
  } catch (e) {
    const body = toErrorBody(e);
    return reply(request, mac, isPaypadError(e) ? httpStatusOf(e.code) : 500, body, e);
  }
  return reply(request, mac, 200, result);
}

async function reply(request: ReceivedRequest, mac: MacFunction, status: number, message: object, failure?: unknown): Promise<TerminalReply> {
  const body = utf8ToBytes(JSON.stringify(message));
  const headers = await signResponse({ status, serial: request.serial, seq: request.seq }, body, mac);
  return failure === undefined ? { status, headers, body } : { status, headers, body, failure };
}
