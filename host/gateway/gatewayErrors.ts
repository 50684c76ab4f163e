/**
 * The payment gateway's refusals (E1-E3, E8). Each is a PaypadError with a stable code (HTTP
 * statuses in host/http/errors.ts); on any of them nothing changed.
 */
import { PaypadError } from '../../shared/errors';
import type { OrderState } from './gatewayOrders';

/** The order request is malformed: a field missing, of the wrong type or out of range (400). */
export class GatewayOrderInvalid extends PaypadError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('GATEWAY_ORDER_INVALID', `${field}: ${message}`);
    this.field = field;
  }
}

/** The merchant created this order id before, under another idempotency key or none (409). */
export class GatewayOrderExists extends PaypadError {
  constructor(merchantNo: string, merchantOrderId: string) {
    super('GATEWAY_ORDER_EXISTS', `merchant ${merchantNo} already has an order ${merchantOrderId}; to get its answer again, resend the first request with its Idempotency-Key`);
  }
}

/** No order under that code, number or merchant order id (404). */
export class GatewayOrderNotFound extends PaypadError {
  constructor(what: string) {
    super('GATEWAY_ORDER_NOT_FOUND', `no order ${what}`);
  }
}

/** The order's time ran out: it can no longer be paid (410). */
export class GatewayOrderExpired extends PaypadError {
  readonly orderNumber: string;
  constructor(orderNumber: string, expiresAt: Date) {
    super('GATEWAY_ORDER_EXPIRED', `order ${orderNumber} expired at ${expiresAt.toISOString()}`);
    this.orderNumber = orderNumber;
  }
}

/** The order is not open for payment: another payment claimed it first, or it has ended (409). */
export class GatewayOrderNotPayable extends PaypadError {
  readonly orderNumber: string;
  readonly state: OrderState;
  constructor(orderNumber: string, state: OrderState) {
    super('GATEWAY_ORDER_NOT_PAYABLE', state === 'paying' ? `order ${orderNumber} is being paid by another payment` : `order ${orderNumber} is ${state}, not open for payment`);
    this.orderNumber = orderNumber;
    this.state = state;
  }
}

/** markPaid / markFailed by someone not holding the order's current payment claim (409). */
export class GatewayClaimInvalid extends PaypadError {
  constructor(orderNumber: string, state: OrderState) {
    super('GATEWAY_CLAIM_INVALID', `order ${orderNumber} is ${state}; this payment claim does not hold it`);
  }
}

/** A typed code that is not 12 digits or whose check digit does not match (400). */
export class TransactionCodeInvalid extends PaypadError {
  constructor(message: string) {
    super('TRANSACTION_CODE_INVALID', message);
  }
}

/** The Idempotency-Key header is missing or not 1-255 printable ASCII characters (400). */
export class IdempotencyKeyInvalid extends PaypadError {
  constructor(message: string) {
    super('IDEMPOTENCY_KEY_INVALID', message);
  }
}

/** The key was used before with another request body (422). */
export class IdempotencyKeyReused extends PaypadError {
  constructor() {
    super('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request; use a new key for a new request');
  }
}

/** A request with this key is still being processed (409); retry after a moment for its answer. */
export class IdempotencyKeyInProgress extends PaypadError {
  constructor() {
    super('IDEMPOTENCY_KEY_IN_PROGRESS', 'a request with this Idempotency-Key is still in progress; retry shortly to get its answer');
  }
}

/** The signed merchant is not the merchant number the order names (403). */
export class GatewayMerchantMismatch extends PaypadError {
  constructor() {
    super('GATEWAY_MERCHANT_MISMATCH', 'the merchant number in the order is not the merchant that signed the request');
  }
}
