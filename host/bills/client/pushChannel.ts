/**
 * The push channel (D3): a WebSocket at /bills/client/push on the host's own HTTP server. A
 * client opens it and sends one hello, MAC'd under its K_mac with its next sequence (so a replayed
 * hello is refused like any replayed request); the gateway then sends it every open bill of its
 * number (kind 'waiting') and, while it stays connected, each new bill as the platform commits it
 * (kind 'bill'). Each frame is MAC'd under the phone's K_mac over the hello's sequence and a
 * counter (shared/protocol/phoneClientEnvelope), so a client trusts only what this platform pushed
 * on this connection.
 *
 * A new bill whose designated number has no client connected to this host is announced by SMS
 * (outbox topic BILL_CLIENT_SMS_TOPIC, once per bill): the phone's owner opens the client and gets
 * the bill on connecting. With several host processes a client is connected to one of them; the
 * others text, which at worst sends a text to a phone that also got the push.
 *
 * Why a WebSocket and not MQTT: docs/bill-payments.md "The push channel".
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Kysely } from 'kysely';
import { type WebSocket, WebSocketServer } from 'ws';
import { fromHex, toHex } from '../../../shared/bytes';
import { isPaypadError } from '../../../shared/errors';
import { maskMobileNumber } from '../../../shared/mobileNumber';
import { PHONE_CLIENT_PATHS, pushHello } from '../../../shared/protocol/phoneClient';
import { PHONE_MAX_BODY_BYTES } from '../../../shared/protocol/phoneClientEnvelope';
import { decodeJson } from '../../../shared/protocol/validate';
import type { Schema } from '../../db/schema';
import type { Logger } from '../../log';
import { enqueue } from '../../outbox/outboxStore';
import { formatAmount } from '../../payments/mobile/notifications';
import type { Bill, BillPlatform } from '../billPlatform';
import { phoneBillOf } from './billPayments';
import type { Phone, Phones } from './phones';

export const BILL_CLIENT_SMS_TOPIC = 'bills.client.sms';
/** A client that does not say hello within this long is dropped. */
export const HELLO_TIMEOUT_MS = 10_000;
/** WebSocket close codes (RFC 6455 §7.4.2: 4000-4999 are the application's). */
export const PUSH_CLOSE = Object.freeze({ refused: 4401, timeout: 4408 });

export interface PushChannelDeps {
  readonly db: Kysely<Schema>;
  readonly phones: Phones;
  readonly platform: BillPlatform;
  readonly logger: Logger;
  readonly clock: () => Date;
  /** Called after a text was queued, so the outbox worker sends it now. */
  readonly onQueued: () => void;
}

export interface PushChannel {
  /** Serves the push path on `server`'s upgrade requests; other paths are left to other listeners. */
  attach(server: Server): void;
  /** How many clients of `mobile` (E.164) are connected here. */
  connected(mobile: string): number;
  close(): Promise<void>;
}

interface Connection {
  readonly socket: WebSocket;
  readonly phone: Phone;
  readonly hello: number;
  n: number;
  /** Frames go out one after another, each MAC'd in turn. */
  queue: Promise<void>;
}

export function waitingBillText(bill: Bill): string {
  return `paypad: ${bill.merchantName} sent a bill for ${formatAmount(bill.amountMinor, bill.currency)} to ${maskMobileNumber(bill.designatedMobile.slice(3))}. Open your paypad payment client to pay or refuse it.`;
}

export function createPushChannel(deps: PushChannelDeps): PushChannel {
  const wss = new WebSocketServer({ noServer: true, maxPayload: PHONE_MAX_BODY_BYTES });
  const byMobile = new Map<string, Set<Connection>>();

  function push(c: Connection, kind: 'bill' | 'waiting', bill: Bill): Promise<void> {
    c.queue = c.queue.then(async () => {
      c.n += 1;
      const body = JSON.stringify({ v: 1, hello: c.hello, n: c.n, kind, bill: phoneBillOf(bill) });
      const mac = toHex(await deps.phones.pushMac(c.phone, c.hello, body));
      if (c.socket.readyState === c.socket.OPEN) c.socket.send(JSON.stringify({ mac, body }));
    }).catch((err: unknown) => deps.logger.warn({ err, phone: c.phone.phoneId }, 'push: a frame could not be sent'));
    return c.queue;
  }

  async function greet(socket: WebSocket, data: Buffer): Promise<void> {
    const hello = decodeJson(new Uint8Array(data.buffer, data.byteOffset, data.length), PHONE_MAX_BODY_BYTES, pushHello, 'hello');
    const phone = await deps.phones.authenticate({ method: 'GET', path: PHONE_CLIENT_PATHS.push, phoneId: hello.phoneId, seq: hello.seq, body: new Uint8Array(0), mac: fromHex(hello.mac) });
    const c: Connection = { socket, phone, hello: hello.seq, n: 0, queue: Promise.resolve() };
    const set = byMobile.get(phone.mobile) ?? new Set<Connection>();
    set.add(c);
    byMobile.set(phone.mobile, set);
    socket.on('close', () => {
      set.delete(c);
      if (set.size === 0 && byMobile.get(phone.mobile) === set) byMobile.delete(phone.mobile);
    });
    for (const bill of await deps.platform.openBills(phone.mobile)) void push(c, 'waiting', bill);
  }

  function onConnection(socket: WebSocket): void {
    const timer = setTimeout(() => socket.close(PUSH_CLOSE.timeout, 'HELLO_TIMEOUT'), HELLO_TIMEOUT_MS);
    socket.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      const refuse = (code: string) => socket.close(PUSH_CLOSE.refused, code);
      if (isBinary) return refuse('PROTOCOL_MALFORMED');
      greet(socket, data).catch((e: unknown) => {
        if (!isPaypadError(e)) deps.logger.error({ err: e }, 'push: hello failed');
        refuse(isPaypadError(e) ? e.code : 'INTERNAL');
      });
    });
  }
  wss.on('connection', onConnection);

  const unsubscribe = deps.platform.onBill((bill) => {
    const clients = byMobile.get(bill.designatedMobile);
    if (clients && clients.size > 0) {
      for (const c of clients) void push(c, 'bill', bill);
      return;
    }
    enqueue(deps.db, { topic: BILL_CLIENT_SMS_TOPIC, destination: bill.designatedMobile, payload: { to: bill.designatedMobile, text: waitingBillText(bill) }, idempotencyKey: `bill-waiting-${bill.id}` }, deps.clock())
      .then(() => deps.onQueued())
      .catch((err: unknown) => deps.logger.error({ err, bill: bill.id }, 'push: the bill-waiting text could not be queued'));
  });

  return {
    attach(server) {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (new URL(req.url ?? '/', 'http://host').pathname !== PHONE_CLIENT_PATHS.push) return;
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      });
    },
    connected(mobile) {
      return byMobile.get(mobile)?.size ?? 0;
    },
    async close() {
      unsubscribe();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
