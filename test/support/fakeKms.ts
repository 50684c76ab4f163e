/**
 * The one simulated customer KMS of the terminal tests, in Node (test/unit/terminal) and in the XS
 * engine (test/xs): built from shared/crypto and shared/protocol rather than host/kms, over real
 * HTTPS with the paypad TLS settings (host/tls/serverOptions). It knows every key in clear
 * (keyVaultFixture SoftwareBackOffice), so a test can compare what the terminal reports with what
 * the KMS made (A11, A12) and search the terminal's files for them (X1).
 *
 *   POST /kms/v1/terminals/<serial>/tmk       tmkRequest -> tmkResponse          (A11)
 *   POST /kms/v1/terminals/<serial>/sign-on   signOnRequest -> signOnResponse    (A12)
 *
 * As docs/key-loading.md "Terminal <-> KMS messages" has it: the request MAC is checked under
 * K_tkmac (or MAK, sign-on only) in constant time, then the sequence must exceed the last one
 * seen; answers are MAC'd under the request's key over status, serial and sequence. A request
 * the KMS cannot authenticate gets an UNSIGNED error body; one it authenticated but refuses (a
 * replay) gets a MAC'd one. As the real KMS, a serial it holds no TK for is answered as a wrong
 * MAC (401 MAC_MISMATCH, unsigned): no serial oracle. `tamper` lets a test change an answer on its
 * way out; TAMPERS has the usual ones.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fromHex, toHex, utf8ToBytes } from '../../shared/bytes';
import { aesCmac } from '../../shared/crypto/cmac';
import { keyCheckValue } from '../../shared/crypto/kcv';
import { deriveKeyCounterCmac } from '../../shared/crypto/kdf';
import { PaypadError, isPaypadError } from '../../shared/errors';
import { MAX_BODY_BYTES, type MacFunction, type MacKeyId, type ReceivedRequest, parseRequest, signResponse, tkMacKdfParams, verifyRequest } from '../../shared/protocol/macEnvelope';
import { toErrorBody, validateMessage } from '../../shared/protocol/messages';
import { assertFreshSequence } from '../../shared/protocol/sequence';
import { decodeJson, encodeJson } from '../../shared/protocol/validate';
import { serverTlsOptions } from '../../host/tls/serverOptions';
import type { TlsIdentity } from '../../host/tls/identity';
import { SoftwareBackOffice, openTkEnvelope } from './keyVaultFixture';

export type KmsRoute = 'tmk' | 'sign-on';

/** Builds an answer MAC'd under the key and for the sequence of the request being answered. */
export type Signer = (status: number, message: unknown) => Promise<KmsReply>;

export interface KmsReply {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** One request as the KMS saw it, for tests to check what the terminal sent. */
export interface KmsRequestRecord {
  readonly route: KmsRoute;
  readonly keyId: MacKeyId;
  readonly seq: number;
  readonly status: number;
  /** The error code answered, if any. */
  readonly error?: string;
}

interface TerminalAccount {
  readonly office: SoftwareBackOffice;
  readonly tkMacKey: Uint8Array;
  lastSeq: number;
  /** KCVs (hex) of the keys last issued, by slot name. */
  readonly issued: Record<string, string>;
}

const PATH = /^\/kms\/v1\/terminals\/([^/?]+)\/(tmk|sign-on)$/;

export class FakeKms {
  readonly requests: KmsRequestRecord[] = [];
  /**
   * Changes an answer on its way out, for tests of what the terminal refuses: return `reply`
   * altered (its MAC then fails), or a new message MAC'd correctly by `sign` (a KMS that lies).
   */
  tamper: ((route: KmsRoute, reply: KmsReply, sign: Signer) => KmsReply | Promise<KmsReply>) | undefined;
  private readonly accounts = new Map<string, TerminalAccount>();
  private readonly deliveries = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    /** The MTMS intake key pair the terminal's TK is wrapped for (A10); the KMS receives TKs through it. */
    readonly mtms: SoftwareBackOffice['mtms'],
    private readonly seed: string,
  ) {}

  /** `seed` makes every key this KMS issues (and MTMS's intake key) repeatable, per serial and delivery. */
  static async start(tls: TlsIdentity, seed = 'fake kms'): Promise<FakeKms> {
    const server = createServer(serverTlsOptions(tls));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const kms = new FakeKms(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, new SoftwareBackOffice(seed).mtms, seed);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void kms.serve(req, res));
    return kms;
  }

  /**
   * A5-A7 in one step: MTMS opens the terminal's envelope with its intake key and the KMS holds
   * the TK from now on. A TK for a known serial replaces it, with a new sequence (A13).
   */
  receiveTransportKey(serial: string, envelopeHex: string): void {
    this.receiveTk(serial, openTkEnvelope(this.mtms, fromHex(envelopeHex, 'TK envelope'), serial));
  }

  /** A7 alone: MTMS (the test's, with its own intake key) delivered `tk` for `serial`. */
  receiveTk(serial: string, tk: Uint8Array): void {
    // Each delivery for a serial gets its own key stream: a repaired terminal (A13) gets new keys.
    const delivery = (this.deliveries.get(serial) ?? 0) + 1;
    this.deliveries.set(serial, delivery);
    const office = new SoftwareBackOffice(`${this.seed}|${serial}|${delivery}`);
    office.tk = tk;
    this.accounts.set(serial, { office, tkMacKey: deriveKeyCounterCmac(tk, tkMacKdfParams(serial)), lastSeq: 0, issued: {} });
  }

  /** The KMS has seen sequence `seq` from `serial` already (a terminal restored from an old copy replays). */
  sawSequence(serial: string, seq: number): void {
    this.account(serial).lastSeq = seq;
  }

  /** KCVs of the keys last issued to `serial`, by slot name (TK, TMK, PIK, MAK, TDK, DMK). */
  issuedKcvs(serial: string): Record<string, string> {
    const account = this.account(serial);
    return { TK: toHex(keyCheckValue(account.office.tk as Uint8Array, 'cmac')), ...account.issued };
  }

  /** Every key of `serial` in clear (TK, K_tkmac, TMK, working keys): for the X1 searches. */
  clearKeys(serial: string): Uint8Array[] {
    const { office, tkMacKey } = this.account(serial);
    return [office.tk, tkMacKey, office.tmk, ...office.workingKeys.values()].filter((k): k is Uint8Array => k !== undefined);
  }

  /** A working key last issued to `serial`, in clear: for a TMS beside this KMS in the update tests (MAK, DMK). */
  workingKey(serial: string, name: 'PIK' | 'MAK' | 'TDK' | 'DMK'): Uint8Array {
    const key = this.account(serial).office.workingKeys.get(name);
    if (key === undefined) throw new Error(`fake KMS: no ${name} issued to ${serial}`);
    return key;
  }

  /** The KMS loses the serial, as if MTMS had never delivered its TK (so keys repeat for a seed). */
  forget(serial: string): void {
    this.accounts.delete(serial);
    this.deliveries.delete(serial);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private account(serial: string): TerminalAccount {
    const account = this.accounts.get(serial);
    if (!account) throw new PaypadError('MAC_MISMATCH', 'request MAC does not verify');
    return account;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let reply: KmsReply;
    let record: Omit<KmsRequestRecord, 'status' | 'error'> | undefined;
    try {
      const body = await readBody(req);
      const match = PATH.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) throw new PaypadError('NOT_FOUND', 'no such KMS route');
      const route = match[2] as KmsRoute;
      const request = parseRequest(req.method, req.url as string, req.headers, body);
      if (request.serial !== match[1]) throw new PaypadError('PROTOCOL_MALFORMED', 'the serial in the path is not the one in Paypad-Serial');
      record = { route, keyId: request.keyId, seq: request.seq };
      const account = this.account(request.serial);
      const mac = this.macFor(account, route, request.keyId);
      const sign: Signer = (status, message) => signed(status, request.serial, request.seq, encodeJson(message), mac);
      reply = await this.answer(route, request, account, mac, sign);
      if (this.tamper) reply = await this.tamper(route, reply, sign);
    } catch (e) {
      // Not authenticated (or not readable): the answer cannot be MAC'd, and says only why.
      reply = { status: isPaypadError(e) ? (STATUS[e.code] ?? 400) : 500, headers: {}, body: encodeJson(toErrorBody(e)) };
    }
    const error = reply.status === 200 ? undefined : errorCodeOf(reply.body);
    if (record) this.requests.push({ ...record, status: reply.status, ...(error ? { error } : {}) });
    res.writeHead(reply.status, { ...reply.headers, 'content-type': 'application/json' });
    res.end(Buffer.from(reply.body));
  }

  /** The MAC first (its sequence check deferred), then the sequence; only then is anything issued. */
  private async answer(route: KmsRoute, request: ReceivedRequest, account: TerminalAccount, mac: MacFunction, reply: Signer): Promise<KmsReply> {
    await verifyRequest(request, mac, 0);
    try {
      assertFreshSequence(request.seq, account.lastSeq);
      account.lastSeq = request.seq;
      return await reply(200, route === 'tmk' ? this.issueTmk(account, request.body) : this.signOn(account, request.body));
    } catch (e) {
      // Authenticated, then refused (a replay, a key state): MAC'd, so the terminal can act on its code.
      if (!isPaypadError(e)) throw e;
      return reply(STATUS[e.code] ?? 400, toErrorBody(e));
    }
  }

  /** Sign-on may go under MAK once one was issued; the TMK download only ever under K_tkmac. */
  private macFor(account: TerminalAccount, route: KmsRoute, keyId: MacKeyId): MacFunction {
    if (keyId === 'TK') return (data) => aesCmac(account.tkMacKey, data);
    const mak = account.office.workingKeys.get('MAK');
    if (route !== 'sign-on' || !mak) throw new PaypadError('MAC_MISMATCH', 'no MAK is current for this terminal');
    return (data) => aesCmac(mak, data);
  }

  private issueTmk(account: TerminalAccount, body: Uint8Array): object {
    decodeJson(body, MAX_BODY_BYTES, (v) => validateMessage('tmkRequest', v), 'tmkRequest');
    const { block, kcv } = account.office.issueTerminalMasterKey();
    account.office.workingKeys.clear();
    for (const name of ['PIK', 'MAK', 'TDK', 'DMK']) delete account.issued[name];
    account.issued.TMK = toHex(kcv);
    return { v: 1, tmkBlock: block, kcv: toHex(kcv) };
  }

  private signOn(account: TerminalAccount, body: Uint8Array): object {
    decodeJson(body, MAX_BODY_BYTES, (v) => validateMessage('signOnRequest', v), 'signOnRequest');
    if (!account.office.tmk) throw new PaypadError('KMS_KEY_STATE', 'no TMK has been issued to this terminal');
    const keys = account.office.signOn().map((k) => ({ name: k.name, block: k.block, kcv: toHex(k.kcv) }));
    for (const k of keys) account.issued[k.name] = k.kcv;
    return { v: 1, keys };
  }
}

async function signed(status: number, serial: string, seq: number, body: Uint8Array, mac: MacFunction): Promise<KmsReply> {
  return { status, headers: await signResponse({ status, serial, seq }, body, mac), body };
}

const STATUS: Record<string, number> = { NOT_FOUND: 404, MAC_MISMATCH: 401, PROTOCOL_REPLAY: 409, KMS_KEY_STATE: 409 };

type Tamper = NonNullable<FakeKms['tamper']>;

/** The answers tests have the KMS spoil, each refused by the terminal for its own reason (X2). */
export const TAMPERS = {
  /** A bit of Paypad-Mac flipped: MAC_MISMATCH. */
  'response-mac': (_route, reply) => ({ ...reply, headers: { ...reply.headers, 'Paypad-Mac': flipFirstHexDigit(reply.headers['Paypad-Mac']) } }),
  /** The body changed after it was MAC'd: MAC_MISMATCH. */
  'response-body': (_route, reply) => ({ ...reply, body: utf8ToBytes(new TextDecoder().decode(reply.body).replace('"v":1', '"v":1 ')) }),
  /** A good body without Paypad-Mac: KMS_RESPONSE_UNSIGNED. */
  unsigned: (_route, reply) => ({ ...reply, headers: {} }),
  /** MAC'd, but the KCV of the TMK (of the DMK, the last key, at sign-on) is wrong: KCV_MISMATCH, and none of the keys before it is stored either. */
  kcv: (route, reply, sign) => {
    const message = JSON.parse(new TextDecoder().decode(reply.body)) as { kcv?: string; keys?: { kcv: string }[] };
    if (route === 'tmk' && message.kcv) message.kcv = flipFirstHexDigit(message.kcv);
    const last = message.keys?.at(-1);
    if (route === 'sign-on' && last) last.kcv = flipFirstHexDigit(last.kcv);
    return sign(reply.status, message);
  },
  /** A MAC'd refusal: KMS_REFUSED, KMS_KEY_STATE. */
  refuse: (_route, _reply, sign) => sign(409, { error: { code: 'KMS_KEY_STATE', message: 'not now' } }),
  /** Answered as by a KMS that holds no TK for the terminal: unsigned 401 MAC_MISMATCH. */
  'unknown-terminal': () => ({ status: 401, headers: {}, body: encodeJson({ error: { code: 'MAC_MISMATCH', message: 'request MAC does not verify' } }) }),
} satisfies Record<string, Tamper>;

function flipFirstHexDigit(hex: string): string {
  return (hex[0] === '0' ? '1' : '0') + hex.slice(1);
}

function errorCodeOf(body: Uint8Array): string | undefined {
  try {
    return (JSON.parse(new TextDecoder().decode(body)) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_BODY_BYTES) reject(new PaypadError('PAYLOAD_TOO_LARGE', 'request body over the limit'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}
