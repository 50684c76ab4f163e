/**
 * How a payment attempt ended, as the result screen tells it. Bills, gateway orders and cards are
 * shown as the protocol carries them (shared/protocol/phoneClient: PhoneBill, PhoneOrder,
 * BoundCard): a card by its masked number only.
 */

/** What the card, PIN and result screens show of what is being paid: a bill, or a gateway order. */
export interface Payable {
  readonly merchantName: string;
  readonly amountMinor: number;
  readonly currency: string;
  /** The merchant's order id. */
  readonly orderId: string;
}

export type PaymentResult =
  | { readonly kind: 'paid'; readonly reference: string; readonly maskedPan: string }
  | { readonly kind: 'refused' }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string };
