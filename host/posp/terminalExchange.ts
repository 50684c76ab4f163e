/**
 * POSP's side of the MAC'd terminal envelope (X2; shared/protocol/macEnvelope, transactions.ts):
 * authenticate under the terminal's MAK in the HSM, accept each sequence number once, answer
 * MAC'd, and give a retry its first answer again.
 *
 *   bad MAC, unknown serial, no MAK      throws MAC_MISMATCH (unsigned 401; no serial oracle, as
 *                                        the KMS: a decoy MAK does the same work)
 *   malformed body                       MAC'd refusal; the sequence is not used, nothing changes
 *   sequence above last_seq              claimed with the exchange (pospStore), then `act` runs and
 *                                        its answer is stored before it is sent
 *   sequence already used, same bytes    the stored answer again, MAC'd anew (never a second debit);
 *                                        POSP_REQUEST_IN_PROGRESS while the first copy runs
 *   sequence already used, other bytes   PROTOCOL_REPLAY, MAC'd; nothing changes
 *
 * "Same bytes" is SHA-256 over the request's whole MAC input (method, path, serial, sequence, key
 * id and body), so a retry must repeat the request exactly.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8ToBytes } from '../../shared/bytes';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { type MacFunction, type ReceivedRequest, MAC_HEADERS, requestMacInput, signResponse, verifyRequest } from '../../shared/protocol/macEnvelope';
import { toErrorBody } from '../../shared/protocol/messages';
import type { Hsm } from '../hsm/hsm';
import { httpStatusOf } from '../http/errors';
import type { TerminalRecord } from '../kms/kmsStore';
import { type DecoyKeys, type TerminalReply, terminalMac } from '../kms/terminalEnvelope';
import type { ExchangeKey, PospStore, StoredAnswer } from './pospStore';

export interface PospExchange<M> {
  readonly request: ReceivedRequest;
  readonly route: string;
  /** The stored terminal, or one holding only decoy keys for a serial this KMS does not hold. */
  readonly terminal: TerminalRecord;
  readonly decoy: DecoyKeys;
  /** The body as its message; throws (PROTOCOL_MALFORMED ...) before anything is claimed. */
  readonly read: () => M;
  /** Runs once per sequence number; its result is the 200 answer. */
  readonly act: (message: M) => Promise<object>;
  readonly clock: () => Date;
}

export async function answerOnce<M>(hsm: Hsm, store: PospStore, x: PospExchange<M>): Promise<TerminalReply> {
  const { request, terminal } = x;
  if (request.keyId !== 'MAK') {
    throw new PaypadError('PROTOCOL_MALFORMED', `${MAC_HEADERS.keyId}: transactions are MAC'd under MAK, not ${request.keyId}`);
  }
  const mac = terminalMac(hsm, terminal, 'MAK', x.decoy);
  // The MAC first: an unauthenticated sender learns nothing of the stored sequence or exchanges.
  await verifyRequest(request, mac, 0);
  const mak = terminal.workingKeys?.MAK;
  if (mak === undefined) throw new PaypadError('INTERNAL', 'a request verified under a MAK the terminal does not have');

  const key: ExchangeKey = { customerCode: terminal.customerCode, serial: terminal.serial, generation: terminal.generation, seq: request.seq };
  const requestSha256 = toHex(sha256(requestMacInput(request, request.body)));
  const again = () => answerAgain(store, key, requestSha256, request, mac);
  if (request.seq <= terminal.lastSeq) return again();

  let message: M;
  try {
    message = x.read();
  } catch (e) {
    return refusal(request, mac, e);
  }
  const claimed = await store.claimExchange({ ...key, route: x.route, requestSha256, makBlock: mak.block, at: x.clock() });
  // Another request took this number first (another host, or a retry racing its first copy).
  if (!claimed) return again();

  let answer: StoredAnswer;
  let failure: unknown;
  try {
    answer = { status: 200, body: JSON.stringify(await x.act(message)) };
  } catch (e) {
    failure = e;
    answer = { status: isPaypadError(e) ? httpStatusOf(e.code) : 500, body: JSON.stringify(toErrorBody(e)) };
  }
  await store.answerExchange(key, answer, x.clock());
  return reply(request, mac, answer, failure);
}

/** A sequence number used before: its stored answer for the same bytes, else a refusal (both MAC'd). */
async function answerAgain(store: PospStore, key: ExchangeKey, requestSha256: string, request: ReceivedRequest, mac: MacFunction): Promise<TerminalReply> {
  const stored = await store.exchange(key);
  if (stored === undefined || stored.requestSha256 !== requestSha256) {
    return refusal(request, mac, new PaypadError('PROTOCOL_REPLAY', `sequence ${request.seq} was used before by another request: replayed or reordered`));
  }
  if (stored.answer === undefined) {
    return refusal(request, mac, new PaypadError('POSP_REQUEST_IN_PROGRESS', `sequence ${request.seq} is still being answered: ask again in a moment`));
  }
  return reply(request, mac, stored.answer);
}

function refusal(request: ReceivedRequest, mac: MacFunction, e: unknown): Promise<TerminalReply> {
  return reply(request, mac, { status: isPaypadError(e) ? httpStatusOf(e.code) : 500, body: JSON.stringify(toErrorBody(e)) }, e);
}

async function reply(request: ReceivedRequest, mac: MacFunction, answer: StoredAnswer, failure?: unknown): Promise<TerminalReply> {
  const body = utf8ToBytes(answer.body);
  const headers = await signResponse({ status: answer.status, serial: request.serial, seq: request.seq }, body, mac);
  return failure === undefined ? { status: answer.status, headers, body } : { status: answer.status, headers, body, failure };
}
