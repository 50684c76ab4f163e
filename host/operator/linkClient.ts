/**
 * The operating terminal's side of the local link (shared/protocol/localLink): requests `serial`
 * (A2), `tk` (A5, A8, A10), `repair` (A13), and `identity` and `certify` (A8, enrolment) over any byte stream, a TCP socket to the emulated
 * terminal or a serial port to a board, both Node Duplex streams.
 *
 * One request at a time, ids counting up from 1 per connection. Any failure of the stream itself
 * (a frame that cannot be read, an answer to a request we did not send, a timeout, the peer
 * closing) fails the whole link: the stream has no markers to resynchronise on, and after a
 * timeout a late answer could be taken for the next request's. A typed error answer from the
 * terminal (LINK_REFUSED) leaves the link usable.
 *
 * The tk envelope stays the hex string the terminal sent: the operator relays it to MTMS and
 * never opens it (A10); it has no key that could.
 */
import type { Duplex } from 'node:stream';
import { PaypadError } from '../../shared/errors';
import {
  decodeLinkFrame,
  encodeLinkMessage,
  FrameDecoder,
  LINK_VERSION,
  type LinkOp,
  type LinkRequest,
  type LinkResult,
  validateLinkResponse,
} from '../../shared/protocol/localLink';
import { PeerRefusal } from './refusal';

/** What the onboarding flow needs from the terminal. */
export interface TerminalLink {
  /** S1 (A2): the terminal's serial number. */
  readSerial(): Promise<string>;
  /**
   * The TK as an envelope for MTMS's intake key (A10), hex as sent, with the serial it is bound to,
   * signed by the device over MTMS's `nonce` (hex) and with its device certificate (A8).
   */
  readTkEnvelope(nonce: string): Promise<SignedTkEnvelope>;
  /** A13: zeroize the vault and make a new TK; answers the serial repaired. */
  repair(serial: string): Promise<string>;
  close(): Promise<void>;
}

export interface SignedTkEnvelope {
  readonly serial: string;
  readonly tkEnvelope: string;
  readonly signature: string;
  readonly certificate: string;
}

/** What the production line needs from the terminal to enrol it (A8). */
export interface EnrolmentLink {
  readSerial(): Promise<string>;
  /** The device's identity public key, signed over MTMS's enrolment `nonce` (hex). */
  readIdentity(nonce: string): Promise<{ serial: string; publicKey: string; signature: string }>;
  /** Stores the device certificate (hex DER) the CA issued; answers the serial. */
  certify(certificate: string): Promise<string>;
  close(): Promise<void>;
}

export interface LinkClientOptions {
  /** How long one request may wait for its answer. */
  readonly timeoutMs?: number;
  /** Names the peer in messages, e.g. "127.0.0.1:7001" or "/dev/ttyUSB0". */
  readonly peerName?: string;
}

/**
 * Generous for a board: on first use `tk` makes the TK (A1) and an ECDH P-256 envelope, which
 * takes an ESP32 a few seconds in XS.
 */
export const DEFAULT_LINK_TIMEOUT_MS = 15_000;
const MAX_REQUEST_ID = 0x7fffffff;

interface Pending {
  readonly id: number;
  readonly op: LinkOp;
  resolve(result: unknown): void;
  reject(e: Error): void;
}

/** A link client over `stream`; it owns the stream from now on and destroys it on close or failure. */
export function createLinkClient(stream: Duplex, options: LinkClientOptions = {}): TerminalLink & EnrolmentLink {
  const timeoutMs = options.timeoutMs ?? DEFAULT_LINK_TIMEOUT_MS;
  const peer = options.peerName ?? 'the terminal';
  const decoder = new FrameDecoder();
  let nextId = 1;
  let pending: Pending | undefined;
  let failure: PaypadError | undefined;
  // Requests queue behind each other: the protocol answers them in order, one in flight.
  let queue: Promise<unknown> = Promise.resolve();

  const fail = (e: PaypadError): void => {
    if (failure !== undefined) return;
    failure = e;
    const waiting = pending;
    pending = undefined;
    waiting?.reject(e);
    stream.destroy();
  };

  const onFrame = (payload: Uint8Array): void => {
    const waiting = pending;
    if (waiting === undefined) throw new PaypadError('PROTOCOL_MALFORMED', `${peer} sent a frame while no request was waiting`);
    const response = validateLinkResponse(decodeLinkFrame(payload), waiting.op);
    if (response.ok) {
      if (response.id !== waiting.id) throw new PaypadError('PROTOCOL_MALFORMED', `${peer} answered request ${response.id}; request ${waiting.id} was waiting`);
      pending = undefined;
      waiting.resolve(response);
      return;
    }
    // id null: the terminal could not read our request at all; it still answers in order.
    if (response.id !== null && response.id !== waiting.id) {
      throw new PaypadError('PROTOCOL_MALFORMED', `${peer} answered request ${response.id}; request ${waiting.id} was waiting`);
    }
    pending = undefined;
    waiting.reject(new PeerRefusal('terminal', response.error.code, response.error.message));
  };

  stream.on('data', (chunk: Uint8Array) => {
    if (failure !== undefined) return;
    try {
      for (const frame of decoder.push(chunk)) onFrame(frame);
    } catch (e) {
      fail(e instanceof PaypadError ? e : new PaypadError('PROTOCOL_MALFORMED', `${peer} sent an unreadable frame`));
    }
  });
  stream.on('error', (e: NodeJS.ErrnoException) => fail(new PaypadError('LINK_UNAVAILABLE', `the link to ${peer} failed: ${e.code ?? e.message}`)));
  stream.on('close', () => {
    const midFrame = decoder.buffered > 0 ? ' in the middle of a frame' : '';
    fail(new PaypadError('LINK_UNAVAILABLE', `${peer} closed the link${midFrame}`));
  });

  function send<O extends LinkOp>(request: LinkRequest & { op: O }): Promise<LinkResult<O>> {
    return new Promise<LinkResult<O>>((resolve, reject) => {
      if (failure !== undefined) return reject(failure);
      const timer = setTimeout(() => fail(new PaypadError('LINK_TIMEOUT', `${peer} did not answer '${request.op}' within ${timeoutMs} ms`)), timeoutMs);
      pending = {
        id: request.id,
        op: request.op,
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result as LinkResult<O>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      stream.write(encodeLinkMessage(request));
    });
  }

  function call<O extends LinkOp>(build: (id: number) => LinkRequest & { op: O }): Promise<LinkResult<O>> {
    const run = queue.then(() => {
      const id = nextId;
      nextId = nextId === MAX_REQUEST_ID ? 1 : nextId + 1;
      return send<O>(build(id));
    });
    queue = run.catch(() => undefined);
    return run;
  }

  return {
    async readSerial() {
      return (await call((id) => ({ v: LINK_VERSION, id, op: 'serial' as const }))).serial;
    },
    async readTkEnvelope(nonce) {
      const { serial, tkEnvelope, signature, certificate } = await call((id) => ({ v: LINK_VERSION, id, op: 'tk' as const, nonce }));
      if (signature === undefined || certificate === undefined) throw new PaypadError('PROTOCOL_MALFORMED', `${peer} answered the TK challenge without its signature and device certificate`);
      return { serial, tkEnvelope, signature, certificate };
    },
    async readIdentity(nonce) {
      const { serial, publicKey, signature } = await call((id) => ({ v: LINK_VERSION, id, op: 'identity' as const, nonce }));
      return { serial, publicKey, signature };
    },
    async certify(certificate) {
      return (await call((id) => ({ v: LINK_VERSION, id, op: 'certify' as const, certificate }))).serial;
    },
    async repair(serial) {
      return (await call((id) => ({ v: LINK_VERSION, id, op: 'repair' as const, serial }))).serial;
    },
    close() {
      if (stream.destroyed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        stream.once('close', () => resolve());
        fail(new PaypadError('LINK_UNAVAILABLE', `the link to ${peer} was closed by the operator`));
      });
    },
  };
}
