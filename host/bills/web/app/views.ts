/**
 * How a payment attempt ended, as the result screen tells it. Bills and cards are shown as the
 * protocol carries them (shared/protocol/phoneClient: PhoneBill, BoundCard): a card by its masked
 * number only.
 */
export type PaymentResult =
  | { readonly kind: 'paid'; readonly reference: string; readonly maskedPan: string }
  | { readonly kind: 'refused' }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string };
