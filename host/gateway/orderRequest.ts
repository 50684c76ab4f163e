/**
 * E1, E2: what a merchant's order must hold, checked at the gateway's boundary. parseOrderRequest
 * reads the JSON body of POST /gateway/orders; checkNewOrder guards the store as well, so an order
 * made by any caller meets the same rules.
 */
import type { JsonValue } from '../audit/auditStore';
import { GatewayOrderInvalid } from './gatewayErrors';
import type { NewOrder } from './gatewayOrders';

export const DEFAULT_EXPIRY_MINUTES = 15;
export const MAX_EXPIRY_MINUTES = 60;
/** 10^12 minor units (ten billion yuan): above any single online order, far below 2^53. */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;

const MERCHANT_NO = /^[A-Za-z0-9_-]{1,32}$/;
const MERCHANT_ORDER_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const ACCOUNT = /^[A-Za-z0-9._@+-]{1,64}$/;
const CURRENCY = /^[A-Z]{3}$/;
const MAX_DESCRIPTION = 256;
const MAX_URL = 512;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const FIELDS = new Set(['merchantNo', 'merchantOrderId', 'amount', 'currency', 'description', 'notifyUrl', 'returnUrl', 'expiresInMinutes', 'account']);

/**
 * The order in a request body: {merchantNo, merchantOrderId, amount (minor units), currency,
 * description, notifyUrl, returnUrl?, expiresInMinutes? (1-60, default 15), account?}.
 * @throws GatewayOrderInvalid naming the first field that is wrong; an unknown field is refused too
 * (a misspelt "expiresInMinute" would otherwise silently give the default).
 */
export function parseOrderRequest(body: unknown): NewOrder {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayOrderInvalid('body', 'must be a JSON object');
  const b = body as Record<string, JsonValue | undefined>;
  const unknown = Object.keys(b).find((k) => !FIELDS.has(k));
  if (unknown !== undefined) throw new GatewayOrderInvalid(unknown.slice(0, 40), 'is not a field of an order');
  const order: NewOrder = {
    merchantNo: text(b.merchantNo, 'merchantNo'),
    merchantOrderId: text(b.merchantOrderId, 'merchantOrderId'),
    amountMinor: b.amount as number,
    currency: text(b.currency, 'currency'),
    description: text(b.description, 'description'),
    notifyUrl: text(b.notifyUrl, 'notifyUrl'),
    ...(b.returnUrl === undefined ? {} : { returnUrl: text(b.returnUrl, 'returnUrl') }),
    expiresInMinutes: b.expiresInMinutes === undefined ? DEFAULT_EXPIRY_MINUTES : (b.expiresInMinutes as number),
    ...(b.account === undefined ? {} : { account: text(b.account, 'account') }),
  };
  checkNewOrder(order);
  return order;
}

/** @throws GatewayOrderInvalid naming the first field that breaks the rules. */
export function checkNewOrder(order: NewOrder): void {
  if (!MERCHANT_NO.test(order.merchantNo)) throw new GatewayOrderInvalid('merchantNo', 'must be 1-32 of A-Z a-z 0-9 _ -');
  if (!MERCHANT_ORDER_ID.test(order.merchantOrderId)) throw new GatewayOrderInvalid('merchantOrderId', 'must be 1-64 of A-Z a-z 0-9 . _ : -');
  if (!Number.isSafeInteger(order.amountMinor) || order.amountMinor < 1 || order.amountMinor > MAX_AMOUNT_MINOR) {
    throw new GatewayOrderInvalid('amount', `must be an integer number of minor units from 1 to ${MAX_AMOUNT_MINOR}`);
  }
  if (!CURRENCY.test(order.currency)) throw new GatewayOrderInvalid('currency', 'must be an ISO 4217 alphabetic code such as CNY');
  const description = order.description.trim();
  if (description === '' || order.description.length > MAX_DESCRIPTION || /[\u0000-\u001f\u007f]/.test(order.description)) {
    throw new GatewayOrderInvalid('description', `must be 1-${MAX_DESCRIPTION} characters without control characters`);
  }
  checkUrl(order.notifyUrl, 'notifyUrl');
  if (order.returnUrl !== undefined) checkUrl(order.returnUrl, 'returnUrl');
  if (!Number.isInteger(order.expiresInMinutes) || order.expiresInMinutes < 1 || order.expiresInMinutes > MAX_EXPIRY_MINUTES) {
    throw new GatewayOrderInvalid('expiresInMinutes', `must be an integer from 1 to ${MAX_EXPIRY_MINUTES}`);
  }
  if (order.account !== undefined && !ACCOUNT.test(order.account)) throw new GatewayOrderInvalid('account', 'must be 1-64 of A-Z a-z 0-9 . _ @ + -');
}

function text(value: JsonValue | undefined, field: string): string {
  if (typeof value !== 'string') throw new GatewayOrderInvalid(field, value === undefined ? 'is required' : 'must be a string');
  return value;
}

/** https, or http to this machine only (a merchant's test backend); no credentials in the URL. */
function checkUrl(value: string, field: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GatewayOrderInvalid(field, 'must be an absolute URL');
  }
  if (value.length > MAX_URL) throw new GatewayOrderInvalid(field, `must be at most ${MAX_URL} characters`);
  if (url.username !== '' || url.password !== '') throw new GatewayOrderInvalid(field, 'must not carry a user name or password');
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return;
  throw new GatewayOrderInvalid(field, 'must be an https URL (http only to 127.0.0.1, ::1 or localhost)');
}
