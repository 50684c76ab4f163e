/**
 * The KMS side of the MAC'd terminal envelope (X2; shared/protocol/macEnvelope): which key a
 * request may be MAC'd under, verification with that key in the HSM, and responses MAC'd with the
 * same key.
 *
 * What gets a Paypad-Mac: every answer to a request whose MAC verified, failures included
 * (a replay, a malformed body, a key the terminal has not loaded yet), so the terminal can act on
 * them. A request that did not authenticate (unknown serial, bad MAC, bad headers) gets an
 * unsigned error: shared/protocol's verifyResponse refuses it, and the terminal may only show it.
 */
import { utf8ToBytes } from '../../shared/bytes';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { type MacFunction, type MacKeyId, type ReceivedRequest, MAC_HEADERS, signResponse, tkMacKdfParams, verifyRequest } from '../../shared/protocol/macEnvelope';
import { type MessageName, type Message, toErrorBody, validateMessage } from '../../shared/protocol/messages';
import type { Hsm } from '../hsm/hsm';
import { httpStatusOf } from '../http/errors';
import type { TerminalRecord } from './kmsStore';

/** A terminal response: the status, its headers (Paypad-Mac) and the exact JSON bytes they MAC. */
export interface TerminalReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The failure this reply reports, for the caller's log (status 500 and above). */
  readonly failure?: unknown;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The MAC function of `keyId` for this terminal: K_tkmac derived from TK inside the HSM, or the
 * MAK issued at sign-on. KMS_KEY_STATE when the terminal has no MAK yet.
 */
export function terminalMac(hsm: Hsm, terminal: TerminalRecord, keyId: MacKeyId): MacFunction {
  if (keyId === 'TK') {
    const derivation = tkMacKdfParams(terminal.serial);
    return (data) => hsm.macWithDerivedKey(terminal.tk, derivation, data);
  }
  const mak = terminal.workingKeys?.MAK;
  if (mak === undefined) throw new PaypadError('KMS_KEY_STATE', `terminal ${terminal.serial} has no MAK: sign on under TK first`);
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
  /** The stored terminal the request names (request.serial). */
  readonly terminal: TerminalRecord;
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
  const mac = terminalMac(hsm, terminal, request.keyId);
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
