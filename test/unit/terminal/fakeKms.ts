/**
 * A small KMS for the terminal tests, built from shared/crypto and shared/protocol only, over real
 * HTTPS with the host's TLS settings (host/tls/serverOptions): it serves
 *
 *   POST /kms/v1/terminals/<serial>/tmk       (A11: a new TMK under TK, K_tkmac only)
 *   POST /kms/v1/terminals/<serial>/sign-on   (A12: PIK, MAK, TDK, DMK under TMK; K_tkmac or MAK)
 *
 * the way docs/key-loading.md describes the KMS: request MAC verified before the sequence,
 * unauthenticated failures unsigned, every other answer MAC'd. It keeps every key in clear so the
 * test can compare KCVs and search the terminal's files for them (X1), records what it received,
 * and can be told to misbehave (`tamper`) to prove the terminal stores nothing it should not.
 */
import { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { asciiToBytes, toHex, utf8ToBytes } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { type Tr31HeaderInit, wrapKeyBlock } from '../../../shared/crypto/tr31';
import { isPaypadError } from '../../../shared/errors';
import { type MacFunction, type MacKeyId, parseRequest, signResponse, tkMacKdfParams, verifyRequest } from '../../../shared/protocol/macEnvelope';
import { WORKING_KEY_NAMES, type WorkingKeyName } from '../../../shared/protocol/messages';
import type { TlsIdentity } from '../../../host/tls/identity';
import { serverTlsOptions } from '../../../host/tls/serverOptions';
import { rng } from './support';

/** Delivery headers as the real KMS makes them (host/kms/kmsService deliveryHeader): exportability N, context 2. */
const HEADERS: Readonly<Record<'TMK' | WorkingKeyName, Tr31HeaderInit>> = {
  TMK: { keyUsage: 'K1', algorithm: 'A', modeOfUse: 'B', exportability: 'N', keyContext: '2' },
  PIK: { keyUsage: 'P0', algorithm: 'A', modeOfUse: 'E', exportability: 'N', keyContext: '2' },
  MAK: { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N', keyContext: '2' },
  TDK: { keyUsage: 'D0', algorithm: 'A', modeOfUse: 'B', exportability: 'N', keyContext: '2' },
  DMK: { keyUsage: 'K0', algorithm: 'A', modeOfUse: 'B', exportability: 'N', keyContext: '2' },
};

/**
 * none           behave
 * response-mac   flip a bit of the response MAC
 * response-body  change the body after MAC'ing it
 * unsigned       answer 200 with a good body but no Paypad-Mac
 * kcv            MAC a body with a wrong KCV (the TMK's; the DMK's at sign-on)
 * refuse         a MAC'd 409 refusal (KMS_KEY_STATE)
 * forget         answer as a KMS that holds no TK for the serial: unsigned 401 MAC_MISMATCH
 */
export type Tamper = 'none' | 'response-mac' | 'response-body' | 'unsigned' | 'kcv' | 'refuse' | 'forget';

export interface Received {
  readonly route: string;
  readonly seq: number;
  readonly keyId: MacKeyId;
  readonly authenticated: boolean;
}

export class FakeKms {
  readonly serial: string;
  tk: Uint8Array | undefined;
  tmk: Uint8Array | undefined;
  readonly workingKeys = new Map<WorkingKeyName, Uint8Array>();
  lastSeq = 0;
  tamper: Tamper = 'none';
  readonly received: Received[] = [];
  readonly #server: Server;
  #port = 0;

  private constructor(serial: string, identity: TlsIdentity) {
    this.serial = serial;
    this.#server = createServer(serverTlsOptions(identity), (req, res) => {
      this.#handle(req, res).catch((e) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { code: 'INTERNAL', message: String(e) } }));
      });
    });
  }

  static async start(serial: string, identity: TlsIdentity): Promise<FakeKms> {
    const kms = new FakeKms(serial, identity);
    await new Promise<void>((resolve) => kms.#server.listen(0, '127.0.0.1', resolve));
    kms.#port = (kms.#server.address() as AddressInfo).port;
    return kms;
  }

  get url(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** MTMS delivered this terminal's TK (A7); as the real KMS, a new TK starts a new sequence. */
  receiveTk(tk: Uint8Array): void {
    this.tk = tk;
    this.tmk = undefined;
    this.workingKeys.clear();
    this.lastSeq = 0;
  }

  /** Every key this KMS holds in clear, hex, for the X1 search. */
  secrets(): string[] {
    const keys = [this.tk, this.tk && deriveKeyCounterCmac(this.tk, tkMacKdfParams(this.serial)), this.tmk, ...this.workingKeys.values()];
    return keys.filter((k): k is Uint8Array => k !== undefined).map(toHex);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }

  #macKey(keyId: MacKeyId): Uint8Array | undefined {
    if (!this.tk) return undefined;
    return keyId === 'TK' ? deriveKeyCounterCmac(this.tk, tkMacKdfParams(this.serial)) : this.workingKeys.get('MAK');
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = new Uint8Array(Buffer.concat(chunks));
    const unsigned = (status: number, code: string) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code, message: `fake KMS: ${code}` } }));
    };
    let request;
    try {
      request = parseRequest(req.method ?? '', req.url ?? '', req.headers, body);
    } catch (e) {
      return unsigned(400, isPaypadError(e) ? e.code : 'INTERNAL');
    }
    const route = /^\/kms\/v1\/terminals\/([A-Z0-9-]+)\/(tmk|sign-on)$/.exec(request.path);
    if (!route) return unsigned(404, 'NOT_FOUND');
    // As the real KMS: a serial it does not hold, or a key the terminal has not loaded, is answered as a wrong MAC.
    const known = route[1] === this.serial && request.serial === this.serial && this.tamper !== 'forget';
    const key = known ? this.#macKey(request.keyId) : undefined;
    if (!key) return unsigned(401, 'MAC_MISMATCH');
    const mac: MacFunction = (data) => aesCmac(key, data);
    try {
      await verifyRequest(request, mac, this.lastSeq);
    } catch (e) {
      this.received.push({ route: route[2], seq: request.seq, keyId: request.keyId, authenticated: false });
      if (isPaypadError(e, 'PROTOCOL_REPLAY')) return this.#reply(res, request, mac, 409, { error: { code: e.code, message: 'replayed' } });
      return unsigned(401, isPaypadError(e) ? e.code : 'INTERNAL');
    }
    this.lastSeq = request.seq;
    this.received.push({ route: route[2], seq: request.seq, keyId: request.keyId, authenticated: true });
    if (this.tamper === 'refuse') return this.#reply(res, request, mac, 409, { error: { code: 'KMS_KEY_STATE', message: 'not now' } });
    if (route[2] === 'tmk') {
      if (request.keyId !== 'TK') return this.#reply(res, request, mac, 400, { error: { code: 'PROTOCOL_MALFORMED', message: 'TMK under TK only' } });
      const tmk = rng(16);
      const answer = { v: 1, tmkBlock: wrapKeyBlock(this.tk as Uint8Array, HEADERS.TMK, tmk, rng), kcv: kcvHex(tmk, this.tamper === 'kcv') };
      // A new TMK drops the working keys issued under the old one, as host/kms does.
      this.tmk = tmk;
      this.workingKeys.clear();
      return this.#reply(res, request, mac, 200, answer);
    }
    if (!this.tmk) return this.#reply(res, request, mac, 409, { error: { code: 'KMS_KEY_STATE', message: 'no TMK yet' } });
    // Under tamper 'kcv' only the last key's KCV is wrong: the three before it must not be stored either.
    const keys = WORKING_KEY_NAMES.map((name) => {
      const key = rng(16);
      return { name, key, block: wrapKeyBlock(this.tmk as Uint8Array, HEADERS[name], key, rng), kcv: kcvHex(key, this.tamper === 'kcv' && name === 'DMK') };
    });
    // Like the real KMS, it has issued the keys once it answers, whether or not the terminal takes them.
    for (const k of keys) this.workingKeys.set(k.name, k.key);
    return this.#reply(res, request, mac, 200, { v: 1, keys: keys.map(({ name, block, kcv }) => ({ name, block, kcv })) });
  }

  async #reply(res: ServerResponse, request: { serial: string; seq: number }, mac: MacFunction, status: number, message: object): Promise<void> {
    let body = utf8ToBytes(JSON.stringify(message));
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(await signResponse({ status, serial: request.serial, seq: request.seq }, body, mac)) };
    if (this.tamper === 'response-mac') headers['Paypad-Mac'] = flipFirstHexDigit(headers['Paypad-Mac']);
    if (this.tamper === 'response-body') body = asciiToBytes(JSON.stringify(message).replace(/"v":1/, '"v":1 '));
    if (this.tamper === 'unsigned') delete headers['Paypad-Mac'];
    res.writeHead(status, headers).end(body);
  }
}

function kcvHex(key: Uint8Array, wrong: boolean): string {
  const kcv = keyCheckValue(key, 'cmac');
  if (wrong) kcv[0] ^= 1;
  return toHex(kcv);
}

function flipFirstHexDigit(hex: string): string {
  return (hex[0] === '0' ? '1' : '0') + hex.slice(1);
}
