/**
 * The gateway's side of the secure card reader channel (E4; docs/card-readers.md).
 *
 * Readers dial out: each PIN pad working as a card reader opens a WebSocket to the gateway (TLS
 * in production, the host's HTTPS listener) at CARD_READER_PATH, says hello with its reader id and
 * then sends a heartbeat every heartbeatMs. The checkout page never talks to the reader: an HTTPS
 * page may not open ws:// to a device on the shop's network (mixed content), a device on a LAN
 * address cannot hold a publicly trusted certificate for wss://, and browsers are closing private
 * network access from public pages; the page follows its checkout's reader through the gateway.
 *
 * The payment flow pairs a checkout with a reader id (one checkout per reader at a time), watches
 * its status (connected/disconnected, live: the socket closing, or three heartbeats missed) and
 * asks for a card read. The read it gets is ciphertext under the reader's DUKPT keys; only
 * decryptCardRead (./cardReaderDecrypt) opens it, inside the HSM. A reader that goes away while a
 * read waits fails that read at once with CardReaderDisconnected.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { toHex } from '../../shared/bytes';
import { isPaypadError } from '../../shared/errors';
import { CARD_READER_FRAME_MAX, CARD_READ_ID_BYTES, type EncryptedCardRead, encodeCardReadRequest, parseReaderMessage } from '../../shared/protocol/cardReadMessages';
import { CardReadFailed, CardReaderDisconnected, CardReaderNotPaired } from './cardReaderErrors';

/** Where readers connect (WebSocket upgrade on the gateway's listener). */
export const CARD_READER_PATH = '/gateway/card-readers';
/** A reader is taken as gone after this many heartbeat intervals without a frame. */
export const MISSED_HEARTBEATS = 3;
/** A connection that has not said hello within this is closed. */
const HELLO_TIMEOUT_MS = 10_000;
/** The gateway gives the reader this long past the read's own timeout to answer. */
const ANSWER_GRACE_MS = 5_000;
const DEFAULT_READ_TIMEOUT_MS = 60_000;

/** WebSocket close codes (RFC 6455 §7.4.2: 4000-4999 private use). */
export const READER_CLOSE = Object.freeze({ malformed: 4400, helloTimeout: 4408, replaced: 4409 });

export type ReaderStatus = 'connected' | 'disconnected';

export interface ReaderStatusEvent {
  readonly checkoutId: string;
  readonly readerId: string;
  readonly status: ReaderStatus;
}

/** A card read as the reader sent it (ciphertext, KSN, MAC, last four digits) and which reader sent it. */
export interface ReaderCardRead extends EncryptedCardRead {
  readonly readerId: string;
}

export interface ReadCardOptions {
  /** Ask for the PIN on the reader's keypad (E4 with the PIN on the PIN pad). */
  readonly pin?: boolean;
  /** How long the holder has to swipe (and key the PIN); 60 s by default. */
  readonly timeoutMs?: number;
}

/** What the gateway's payment flow uses. */
export interface CardReaderChannel {
  /** Pairs `checkoutId` with reader `readerId` (replacing the checkout's earlier reader). CARD_READER_NOT_PAIRED when that reader serves another checkout. */
  pair(checkoutId: string, readerId: string): void;
  /** Ends the pairing (the checkout is paid or abandoned); a read waiting for it fails. */
  unpair(checkoutId: string): void;
  /** The checkout's reader now; CARD_READER_NOT_PAIRED without one. */
  status(checkoutId: string): ReaderStatus;
  /** Every change of a paired reader's status (and the status at pairing); returns the unsubscribe. */
  onStatus(listener: (event: ReaderStatusEvent) => void): () => void;
  /** One swipe on the checkout's reader, encrypted by the reader. Rejects with CardReaderNotPaired, CardReaderDisconnected or CardReadFailed. */
  readCard(checkoutId: string, options?: ReadCardOptions): Promise<ReaderCardRead>;
}

interface Connection {
  readonly socket: WebSocket;
  readonly readerId: string;
  readonly heartbeatMs: number;
  watchdog: NodeJS.Timeout;
  pending?: PendingRead;
}

interface PendingRead {
  readonly readId: string;
  readonly resolve: (read: ReaderCardRead) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class ReaderChannel implements CardReaderChannel {
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: CARD_READER_FRAME_MAX });
  readonly #connections = new Map<string, Connection>();
  /** checkoutId -> readerId, and back. */
  readonly #pairs = new Map<string, string>();
  readonly #checkoutOf = new Map<string, string>();
  readonly #listeners = new Set<(event: ReaderStatusEvent) => void>();

  constructor() {
    this.#wss.on('connection', (socket: WebSocket) => this.#onConnection(socket));
  }

  /** Takes the WebSocket upgrades for CARD_READER_PATH on `server` (the gateway's HTTPS listener). */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? '/', 'http://host').pathname !== CARD_READER_PATH) return;
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
    });
  }

  pair(checkoutId: string, readerId: string): void {
    const other = this.#checkoutOf.get(readerId);
    if (other !== undefined && other !== checkoutId) throw new CardReaderNotPaired(`card reader ${readerId} is paired with another checkout`);
    this.unpair(checkoutId);
    this.#pairs.set(checkoutId, readerId);
    this.#checkoutOf.set(readerId, checkoutId);
    this.#emit(readerId, this.#connections.has(readerId) ? 'connected' : 'disconnected');
  }

  unpair(checkoutId: string): void {
    const readerId = this.#pairs.get(checkoutId);
    if (readerId === undefined) return;
    this.#pairs.delete(checkoutId);
    this.#checkoutOf.delete(readerId);
    const connection = this.#connections.get(readerId);
    if (connection?.pending) this.#settle(connection, new CardReadFailed(readerId, 'cancelled'));
  }

  status(checkoutId: string): ReaderStatus {
    return this.#connections.has(this.#readerOf(checkoutId)) ? 'connected' : 'disconnected';
  }

  onStatus(listener: (event: ReaderStatusEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  readCard(checkoutId: string, options: ReadCardOptions = {}): Promise<ReaderCardRead> {
    let readerId: string;
    try {
      readerId = this.#readerOf(checkoutId);
    } catch (e) {
      return Promise.reject(e);
    }
    const connection = this.#connections.get(readerId);
    if (connection === undefined) return Promise.reject(new CardReaderDisconnected(readerId, false));
    if (connection.pending) return Promise.reject(new CardReadFailed(readerId, 'busy'));
    const timeoutMs = options.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    const readId = toHex(new Uint8Array(randomBytes(CARD_READ_ID_BYTES)));
    return new Promise<ReaderCardRead>((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(connection, new CardReadFailed(readerId, 'timeout')), timeoutMs + ANSWER_GRACE_MS);
      connection.pending = { readId, resolve, reject, timer };
      connection.socket.send(encodeCardReadRequest({ type: 'read', readId, pin: options.pin === true, timeoutMs }));
    });
  }

  /** Closes every reader connection; reads waiting fail with CardReaderDisconnected. */
  async close(): Promise<void> {
    for (const connection of this.#connections.values()) this.#drop(connection);
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #readerOf(checkoutId: string): string {
    const readerId = this.#pairs.get(checkoutId);
    if (readerId === undefined) throw new CardReaderNotPaired(`no card reader is paired with checkout ${String(checkoutId).slice(0, 64)}`);
    return readerId;
  }

  #onConnection(socket: WebSocket): void {
    const helloTimer = setTimeout(() => socket.close(READER_CLOSE.helloTimeout, 'HELLO_TIMEOUT'), HELLO_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(helloTimer));
    socket.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(helloTimer);
      let hello;
      try {
        hello = isBinary ? undefined : parseReaderMessage(data.toString('utf8'));
      } catch (e) {
        hello = undefined;
        if (!isPaypadError(e)) throw e;
      }
      if (hello?.type !== 'hello') return socket.close(READER_CLOSE.malformed, 'PROTOCOL_MALFORMED');
      const earlier = this.#connections.get(hello.readerId);
      // A reader that reconnects (power cycle, network change) replaces its dead connection.
      if (earlier) {
        this.#drop(earlier);
        earlier.socket.close(READER_CLOSE.replaced, 'REPLACED');
      }
      const connection: Connection = { socket, readerId: hello.readerId, heartbeatMs: hello.heartbeatMs, watchdog: undefined as unknown as NodeJS.Timeout };
      connection.watchdog = this.#watchdog(connection);
      this.#connections.set(hello.readerId, connection);
      this.#emit(hello.readerId, 'connected');
      socket.on('message', (frame: Buffer, binary: boolean) => this.#onFrame(connection, frame, binary));
      socket.on('close', () => this.#drop(connection));
    });
    socket.on('error', () => socket.terminate());
  }

  #onFrame(connection: Connection, frame: Buffer, binary: boolean): void {
    clearTimeout(connection.watchdog);
    connection.watchdog = this.#watchdog(connection);
    let message;
    try {
      message = binary ? undefined : parseReaderMessage(frame.toString('utf8'));
    } catch (e) {
      if (!isPaypadError(e)) throw e;
    }
    if (message === undefined) {
      connection.socket.close(READER_CLOSE.malformed, 'PROTOCOL_MALFORMED');
      return;
    }
    if (message.type === 'heartbeat' || message.type === 'hello') return;
    const pending = connection.pending;
    // An answer to a read the gateway gave up on (timed out, unpaired) is dropped.
    if (pending === undefined || pending.readId !== message.readId) return;
    if (message.type === 'read-failed') {
      this.#settle(connection, new CardReadFailed(connection.readerId, message.reason));
      return;
    }
    const { type: _type, ...read } = message;
    this.#settle(connection, { ...read, readerId: connection.readerId });
  }

  /** An unplugged reader sends no close frame: silence is the only sign, so the connection is dropped at once, not closed politely. */
  #watchdog(connection: Connection): NodeJS.Timeout {
    return setTimeout(() => {
      this.#drop(connection);
      connection.socket.terminate();
    }, MISSED_HEARTBEATS * connection.heartbeatMs);
  }

  /** The reader is gone: its status changes at once, and a read waiting on it fails. */
  #drop(connection: Connection): void {
    clearTimeout(connection.watchdog);
    if (this.#connections.get(connection.readerId) !== connection) return;
    this.#connections.delete(connection.readerId);
    if (connection.pending) this.#settle(connection, new CardReaderDisconnected(connection.readerId, true));
    this.#emit(connection.readerId, 'disconnected');
  }

  #settle(connection: Connection, outcome: ReaderCardRead | Error): void {
    const pending = connection.pending;
    if (pending === undefined) return;
    connection.pending = undefined;
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  #emit(readerId: string, status: ReaderStatus): void {
    const checkoutId = this.#checkoutOf.get(readerId);
    if (checkoutId === undefined) return;
    for (const listener of this.#listeners) listener({ checkoutId, readerId, status });
  }
}
