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
import { MAC_HEADERS, MAX_BODY_BYTES, type MacKeyId, requestMacHeaders, requestMacInput, responseMacInput, responseMacOf } from 'shared/protocol/macEnvelope';
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
  downloadTmk(): Promise<KeySlotInfo> {
    const request: TmkRequest = { v: MESSAGE_VERSION };
    return this.#exchange('tmk', request, () => {
      if (this.#vault.slotInfo('TK') === null) {
        throw new PaypadError('TERMINAL_STATE', 'there is no TK yet: the operator reads it over the local link first (A1, A10)');
      }
      return 'TK';
    }, 'tmkResponse', (answer) => {
      const info = this.#vault.importTerminalMasterKey(answer.tmkBlock, fromHex(answer.kcv, 'TMK KCV'));
      // The working keys in the vault belong to the old TMK now: the next sign-on goes under TK.
      writeTerminalState(this.#storage, { ...readTerminalState(this.#storage), signedOnTmk: null });
      return info;
    });
  }

  /** A12: asks for PIK, MAK, TDK and DMK under TMK; the vault stores none unless every KCV matches. */
  signOn(): Promise<KeySlotInfo[]> {
    const request: SignOnRequest = { v: MESSAGE_VERSION };
    let signedOnTmk = '';
    return this.#exchange('sign-on', request, () => {
      const tmk = this.#vault.slotInfo('TMK');
      if (tmk === null) throw new PaypadError('TERMINAL_STATE', 'there is no TMK yet: download it first (A11)');
      signedOnTmk = toHex(tmk.kcv);
      return this.signOnKeyId();
    }, 'signOnResponse', (answer) => {
      const infos = this.#vault.importWorkingKeys(answer.keys.map((k) => ({ name: k.name, block: k.block, kcv: fromHex(k.kcv, `${k.name} KCV`) })));
      writeTerminalState(this.#storage, { ...readTerminalState(this.#storage), signedOnTmk });
      return infos;
    });
  }

  /**
   * One MAC'd round trip: `keyFor` checks the state and names the MAC key, `message` is MAC'd
   * and sent, and `accept` gets the validated answer only once its MAC verified.
   *
   * A chain of promise reactions, not async functions: on the device each step starts from the
   * event loop's empty stack, so the deepest chain is one step's own (the vault opening a key
   * record: TR-31 unwrap, KDF, CMAC), not that stacked on every caller's frames, and an async
   * function's frame is not on the stack twice while it runs (docs/firmware.md "Stack").
   */
  #exchange<N extends AnswerName, T>(route: KmsRoute, message: object, keyFor: () => MacKeyId, answerName: N, accept: (answer: Message<N>) => T): Promise<T> {
    return Promise.resolve()
      .then(() => this.#sign(route, message, keyFor()))
      .then((request) => this.#send(request))
      .then(({ request, response }) => {
        this.#authenticate(route, request, response);
        return response;
      })
      .then((response) => accept(answer(route, response, answerName)));
  }

  #send(request: SignedRequest): Promise<{ request: SignedRequest; response: HttpResponse }> {
    const { kmsUrl, trustAnchor } = this.#identity;
    return this.#http
      .request({ method: 'POST', url: kmsUrl + request.path, headers: request.headers, body: request.body, tls: { trustAnchor }, maxResponseBytes: MAX_BODY_BYTES })
      .then((response) => ({ request, response }));
  }

  /** `message` as the request of `route`, MAC'd under `keyId` with the next sequence number (persisted first). */
  #sign(route: KmsRoute, message: object, keyId: MacKeyId): SignedRequest {
    const { serial } = this.#identity;
    const path = kmsTerminalPath(serial, route);
    const body = encodeJson(message);
    const fields = { method: 'POST', path, serial, seq: reserveSequence(this.#storage), keyId };
    const headers = requestMacHeaders(fields, this.#vault.mac(keyId, requestMacInput(fields, body)));
    const out: Record<string, string> = { 'content-type': 'application/json' };
    for (const name of Object.keys(headers)) out[name.toLowerCase()] = headers[name];
    return { path, body, headers: out, keyId, seq: fields.seq };
  }

  /** Throws unless the response carries a MAC that verifies under the request's key (nothing is read from it before). */
  #authenticate(route: KmsRoute, request: SignedRequest, response: HttpResponse): void {
    if (!hasMacHeader(response.headers)) {
      throw new PaypadError(
        'KMS_RESPONSE_UNSIGNED',
        `the KMS answered the ${route} request with status ${response.status} and no MAC (unauthenticated diagnostic: ${unsignedErrorCode(response)}); nothing was stored`,
      );
    }
    const fields = { status: response.status, serial: this.#identity.serial, seq: request.seq };
    try {
      this.#vault.verifyMac(request.keyId, responseMacInput(fields, response.body), responseMacOf(response.headers));
    } catch (e) {
      if (!isPaypadError(e)) throw e;
      throw new PaypadError(e.code, `KMS ${route} response: ${e.code === 'MAC_MISMATCH' ? 'response MAC does not verify' : e.message}; nothing was stored`);
    }
  }
}

/** An authenticated response's answer, validated; an authenticated refusal as a KmsRefusal. */
function answer<N extends AnswerName>(route: KmsRoute, response: HttpResponse, answerName: N): Message<N> {
  if (response.status !== 200) throw refusal(route, response);
  return decodeJson(response.body, MAX_BODY_BYTES, (value) => validateMessage(answerName, value), answerName);
}

/** A request as sent: what the answer is verified against. */
interface SignedRequest {
  readonly path: string;
  readonly body: Uint8Array;
  readonly headers: Record<string, string>;
  readonly keyId: MacKeyId;
  readonly seq: number;
}

export function hasMacHeader(headers: HttpResponse['headers']): boolean {
  const name = MAC_HEADERS.mac.toLowerCase();
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/** The error code of an unsigned answer, for the operator to read; never acted on (paymentClient.ts too). */
export function unsignedErrorCode(response: HttpResponse): string {
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
