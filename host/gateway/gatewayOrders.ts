/**
 * The payment gateway's orders (E1-E3, E8): the seam the payment paths (the PC/iPad page, the
 * phone client, the card reader and voice PIN) code against. orderStore.ts implements it.
 *
 * An order's life; every arrow is one atomic statement, so of two payments racing for one order
 * exactly one claims it and the other is refused:
 *
 *   created --claimForPayment--> paying --markPaid--> paid
 *      |                           |  \---markFailed--> failed
 *      \--(expiry passed)--------- +-----expire sweep--> expired
 *
 * A paying order expires only once both its expiry and its claim have run out (the payment that
 * claimed it stopped answering); markPaid after that is refused, and that payment must be reversed.
 * Every ending (paid, failed, expired) queues one signed notification to the merchant (E8) in
 * the same transaction.
 */

export const ORDER_STATES = ['created', 'paying', 'paid', 'failed', 'expired'] as const;
export type OrderState = (typeof ORDER_STATES)[number];
export const FINAL_STATES: readonly OrderState[] = ['paid', 'failed', 'expired'];

export interface NewOrder {
  /** The signed merchant's number. */
  readonly merchantNo: string;
  /** The merchant's own order id, unique per merchant. */
  readonly merchantOrderId: string;
  /** Minor units (fen for CNY), a positive safe integer. */
  readonly amountMinor: number;
  /** ISO 4217 alphabetic code. */
  readonly currency: string;
  readonly description: string;
  /** Where the gateway posts the order's outcome (E8). */
  readonly notifyUrl: string;
  /** Where the payment page sends the user back to. */
  readonly returnUrl?: string;
  /** 1-60; the order can be paid for this long after it is created. */
  readonly expiresInMinutes: number;
  /** The user's platform account the order is listed for (E2, E3 "account login"). */
  readonly account?: string;
}

export interface GatewayOrder {
  /** The gateway's order number: "GO" and 24 base32 characters, random. */
  readonly orderNumber: string;
  readonly merchantNo: string;
  readonly merchantOrderId: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly description: string;
  readonly notifyUrl: string;
  readonly returnUrl?: string;
  readonly account?: string;
  /** 12 digits, the last a Damm check digit (transactionCode.ts). */
  readonly transactionCode: string;
  readonly state: OrderState;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** When it reached paid, failed or expired. */
  readonly endedAt?: Date;
  /** The payment path's reference of the successful debit (paid orders). */
  readonly paymentReference?: string;
  /** Why the payment failed (failed orders): a response code or reason, never card data. */
  readonly failureReason?: string;
}

/** What claimForPayment hands the one payment that won the order: its token proves it to markPaid / markFailed. */
export interface PaymentClaim {
  readonly order: GatewayOrder;
  readonly claimToken: string;
  /** The claim holds the order until then; after it (and the order's expiry) the sweep may expire it. */
  readonly claimUntil: Date;
}

export interface GatewayOrders {
  /** A new order with a fresh transaction code. @throws GatewayOrderInvalid, GatewayOrderExists. */
  create(order: NewOrder): Promise<GatewayOrder>;
  /**
   * The order a user's typed code names. A mistyped code is refused by its check digit before the
   * store is asked. @throws TransactionCodeInvalid, GatewayOrderNotFound, GatewayOrderExpired.
   */
  findByCode(typedCode: string): Promise<GatewayOrder>;
  /** @throws GatewayOrderNotFound. */
  findByNumber(orderNumber: string): Promise<GatewayOrder>;
  /** @throws GatewayOrderNotFound (also for another merchant's order). */
  findForMerchant(merchantNo: string, merchantOrderId: string): Promise<GatewayOrder>;
  /** The account's orders still open for payment (created, not expired), newest first. */
  listForAccount(account: string): Promise<readonly GatewayOrder[]>;
  /**
   * created -> paying for one payment. Of concurrent claims exactly one wins.
   * @throws GatewayOrderNotFound, GatewayOrderExpired, GatewayOrderNotPayable (claimed by another, or ended).
   */
  claimForPayment(orderNumber: string): Promise<PaymentClaim>;
  /** paying -> paid; queues the merchant's notification. @throws GatewayOrderNotFound, GatewayClaimInvalid. */
  markPaid(orderNumber: string, claimToken: string, paymentReference: string): Promise<GatewayOrder>;
  /** paying -> failed; queues the merchant's notification. @throws GatewayOrderNotFound, GatewayClaimInvalid. */
  markFailed(orderNumber: string, claimToken: string, reason: string): Promise<GatewayOrder>;
  /** Expires every order past its time (a paying one also past its claim); resolves to their numbers. */
  expireDue(limit?: number): Promise<readonly string[]>;
}
