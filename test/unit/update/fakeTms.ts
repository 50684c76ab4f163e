/**
 * A small in-test TMS (the host's own TMS lands in host/tms): the terminal's side of the update
 * protocol (firmware/core/updateClient.ts) is tested against it over an in-process Http. It keeps
 * the protocol exactly (shared/protocol/update*), with the terminal's MAK and DMK in clear, and has
 * knobs for what a wrong or hostile server does: another DMK, a flipped bit in a chunk, 200 for a
 * range request, an earlier answer replayed, and a connection that hangs (a power cut: the
 * terminal's code never runs again in that life).
 */
import { createHash } from 'node:crypto';
import { fromHex, toHex, utf8ToBytes } from '../../../shared/bytes';
import { aesCmac } from '../../../shared/crypto/cmac';
import { deriveKeyCounterCmac } from '../../../shared/crypto/kdf';
import { type P256KeyPair } from '../../../shared/crypto/keyTransport';
import { wrapKeyBlock } from '../../../shared/crypto/tr31';
import { parseRequest, signResponse, verifyRequest } from '../../../shared/protocol/macEnvelope';
import { DWK_BYTES, sacInput, tacInput, updateContext } from '../../../shared/protocol/updateAuth';
import { chunkKeyParams, chunkMacInput, contentRangeHeader } from '../../../shared/protocol/updateChunks';
import { type Manifest, type SignedManifest, signManifest } from '../../../shared/protocol/updateManifest';
import { type UpdateStatusReport, validateUpdateMessage } from '../../../shared/protocol/updateMessages';
import type { Http, HttpRequest, HttpResponse } from '../../../firmware/hal/http';

export const MODEL = 'PP-ESP32';
export const PROGRAM = 'paypad-firmware';

/** A package: the image and its signed manifest (fields overridable, to make bad ones). */
export function makePackage(image: Uint8Array, vendor: P256KeyPair, fields: Partial<Manifest> = {}): SignedManifest {
  const manifest: Manifest = {
    v: 1,
    name: PROGRAM,
    version: '1.1.0',
    models: [MODEL],
    size: image.length,
    sha256: createHash('sha256').update(image).digest('hex').toUpperCase(),
    minimumVersion: '1.0.0',
    securityCounter: 1,
    metadataVersion: 1,
    expires: '2099-01-01T00:00:00Z',
    ...fields,
  };
  return signManifest(manifest, vendor.privateKey, vendor.publicKey);
}

interface Session {
  readonly dwk: Uint8Array;
  readonly sData: Uint8Array;
  readonly packageDigest: string;
  open: boolean;
}

export interface FakeTmsOptions {
  readonly serial: string;
  readonly mak: Uint8Array;
  /** The DMK the TMS wraps DWK under: the terminal's, or another one (a fake TMS). */
  readonly dmk: Uint8Array;
  readonly image: Uint8Array;
  readonly signed: SignedManifest;
  readonly chunkBytes: number;
  readonly rng: (n: number) => Uint8Array;
}

export class FakeTms implements Http {
  readonly #o: FakeTmsOptions;
  #signed: SignedManifest;
  #image: Uint8Array;
  #lastSeq = 0;
  readonly #sessions = new Map<string, Session>();
  /** Every DWK this TMS made, in clear: for the X1 searches of what the terminal keeps. */
  readonly dwks: Uint8Array[] = [];
  /** Every status report, in order. */
  readonly reports: UpdateStatusReport[] = [];
  /** The offset of every chunk request that was answered. */
  readonly chunksServed: number[] = [];
  /** Image requests answered: stop answering after this many (a power cut at that chunk boundary). */
  hangAfterChunks = Infinity;
  /** Hang on a status report of this status (a power cut at that moment). */
  hangOnStatus: UpdateStatusReport['status'] | undefined;
  /** Flip one bit of the chunk served at this offset. */
  flipChunkAt: number | undefined;
  /** Answer range requests with 200 and the whole image, as a server ignoring Range. */
  ignoreRange = false;
  /** Answer the next session request with the first session's challenge, replayed. */
  replayChallenge = false;
  #firstChallenge: HttpResponse | undefined;
  /** Compute TAC-I over another T-DATA (a TMS replaying an old exchange's cryptogram). */
  staleTac = false;
  /** No offer (nothing targeted at the terminal). */
  offering = true;
  queries = 0;

  constructor(options: FakeTmsOptions) {
    this.#o = options;
    this.#signed = options.signed;
    this.#image = options.image;
  }

  /** Offer another package from now on. */
  offer(signed: SignedManifest, image: Uint8Array): void {
    this.#signed = signed;
    this.#image = image;
  }

  async request(request: HttpRequest): Promise<HttpResponse> {
    const url = new URL(request.url);
    const path = url.pathname;
    const received = parseRequest(request.method, path, request.headers ?? {}, request.body ?? new Uint8Array(0));
    await verifyRequest(received, (data) => aesCmac(this.#o.mak, data), this.#lastSeq);
    this.#lastSeq = received.seq;
    const seq = received.seq;
    const body = request.body === undefined ? undefined : JSON.parse(new TextDecoder().decode(request.body));
    const base = `/tms/v1/terminals/${this.#o.serial}/update`;
    if (path === `${base}/query`) {
      validateUpdateMessage('updateQuery', body);
      this.queries++;
      return this.#answer(seq, 200, { v: 1, ...(this.offering ? { offer: { deployment: 'D1', mode: 'forced', package: this.#signed } } : {}) });
    }
    if (path === `${base}/sessions`) {
      const auth = validateUpdateMessage('updateAuthRequest', body);
      if (this.replayChallenge && this.#firstChallenge) return this.#firstChallenge;
      const dwk = this.#o.rng(DWK_BYTES);
      this.dwks.push(dwk);
      const sData = this.#o.rng(16);
      const sessionId = toHex(this.#o.rng(16));
      this.#sessions.set(sessionId, { dwk, sData, packageDigest: auth.packageDigest, open: false });
      const context = updateContext({ serial: this.#o.serial, sessionId, packageDigest: auth.packageDigest });
      const dwkBlock = wrapKeyBlock(this.#o.dmk, { keyUsage: 'M6', algorithm: 'A', modeOfUse: 'C', exportability: 'N' }, dwk, this.#o.rng);
      const answer = await this.#answer(seq, 200, {
        v: 1,
        sessionId,
        dwk: dwkBlock,
        tac: toHex(aesCmac(dwk, tacInput(this.staleTac ? new Uint8Array(16) : fromHex(auth.tData), context))),
        sData: toHex(sData),
        chunkBytes: this.#o.chunkBytes,
      });
      this.#firstChallenge ??= answer;
      return answer;
    }
    const confirm = path.match(/\/sessions\/([0-9A-F]{32})\/confirm$/);
    if (confirm) {
      const session = this.#sessions.get(confirm[1]);
      const { sac } = validateUpdateMessage('updateAuthConfirm', body);
      if (!session) return this.#refuse(seq, 404, 'TMS_SESSION_UNKNOWN');
      const context = updateContext({ serial: this.#o.serial, sessionId: confirm[1], packageDigest: session.packageDigest });
      if (toHex(aesCmac(session.dwk, sacInput(session.sData, context))) !== sac) return this.#refuse(seq, 403, 'TMS_SAC_MISMATCH');
      session.open = true;
      return this.#answer(seq, 200, { v: 1, size: this.#image.length });
    }
    const image = path.match(/\/sessions\/([0-9A-F]{32})\/image$/);
    if (image) {
      const session = this.#sessions.get(image[1]);
      if (!session?.open) return this.#refuse(seq, 403, 'TMS_SESSION_UNKNOWN');
      if (this.chunksServed.length >= this.hangAfterChunks) return this.#hang();
      const [, first, last] = (request.headers?.range ?? '').match(/^bytes=(\d+)-(\d+)$/) ?? [];
      const offset = Number(first);
      const length = Number(last) - offset + 1;
      this.chunksServed.push(offset);
      if (this.ignoreRange) return { status: 200, headers: {}, body: this.#image.slice() };
      const chunk = this.#image.slice(offset, offset + length);
      const range = { sessionId: image[1], offset, length, size: this.#image.length };
      const key = deriveKeyCounterCmac(session.dwk, chunkKeyParams(image[1], offset));
      const mac = toHex(aesCmac(key, chunkMacInput(range, chunk)));
      if (this.flipChunkAt === offset) chunk[0] ^= 0x01;
      return { status: 206, headers: { 'content-range': contentRangeHeader(range), 'paypad-chunk-mac': mac }, body: chunk };
    }
    if (path === `${base}/status`) {
      const report = validateUpdateMessage('updateStatus', body);
      this.reports.push(report);
      if (this.hangOnStatus === report.status) return this.#hang();
      return this.#answer(seq, 200, { v: 1 });
    }
    return this.#refuse(seq, 404, 'NOT_FOUND');
  }

  /** True once a request was left unanswered: the terminal is "off" from there on. */
  hung = false;

  #hang(): Promise<HttpResponse> {
    this.hung = true;
    return new Promise<HttpResponse>(() => undefined);
  }

  /** After a "power cut": the TMS answers again. */
  resume(): void {
    this.hung = false;
    this.hangAfterChunks = Infinity;
    this.hangOnStatus = undefined;
  }

  async #answer(seq: number, status: number, message: unknown): Promise<HttpResponse> {
    const body = utf8ToBytes(JSON.stringify(message));
    const headers = await signResponse({ status, serial: this.#o.serial, seq }, body, (data) => aesCmac(this.#o.mak, data));
    return { status, headers: lower(headers), body };
  }

  #refuse(seq: number, status: number, code: string): Promise<HttpResponse> {
    return this.#answer(seq, status, { error: { code, message: `refused: ${code}` } });
  }
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
