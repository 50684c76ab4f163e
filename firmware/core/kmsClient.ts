/**
 * The PIN pad's side of key loading with its KMS (docs/key-loading.md "Flow" 4-5; A11, A12, X2):
 *
 *   POST <kmsUrl>/kms/v1/terminals/<serial>/tmk       tmkRequest -> tmkResponse      (A11)
 *   POST <kmsUrl>/kms/v1/terminals/<serial>/sign-on   signOnRequest -> signOnResponse (A12)
 *
 * Every request goes out in the MAC'd envelope (shared/protocol/macEnvelope) under a key the
 * vault holds: K_tkmac for the TMK download and for a sign-on before the first one, MAK after
 * (terminalState.ts says when the MAK is current). The sequence number is persisted before the
 * request is built (terminalState.reserveSequence).
 *
 * A response is trusted only after its MAC verifies, under the key that MAC'd the request. Then:
 *   - unsigned (the KMS could not authenticate us): KMS_RESPONSE_UNSIGNED; its body is only a
 *     diagnostic, and only its error code is shown;
 *   - bad MAC: MAC_MISMATCH; malformed MAC header: PROTOCOL_MALFORMED;
 *   - authenticated refusal: KmsRefusal (code KMS_REFUSED) carrying the KMS's own error code;
 *   - authenticated answer: validated, then imported by the vault, which checks every KCV.
 * In every failing case nothing is stored but the used sequence number.
 * Runs in XS: no Node APIs.
 */
import { fromHex, toHex } from 'shared/bytes';
import { PaypadError, isPaypadError } from 'shared/errors';
import { MAC_HEADERS, MAX_BODY_BYTES, type MacFunction, type MacKeyId, signRequest, verifyResponse } from 'shared/protocol/macEnvelope';
import { MESSAGE_VERSION, type Message, type SignOnRequest, type TmkRequest, validateMessage } from 'shared/protocol/messages';
import { kmsTerminalPath } from 'shared/protocol/kmsPaths';
import { decodeJson, encodeJson } from 'shared/protocol/validate';
import type { Http, HttpResponse } from '../hal/http';
import type { Storage } from '../hal/storage';
import type { KeySlotInfo, KeyVault } from './keyVault';
import type { TerminalIdentity } from './terminalIdentity';
import { readTerminalState, reserveSequence, writeTerminalState } from './terminalState';

export type KmsRoute = 'tmk' | 'sign-on';

type AnswerName = 'tmkResponse' | 'signOnResponse';

/** An authenticated refusal: the KMS MAC'd its answer, so its error code can be acted on. */
export class KmsRefusal extends PaypadError {
  /** The KMS's error code, e.g. PROTOCOL_REPLAY or KMS_TERMINAL_UNKNOWN. */
  readonly kmsCode: string;
  readonly status: number;
  constructor(route: KmsRoute, status: number, kmsCode: string, kmsMessage: string) {
    super('KMS_REFUSED', `the KMS refused the ${route} request (${status} ${kmsCode}: ${kmsMessage}); nothing was stored`);
    this.kmsCode = kmsCode;
    this.status = status;
  }
}

export interface KmsClientOptions {
  readonly identity: TerminalIdentity;
  readonly vault: KeyVault;
  readonly storage: Storage;
  readonly http: Http;
}

export class KmsClient {
  readonly #identity: TerminalIdentity;
  readonly #vault: KeyVault;
  readonly #storage: Storage;
  readonly #http: Http;

  constructor(options: KmsClientOptions) {
    this.#identity = options.identity;
    this.#vault = options.vault;
    this.#storage = options.storage;
    this.#http = options.http;
  }

  /**
   * The key the next sign-on is MAC'd under: MAK once a sign-on completed under the TMK the vault
   * holds now, else K_tkmac ('TK'), which the KMS always accepts for sign-on (host/kms).
   * A sign-on answer lost in transit leaves the KMS with working keys we never got, so a later
   * MAK-MAC'd sign-on is refused unsigned; a TMK download (load-keys starts with one) recovers.
   */
  signOnKeyId(): MacKeyId {
    const { signedOnTmk } = readTerminalState(this.#storage);
    if (signedOnTmk === null || this.#vault.slotInfo('MAK') === null) return 'TK';
    const tmk = this.#vault.slotInfo('TMK');
    return tmk !== null && toHex(tmk.kcv) === signedOnTmk ? 'MAK' : 'TK';
  }

  /** A11: asks for a TMK under TK, MAC'd under K_tkmac; the vault unwraps it and checks its KCV. */
  async downloadTmk(): Promise<KeySlotInfo> {
    if (this.#vault.slotInfo('TK') === null) {
      throw new PaypadError('TERMINAL_STATE', 'there is no TK yet: the operator reads it over the local link first (A1, A10)');
    }
    const request: TmkRequest = { v: MESSAGE_VERSION };
    const answer = await this.#exchange('tmk', 'TK', request, 'tmkResponse');
    const info = this.#vault.importTerminalMasterKey(answer.tmkBlock, fromHex(answer.kcv, 'TMK KCV'));
    // The working keys in the vault belong to the old TMK now: the next sign-on goes under TK.
    writeTerminalState(this.#storage, { ...readTerminalState(this.#storage), signedOnTmk: null });
    return info;
  }

  /** A12: asks for PIK, MAK, TDK and DMK under TMK; the vault stores none unless every KCV matches. */
  async signOn(): Promise<KeySlotInfo[]> {
    const tmk = this.#vault.slotInfo('TMK');
    if (tmk === null) throw new PaypadError('TERMINAL_STATE', 'there is no TMK yet: download it first (A11)');
    const request: SignOnRequest = { v: MESSAGE_VERSION };
    const answer = await this.#exchange('sign-on', this.signOnKeyId(), request, 'signOnResponse');
    const infos = this.#vault.importWorkingKeys(answer.keys.map((k) => ({ name: k.name, block: k.block, kcv: fromHex(k.kcv, `${k.name} KCV`) })));
    writeTerminalState(this.#storage, { ...readTerminalState(this.#storage), signedOnTmk: toHex(tmk.kcv) });
    return infos;
  }

  /** One MAC'd round trip; returns the validated answer only once its MAC verified. */
  async #exchange<N extends AnswerName>(route: KmsRoute, keyId: MacKeyId, request: object, answerName: N): Promise<Message<N>> {
    const { serial, kmsUrl, trustAnchor } = this.#identity;
    const path = kmsTerminalPath(serial, route);
    const body = encodeJson(request);
    const mac: MacFunction = (data) => this.#vault.mac(keyId, data);
    const seq = reserveSequence(this.#storage);
    const signed = await signRequest({ method: 'POST', path, serial, seq, keyId }, body, mac);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const name of Object.keys(signed)) headers[name.toLowerCase()] = signed[name];
    const response = await this.#http.request({ method: 'POST', url: kmsUrl + path, headers, body, tls: { trustAnchor }, maxResponseBytes: MAX_BODY_BYTES });
    await authenticate(route, response, { status: response.status, serial, seq }, mac);
    if (response.status !== 200) throw refusal(route, response);
    return decodeJson(response.body, MAX_BODY_BYTES, (value) => validateMessage(answerName, value), answerName);
  }
}

function hasMacHeader(headers: HttpResponse['headers']): boolean {
  const name = MAC_HEADERS.mac.toLowerCase();
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

async function authenticate(route: KmsRoute, response: HttpResponse, fields: { status: number; serial: string; seq: number }, mac: MacFunction): Promise<void> {
  if (!hasMacHeader(response.headers)) {
    throw new PaypadError(
      'KMS_RESPONSE_UNSIGNED',
      `the KMS answered the ${route} request with status ${response.status} and no MAC (unauthenticated diagnostic: ${unsignedErrorCode(response)}); nothing was stored`,
    );
  }
  try {
    await verifyResponse(fields, response.headers, response.body, mac);
  } catch (e) {
    if (!isPaypadError(e)) throw e;
    throw new PaypadError(e.code, `KMS ${route} response: ${e.message}; nothing was stored`);
  }
}

/** The error code of an unsigned answer, for the operator to read; never acted on. */
function unsignedErrorCode(response: HttpResponse): string {
  try {
    return decodeJson(response.body, MAX_BODY_BYTES, (value) => validateMessage('errorBody', value), 'errorBody').error.code;
  } catch {
    return 'no readable error body';
  }
}

function refusal(route: KmsRoute, response: HttpResponse): PaypadError {
  const { error } = decodeJson(response.body, MAX_BODY_BYTES, (value) => validateMessage('errorBody', value), 'errorBody');
  return new KmsRefusal(route, response.status, error.code, error.message);
}
