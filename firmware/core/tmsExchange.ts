/**
 * One MAC'd exchange with the TMS (shared/protocol/updateMessages.ts): the request in the envelope
 * under MAK with the next persisted sequence number, the answer read only after its MAC verified
 * under MAK for that serial and sequence (X2), as POSP's exchange (paymentClient.ts):
 *   - no MAC: TMS_RESPONSE_UNSIGNED (its error code shown, never acted on);
 *   - bad MAC: MAC_MISMATCH (tampered, or an answer to another request replayed);
 *   - authenticated refusal: TmsRefusal (code TMS_REFUSED) with the TMS's own code;
 *   - authenticated answer: validated as the expected message.
 * Each step is synchronous on the vault; callers chain them as promise reactions (docs/firmware.md "Stack").
 * Runs in XS: no Node APIs.
 */
import { PaypadError, isPaypadError } from 'shared/errors';
import { MAX_BODY_BYTES, requestMacHeaders, requestMacInput, responseMacInput, responseMacOf } from 'shared/protocol/macEnvelope';
import { validateMessage } from 'shared/protocol/messages';
import { UPDATE_MAX_BODY_BYTES, type UpdateMessage, type UpdateMessageName, validateUpdateMessage } from 'shared/protocol/updateMessages';
import { decodeJson, encodeJson } from 'shared/protocol/validate';
import type { HttpMethod, HttpResponse } from '../hal/http';
import type { Storage } from '../hal/storage';
import { hasMacHeader, unsignedErrorCode } from './kmsClient';
import type { KeyVault } from './keyVault';
import { reserveSequence } from './terminalState';

/** An authenticated refusal: the TMS MAC'd its answer, so its error code can be acted on. */
export class TmsRefusal extends PaypadError {
  readonly tmsCode: string;
  readonly status: number;
  constructor(path: string, status: number, tmsCode: string, tmsMessage: string) {
    super('TMS_REFUSED', `the TMS refused ${path} (${status} ${tmsCode}: ${tmsMessage})`);
    this.tmsCode = tmsCode;
    this.status = status;
  }
}

/** A request MAC'd and ready to send: what its answer is verified against. */
export interface SignedTmsRequest {
  readonly method: HttpMethod;
  readonly path: string;
  readonly body: Uint8Array | undefined;
  readonly headers: Record<string, string>;
  readonly seq: number;
}

/** `message` (or no body, for a GET) MAC'd under MAK with the next sequence number, persisted first. */
export function signTmsRequest(vault: KeyVault, storage: Storage, serial: string, method: HttpMethod, path: string, message?: object): SignedTmsRequest {
  const body = message === undefined ? undefined : encodeJson(message);
  const fields = { method, path, serial, seq: reserveSequence(storage), keyId: 'MAK' as const };
  const tag = vault.mac('MAK', requestMacInput(fields, body ?? new Uint8Array(0)));
  const macHeaders = requestMacHeaders(fields, tag);
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  for (const name of Object.keys(macHeaders)) headers[name.toLowerCase()] = macHeaders[name];
  return { method, path, body, headers, seq: fields.seq };
}

/** TMS_RESPONSE_UNSIGNED or MAC_MISMATCH unless `response` carries a MAC under MAK for `request`. */
export function authenticateTmsAnswer(vault: KeyVault, serial: string, request: SignedTmsRequest, response: HttpResponse): void {
  if (!hasMacHeader(response.headers)) {
    throw new PaypadError('TMS_RESPONSE_UNSIGNED', `the TMS answered ${request.path} with ${response.status} and no MAC (unauthenticated diagnostic: ${unsignedErrorCode(response)})`);
  }
  const fields = { status: response.status, serial, seq: request.seq };
  try {
    vault.verifyMac('MAK', responseMacInput(fields, response.body), responseMacOf(response.headers));
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    throw new PaypadError(e.code, `TMS answer to ${request.path}: ${e.code === 'MAC_MISMATCH' ? 'MAC does not verify' : e.message}`);
  }
}

/** An authenticated answer validated as `name`; an authenticated refusal as a TmsRefusal. */
export function readTmsAnswer<N extends UpdateMessageName>(request: SignedTmsRequest, response: HttpResponse, name: N): UpdateMessage<N> {
  if (response.status !== 200) {
    const { error } = decodeJson(response.body, MAX_BODY_BYTES, (value) => validateMessage('errorBody', value), 'errorBody');
    throw new TmsRefusal(request.path, response.status, error.code, error.message);
  }
  return decodeJson(response.body, UPDATE_MAX_BODY_BYTES, (value) => validateUpdateMessage(name, value), name);
}
