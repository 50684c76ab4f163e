/**
 * The phone payment client's core (SPEC D1, D3, D4, D6, D7, E3): enrolment, binding cards, listing,
 * paying and refusing bills, finding and paying the payment gateway's orders, and checking what
 * the platform pushes, over the protocol of
 * shared/protocol/phoneClient. The same code runs in the CLI (`paypad phone`) and the browser app;
 * each brings its SecureElement, its PhoneStateStore and a PhoneTransport (fetch in both).
 *
 * The state kept between runs holds nothing in clear that matters: the session keys and every
 * card's number and expiry are sealed by the element; the rest is the phone id, its number, the
 * message sequence, masked card numbers and one idempotency key per bill being paid.
 *
 * The sequence is saved before each message goes out (a reused number would be refused as a
 * replay; a skipped one costs nothing).
 */
import { asciiToBytes, bytesToAscii, bytesToUtf8, concatBytes, fromHex, toHex, utf8ToBytes, wipe } from '../bytes';
import { aesCmac } from '../crypto/cmac';
import { encodeKeyEnvelope, wrapKeyForRecipient } from '../crypto/keyTransport';
import { encipherPinBlockIso4 } from '../crypto/pinblock';
import { isPaypadError, PaypadError, type ErrorCode } from '../errors';
import { mobileNumberToE164 } from '../mobileNumber';
import { isLuhnValid, isPanShaped } from '../pan';
import type { HeaderMap, MacFunction } from '../protocol/macEnvelope';
import {
  billPayPath, billRefusePath, bindCardResponse, billsResponse, type BoundCard, encipherField, enrolFinishResponse, enrolmentKeyResponse,
  enrolStartResponse, PHONE_CLIENT_PATHS, PHONE_CONTENT_TYPE, PHONE_KEY_BYTES, PHONE_KEY_NAMES, phoneKeyContext, type PhoneBill, type PayResponse, payResponse,
  pushFrame, pushMessage, type PushMessage, refuseResponse, findOrderRequest, orderResponse, ordersResponse, type PayOrderResponse, payOrderResponse,
  type PhoneOrder,
} from '../protocol/phoneClient';
import { PHONE_MAC_HEADERS, PHONE_MAX_BODY_BYTES, phoneMacHex, phonePushMacInput, phoneRequestMacInput, phoneResponseMacInput, signPhoneRequest, verifyPhoneMac } from '../protocol/phoneClientEnvelope';
import { nextSequence } from '../protocol/sequence';
import { errorCode } from '../protocol/fields';
import { decodeJson, encodeJson, type Schema } from '../protocol/validate';
import type { SecureElement } from './secureElement';

export interface PhoneHttpRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}
export interface PhoneHttpResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: Uint8Array;
}
/** Sends one request to the platform's origin (fetch in Node and the browser). */
export type PhoneTransport = (request: PhoneHttpRequest) => Promise<PhoneHttpResponse>;

/** A card bound to this phone, as the client keeps it. */
export interface StoredCard extends BoundCard {
  /** The element's seal of "pan=...;expiry=YYMM", hex. */
  readonly sealed: string;
}

export interface PhoneState {
  readonly v: 1;
  readonly phoneId: string;
  /** E.164. */
  readonly mobile: string;
  /** The element's seal of K_mac || K_enc || K_pin, hex. */
  readonly keys: string;
  /** The last sequence number used. */
  readonly seq: number;
  /** Set between the two enrolment steps; absent once enrolled. */
  readonly enrolmentId?: string;
  readonly cards: readonly StoredCard[];
  /** D6: one idempotency key per bill, kept across the cards tried for it. */
  readonly billKeys: Readonly<Record<string, string>>;
}

/** Where the state lives: a file beside the element key (CLI), IndexedDB (browser). */
export interface PhoneStateStore {
  load(): Promise<PhoneState | undefined>;
  save(state: PhoneState): Promise<void>;
}

export interface PhoneClientDeps {
  readonly element: SecureElement;
  readonly store: PhoneStateStore;
  readonly transport: PhoneTransport;
}

export interface CardInput {
  readonly pan: string;
  /** YYMM. */
  readonly expiry: string;
  readonly holder: string;
}

export interface PhoneClient {
  /** Enrolment step 1: keys made and sent, a code texted to `mobile` (11 digits). */
  startEnrolment(mobile: string): Promise<{ enrolmentId: string; expiresAt: string }>;
  /** Enrolment step 2: the texted code proves the number. VERIFICATION_CODE_INVALID and friends. */
  finishEnrolment(code: string): Promise<{ phoneId: string; mobile: string }>;
  /** D1: the card verified by its bank and bound; its number and expiry sealed here. */
  bindCard(card: CardInput): Promise<BoundCard>;
  cards(): Promise<readonly BoundCard[]>;
  bills(): Promise<readonly PhoneBill[]>;
  /** D4, D6: pays `bill` (as shown and confirmed) with the bound card `cardRef` and `pin`. */
  pay(bill: PhoneBill, cardRef: string, pin: string): Promise<PayResponse>;
  /** D7. */
  refuse(billId: string): Promise<PhoneBill>;
  /** E3: the payment gateway's orders open for this phone's account (its enrolled number). */
  accountOrders(): Promise<readonly PhoneOrder[]>;
  /** E3: the gateway order a typed transaction code names. TRANSACTION_CODE_INVALID, GATEWAY_ORDER_EXPIRED, ... */
  findOrder(code: string): Promise<PhoneOrder>;
  /**
   * E3, E6-E9: pays `order` (as found and confirmed) with the bound card `cardRef` and `pin`; `code`
   * when it was found by its transaction code. Refusals are typed errors (PAYMENT_INSUFFICIENT_FUNDS,
   * GATEWAY_ORDER_NOT_PAYABLE, ...): the order has failed or is another payment's then.
   */
  payOrder(order: PhoneOrder, cardRef: string, pin: string, code?: string): Promise<PayOrderResponse>;
  /** The push channel's first frame, and the hello sequence to check pushes against. */
  pushHello(): Promise<{ frame: string; hello: number }>;
  /** A pushed frame checked (MAC, hello, counter above `lastN`) and decoded. */
  readPush(frame: string, hello: number, lastN: number): Promise<PushMessage>;
}

const YYMM = /^\d{2}(0[1-9]|1[0-2])$/;
const IDEMPOTENCY_KEY_BYTES = 16;

export function createPhoneClient(deps: PhoneClientDeps): PhoneClient {
  const { element, store, transport } = deps;

  async function state(): Promise<PhoneState> {
    const s = await store.load();
    if (!s) throw new PaypadError('PHONE_NOT_ENROLLED', 'this phone is not enrolled: run enrol first');
    return s;
  }
  async function enrolled(): Promise<PhoneState> {
    const s = await state();
    if (s.enrolmentId !== undefined) throw new PaypadError('PHONE_NOT_ENROLLED', 'enrolment is not finished: confirm it with the texted code');
    return s;
  }

  /** Runs `use` with the opened session keys; they are wiped however it ends. */
  async function withKeys<T>(s: PhoneState, use: (k: { mac: Uint8Array; enc: Uint8Array; pin: Uint8Array }) => Promise<T>): Promise<T> {
    const all = await element.open('phone-keys', fromHex(s.keys, 'sealed keys'));
    const k = { mac: all.slice(0, 16), enc: all.slice(16, 32), pin: all.slice(32, 48) };
    wipe(all);
    try {
      return await use(k);
    } finally {
      wipe(k.mac, k.enc, k.pin);
    }
  }

  /** A MAC'd request with the next sequence (saved first), its MAC'd answer verified and decoded. */
  async function exchange<T>(method: 'GET' | 'POST', path: string, message: unknown, schema: Schema<T>, s0?: PhoneState): Promise<T> {
    const s = s0 ?? (await enrolled());
    const seq = nextSequence(s.seq);
    await store.save({ ...s, seq });
    const body = message === undefined ? new Uint8Array(0) : encodeJson(message);
    return withKeys(s, async (k) => {
      const mac: MacFunction = (data) => aesCmac(k.mac, data);
      const headers = await signPhoneRequest({ method, path, phoneId: s.phoneId, seq }, body, mac);
      const response = await transport({ method, path, headers: { ...headers, 'Content-Type': PHONE_CONTENT_TYPE }, body });
      const macHeader = headerValue(response.headers, PHONE_MAC_HEADERS.mac);
      if (macHeader === undefined) throw unauthenticatedError(response);
      await verifyPhoneMac(mac, phoneResponseMacInput(response.status, s.phoneId, seq, response.body), macHeader, 'response MAC');
      if (response.status >= 400) throw platformError(response.body, '');
      return decodeJson(response.body, PHONE_MAX_BODY_BYTES, schema, 'response');
    });
  }

  async function plain<T>(method: 'GET' | 'POST', path: string, message: unknown, schema: Schema<T>): Promise<T> {
    const body = message === undefined ? new Uint8Array(0) : encodeJson(message);
    const response = await transport({ method, path, headers: { 'Content-Type': PHONE_CONTENT_TYPE }, body });
    if (response.status >= 400) throw platformError(response.body, '');
    return decodeJson(response.body, PHONE_MAX_BODY_BYTES, schema, 'response');
  }

  async function sealCard(pan: string, expiry: string): Promise<string> {
    const clear = asciiToBytes(`pan=${pan};expiry=${expiry}`);
    try {
      return toHex(await element.seal('card', clear));
    } finally {
      wipe(clear);
    }
  }

  async function openCard(card: StoredCard): Promise<{ pan: string; expiry: string }> {
    const clear = await element.open('card', fromHex(card.sealed, 'sealed card'));
    const m = /^pan=(\d{8,19});expiry=(\d{4})$/.exec(bytesToAscii(clear));
    wipe(clear);
    if (!m) throw new PaypadError('PHONE_ELEMENT_INVALID', 'a sealed card does not hold a card number and expiry');
    return { pan: m[1], expiry: m[2] };
  }

  function storedCard(s: PhoneState, cardRef: string): StoredCard {
    const card = s.cards.find((c) => c.cardRef === cardRef || c.maskedPan === cardRef || c.maskedPan.endsWith(cardRef));
    if (!card) throw new PaypadError('PHONE_CARD_UNKNOWN', `no card bound on this phone matches ${cardRef.slice(0, 32)}`);
    return card;
  }

  /**
   * A pay message's card fields: the card's number and expiry, and the ISO 9564-1 format 4 PIN
   * block under K_pin, each under K_enc (`more` adds fields under the same keys).
   */
  async function cardFields<M extends object>(s: PhoneState, card: StoredCard, pin: string, more: (k: { enc: Uint8Array }) => M): Promise<{ pan: string; expiry: string; pinBlock: string } & M> {
    const { pan, expiry } = await openCard(card);
    return withKeys(s, async (k) => {
      const block = encipherPinBlockIso4(k.pin, pin, pan, element.rng);
      try {
        return {
          pan: encipherField(k.enc, 'pan', pan, element.rng),
          expiry: encipherField(k.enc, 'expiry', expiry, element.rng),
          pinBlock: encipherField(k.enc, 'pinBlock', toHex(block), element.rng),
          ...more(k),
        };
      } finally {
        wipe(block);
      }
    });
  }

  return {
    async startEnrolment(mobile) {
      const e164 = mobileNumberToE164(mobile);
      // An enrolled phone's keys and cards are never overwritten by a new enrolment: that would
      // strand them. A pending one may start over (a lost code).
      const current = await store.load();
      if (current && current.enrolmentId === undefined) throw new PaypadError('BAD_ARGUMENT', `this phone is enrolled already (for ${current.mobile}): enrol another phone in another directory`);
      const platformKey = await plain('GET', PHONE_CLIENT_PATHS.enrolmentKey, undefined, enrolmentKeyResponse);
      const id = toHex(element.rng(16));
      const keys = PHONE_KEY_NAMES.map(() => element.rng(PHONE_KEY_BYTES));
      const recipient = fromHex(platformKey.publicKey);
      const [macKey, encKey, pinKey] = PHONE_KEY_NAMES.map((name, i) => toHex(encodeKeyEnvelope(wrapKeyForRecipient(recipient, keys[i], phoneKeyContext(id, e164, name), element.rng))));
      const all = concatBytes(...keys);
      wipe(...keys);
      let sealed: Uint8Array;
      try {
        sealed = await element.seal('phone-keys', all);
      } finally {
        wipe(all);
      }
      const started = await plain('POST', PHONE_CLIENT_PATHS.enrolStart, { v: 1, phoneId: id, mobile: e164, macKey, encKey, pinKey }, enrolStartResponse);
      await store.save({ v: 1, phoneId: id, mobile: e164, keys: toHex(sealed), seq: 0, enrolmentId: started.enrolmentId, cards: [], billKeys: {} });
      return { enrolmentId: started.enrolmentId, expiresAt: started.expiresAt };
    },

    async finishEnrolment(code) {
      const s = await state();
      if (s.enrolmentId === undefined) throw new PaypadError('PHONE_ENROLMENT_UNKNOWN', 'this phone is enrolled already');
      const done = await exchange('POST', PHONE_CLIENT_PATHS.enrolFinish, { v: 1, enrolmentId: s.enrolmentId, code }, enrolFinishResponse, s);
      const latest = await state();
      const { enrolmentId: _done, ...rest } = latest;
      await store.save(rest);
      return { phoneId: done.phoneId, mobile: done.mobile };
    },

    async bindCard(card) {
      if (!isPanShaped(card.pan) || !isLuhnValid(card.pan)) throw new PaypadError('PAN_INVALID', 'card number: expected 8 to 19 digits with a valid check digit');
      if (typeof card.expiry !== 'string' || !YYMM.test(card.expiry)) throw new PaypadError('BAD_ARGUMENT', 'expiry: expected YYMM, e.g. 3012');
      const s = await enrolled();
      const message = await withKeys(s, async (k) => ({
        v: 1,
        pan: encipherField(k.enc, 'pan', card.pan, element.rng),
        holder: encipherField(k.enc, 'holder', card.holder, element.rng),
      }));
      const bound = await exchange('POST', PHONE_CLIENT_PATHS.cards, message, bindCardResponse);
      const sealed = await sealCard(card.pan, card.expiry);
      const latest = await enrolled();
      await store.save({ ...latest, cards: [...latest.cards.filter((c) => c.cardRef !== bound.card.cardRef), { ...bound.card, sealed }] });
      return bound.card;
    },

    async cards() {
      return (await enrolled()).cards.map(({ cardRef, maskedPan, boundAt }) => ({ cardRef, maskedPan, boundAt }));
    },

    async bills() {
      return (await exchange('GET', PHONE_CLIENT_PATHS.bills, undefined, billsResponse)).bills;
    },

    async pay(bill, cardRef, pin) {
      let s = await enrolled();
      const card = storedCard(s, cardRef);
      // D6: the first attempt at a bill makes its key; every later card tried reuses it.
      let key = s.billKeys[bill.id];
      if (key === undefined) {
        key = toHex(element.rng(IDEMPOTENCY_KEY_BYTES));
        s = { ...s, billKeys: { ...s.billKeys, [bill.id]: key } };
        await store.save(s);
      }
      const message = {
        v: 1,
        ...(await cardFields(s, card, pin, (k) => ({ mobile: encipherField(k.enc, 'mobile', s.mobile, element.rng) }))),
        amountMinor: bill.amountMinor,
        currency: bill.currency,
        receivingAccount: bill.receivingAccount,
        idempotencyKey: key,
      };
      const answer = await exchange('POST', billPayPath(bill.id), message, payResponse, s);
      if (answer.outcome === 'paid') {
        const latest = await enrolled();
        const { [bill.id]: _paid, ...rest } = latest.billKeys;
        await store.save({ ...latest, billKeys: rest });
      }
      return answer;
    },

    async refuse(billId) {
      return (await exchange('POST', billRefusePath(billId), { v: 1 }, refuseResponse)).bill;
    },

    async accountOrders() {
      return (await exchange('GET', PHONE_CLIENT_PATHS.orders, undefined, ordersResponse)).orders;
    },

    async findOrder(code) {
      return (await exchange('POST', PHONE_CLIENT_PATHS.orderFind, findOrderRequest({ v: 1, code }, 'code'), orderResponse)).order;
    },

    async payOrder(order, cardRef, pin, code) {
      const s = await enrolled();
      const card = storedCard(s, cardRef);
      const message = {
        v: 1,
        orderNumber: order.orderNumber,
        ...(code === undefined ? {} : { code }),
        ...(await cardFields(s, card, pin, () => ({}))),
        amountMinor: order.amountMinor,
        currency: order.currency,
      };
      return exchange('POST', PHONE_CLIENT_PATHS.orderPay, message, payOrderResponse, s);
    },

    async pushHello() {
      const s = await enrolled();
      const seq = nextSequence(s.seq);
      await store.save({ ...s, seq });
      const mac = await withKeys(s, async (k) => phoneMacHex((data) => aesCmac(k.mac, data), phoneRequestMacInput({ method: 'GET', path: PHONE_CLIENT_PATHS.push, phoneId: s.phoneId, seq }, new Uint8Array(0))));
      return { frame: JSON.stringify({ v: 1, phoneId: s.phoneId, seq, mac }), hello: seq };
    },

    async readPush(frame, hello, lastN) {
      const s = await enrolled();
      const outer = decodeJson(utf8ToBytes(frame), 2 * PHONE_MAX_BODY_BYTES, pushFrame, 'push frame');
      await withKeys(s, (k) => verifyPhoneMac((data) => aesCmac(k.mac, data), phonePushMacInput(s.phoneId, hello, outer.body), outer.mac, 'push frame MAC'));
      const message = decodeJson(utf8ToBytes(outer.body), PHONE_MAX_BODY_BYTES, pushMessage, 'push');
      if (message.hello !== hello || message.n <= lastN) throw new PaypadError('PROTOCOL_REPLAY', 'push frame is from another connection or was seen before');
      return message;
    },
  };
}

function headerValue(headers: HeaderMap, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (key.toLowerCase() === lower && typeof value === 'string') return value;
  }
  return undefined;
}

/** An error the platform answered (MAC'd, or before any key existed). */
function platformError(body: Uint8Array, note: string): PaypadError {
  try {
    const parsed = JSON.parse(bytesToUtf8(body)) as { error?: { code?: unknown; message?: unknown } };
    const code = errorCode(parsed.error?.code, 'error.code') as ErrorCode;
    const message = typeof parsed.error?.message === 'string' ? parsed.error.message.slice(0, 512) : 'no message';
    return new PaypadError(code, `${message}${note}`);
  } catch (e) {
    if (isPaypadError(e) && e.code !== 'PROTOCOL_MALFORMED') return e;
    return new PaypadError('PROTOCOL_MALFORMED', 'the platform answered with an error that does not read');
  }
}

/** An answer without a MAC to a MAC'd request: shown as a diagnostic, never acted on. */
function unauthenticatedError(response: PhoneHttpResponse): PaypadError {
  return platformError(response.body, ' (this answer carries no MAC: the platform could not authenticate the request)');
}
