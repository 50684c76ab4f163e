/**
 * The phone app's PhoneApi: the client core (shared/client) with this browser's element and state
 * store, fetch to the client gateway on this origin, and the gateway's push channel (a WebSocket
 * at /bills/client/push) for bills as they come.
 *
 * Tabs of the app share one phone: one element, one state, one message sequence. The core reads
 * the sequence, saves the next and sends, so two tabs sending at once would send the same number
 * and one would be refused as a replay. Every exchange therefore runs under one Web Lock for the
 * origin: a phone's messages go out one at a time whichever tab sends them.
 */
import { type PhoneHttpRequest, type PhoneHttpResponse, createPhoneClient } from '../../../../shared/client/phoneClient';
import { PaypadError } from '../../../../shared/errors';
import { PHONE_CLIENT_PATHS } from '../../../../shared/protocol/phoneClient';
import { IndexedDbElement } from './indexedDbElement';
import type { PhoneApi } from './phoneApi';
import { IndexedDbPhoneState } from './phoneStateStore';

const LOCK = 'paypad-phone-client';
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 15_000;

async function fetchTransport(request: PhoneHttpRequest): Promise<PhoneHttpResponse> {
  const response = await fetch(request.path, {
    method: request.method,
    headers: request.headers,
    body: request.method === 'GET' ? undefined : (request.body as Uint8Array<ArrayBuffer>),
    cache: 'no-store',
    credentials: 'omit',
  });
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { status: response.status, headers, body: new Uint8Array(await response.arrayBuffer()) };
}

function oneAtATime<T>(work: () => Promise<T>): Promise<T> {
  // request() resolves with what `work` resolves with (its typing nests the promise).
  return navigator.locks ? (navigator.locks.request(LOCK, work) as unknown as Promise<T>) : work();
}

/** "138 0013 8000", "+86 138-0013-8000" -> "13800138000"; the core checks the number rule. */
function mainlandDigits(typed: string): string {
  return typed.replace(/[\s-]/g, '').replace(/^(\+|00)86/, '');
}

export async function openPhoneApi(): Promise<PhoneApi> {
  const element = await IndexedDbElement.open();
  const store = new IndexedDbPhoneState(element);
  const client = createPhoneClient({ element, store, transport: fetchTransport });
  return {
    async enrolment() {
      const state = await store.load();
      return state && { mobile: state.mobile, confirmed: state.enrolmentId === undefined };
    },
    startEnrolment: (typed) =>
      oneAtATime(async () => {
        await client.startEnrolment(mainlandDigits(typed));
        const state = await store.load();
        if (!state) throw new PaypadError('PHONE_NOT_ENROLLED', 'the enrolment was not kept on this phone');
        return { mobile: state.mobile };
      }),
    finishEnrolment: (code) => oneAtATime(async () => void (await client.finishEnrolment(code.trim()))),
    cards: () => client.cards(),
    bindCard: (card) => oneAtATime(() => client.bindCard(card)),
    bills: () => oneAtATime(() => client.bills()),
    // The digits leave the pad for the core's encipher and nowhere else.
    pay: (bill, card, pad) => pad.take((pin) => oneAtATime(() => client.pay(bill, card.cardRef, pin))),
    refuse: (bill) => oneAtATime(() => client.refuse(bill.id)),
    accountOrders: () => oneAtATime(() => client.accountOrders()),
    findOrder: (code) => oneAtATime(() => client.findOrder(code.trim())),
    payOrder: (order, card, pad, code) => pad.take((pin) => oneAtATime(() => client.payOrder(order, card.cardRef, pin, code))),
    watchBills(onBill, onOnline) {
      let socket: WebSocket | undefined;
      let stopped = false;
      let delay = RECONNECT_MIN_MS;
      const connect = () => {
        if (stopped) return;
        const url = new URL(PHONE_CLIENT_PATHS.push, location.href);
        url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const ws = new WebSocket(url);
        socket = ws;
        let hello = 0;
        let lastN = 0;
        // Frames are read in order: each is checked against the counter of the one before.
        let reading = Promise.resolve();
        ws.onopen = () => {
          oneAtATime(() => client.pushHello()).then(
            (h) => {
              hello = h.hello;
              ws.send(h.frame);
              delay = RECONNECT_MIN_MS;
              onOnline(true);
            },
            () => ws.close(),
          );
        };
        ws.onmessage = (event) => {
          reading = reading.then(async () => {
            try {
              const message = await client.readPush(String(event.data), hello, lastN);
              lastN = message.n;
              onBill(message.bill);
            } catch {
              // A frame that does not verify is not from the platform: drop the connection, start again.
              ws.close();
            }
          });
        };
        ws.onclose = () => {
          onOnline(false);
          if (stopped) return;
          setTimeout(connect, delay);
          delay = Math.min(delay * 2, RECONNECT_MAX_MS);
        };
      };
      connect();
      return () => {
        stopped = true;
        socket?.close();
      };
    },
  };
}
