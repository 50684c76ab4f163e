/**
 * The requesting side of the acquirer link (POSP towards a bank): sends requests over one TCP
 * connection and matches each response to its request by response MTI, STAN (field 11) and
 * terminal id (field 41, when the request has one), so several requests may be open at once and
 * their answers may come back in any order.
 *
 * A request with no matching answer within its timeout is rejected with ACQUIRER_LINK_TIMEOUT:
 * the acquirer cannot know whether the bank acted on it, so the caller sends a 0400 reversal
 * (reversal.ts). An answer that arrives later, or matches nothing, or cannot be unpacked, is
 * dropped. When the connection ends every open request is rejected with the reason
 * (ACQUIRER_LINK_CLOSED, ACQUIRER_LINK_FRAME_TIMEOUT or LINK_FRAME_TOO_LARGE).
 *
 * MACs are the caller's (mac.ts): sign before request(), verify what it resolves with.
 */
import { connect } from 'node:net';
import { PaypadError } from '../../../shared/errors';
import { DEFAULT_FRAME_TIMEOUT_MS, type FrameStream, openFrameStream } from './frameStream';
import { responseMtiFor } from './mti';
import type { Iso8583Message, Packager } from './packager';

export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

export interface AcquirerLinkClientOptions {
  readonly host: string;
  readonly port: number;
  readonly packager: Packager;
  /** How long a request waits for its response (DEFAULT_REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs?: number;
  /** How long a frame may take from its first byte to its last (DEFAULT_FRAME_TIMEOUT_MS). */
  readonly frameTimeoutMs?: number;
}

export interface AcquirerLinkClient {
  /** Sends `message` and resolves with its response; `timeoutMs` overrides the client's timeout. */
  request(message: Iso8583Message, timeoutMs?: number): Promise<Iso8583Message>;
  close(): void;
}

interface Pending {
  resolve(message: Iso8583Message): void;
  reject(error: PaypadError): void;
  timer: NodeJS.Timeout;
}

function text(message: Iso8583Message, field: number): string {
  const value = message.fields[field];
  return typeof value === 'string' ? value : '';
}

/** What pairs a response with its request. */
function matchKey(responseMti: string, message: Iso8583Message): string {
  return `${responseMti}/${text(message, 11)}/${text(message, 41)}`;
}

export function connectAcquirerLink(options: AcquirerLinkClientOptions): Promise<AcquirerLinkClient> {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const { packager } = options;
  const pending = new Map<string, Pending>();
  let closedBy: PaypadError | undefined;

  return new Promise((resolve, reject) => {
    const socket = connect({ host: options.host, port: options.port });
    let stream: FrameStream | undefined;
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!stream) reject(new PaypadError('ACQUIRER_LINK_CLOSED', `acquirer link: cannot connect to ${options.host}:${options.port} (${error.code ?? 'socket error'})`));
    });
    socket.once('connect', () => {
      const frames = openFrameStream(socket, options.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS, {
        onFrame(payload) {
          let response: Iso8583Message;
          try {
            response = packager.unpack(payload);
          } catch {
            return; // its request, if any, times out and is reversed
          }
          const key = matchKey(response.mti, response);
          const open = pending.get(key);
          if (!open) return;
          pending.delete(key);
          clearTimeout(open.timer);
          open.resolve(response);
        },
        onClose(error) {
          closedBy = error ?? new PaypadError('ACQUIRER_LINK_CLOSED', 'acquirer link: the connection closed');
          for (const open of pending.values()) {
            clearTimeout(open.timer);
            open.reject(closedBy);
          }
          pending.clear();
        },
      });
      stream = frames;
      resolve({
        request(message, timeoutMs = requestTimeoutMs) {
          return new Promise<Iso8583Message>((resolveRequest, rejectRequest) => {
            if (closedBy) throw closedBy;
            const bytes = packager.pack(message);
            if (message.fields[11] === undefined) throw new PaypadError('ISO8583_FIELD_INVALID', 'a request needs a STAN (field 11) to be matched with its response');
            const responseMti = responseMtiFor(message.mti);
            const key = matchKey(responseMti, message);
            if (pending.has(key)) {
              throw new PaypadError('ACQUIRER_LINK_DUPLICATE_REQUEST', `acquirer link: a ${message.mti} with this STAN and terminal is already waiting for its ${responseMti}`);
            }
            const timer = setTimeout(() => {
              pending.delete(key);
              rejectRequest(new PaypadError('ACQUIRER_LINK_TIMEOUT', `acquirer link: no ${responseMti} within ${timeoutMs} ms: the outcome of the ${message.mti} is unknown`));
            }, timeoutMs);
            pending.set(key, { resolve: resolveRequest, reject: rejectRequest, timer });
            try {
              frames.send(bytes);
            } catch (error) {
              pending.delete(key);
              clearTimeout(timer);
              throw error;
            }
          });
        },
        close() {
          frames.close();
        },
      });
    });
  });
}
