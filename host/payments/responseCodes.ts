/**
 * Authorisation response codes, ISO 8583:1987 data element 39 (two characters), the ones a card
 * issuer or the payment service provider answers paypad with. The platform shows the reason on the
 * POS when a payment fails (C7, C8); the bank simulators answer with these same codes, so nothing
 * downstream can tell a simulated issuer from a real one (X5).
 *
 * Each code's text is the standard's wording in plain words, for a person at the POS or an operator; an
 * answer may carry a more specific reason (which of the reasons for 57 it was, say).
 */
export const RESPONSE_CODES = Object.freeze({
  '00': 'Approved',
  '05': 'Do not honour: the card issuer declined the transaction',
  '12': 'Invalid transaction',
  '14': 'Invalid card number',
  '25': 'No record of the original transaction',
  '30': 'Format error',
  '51': 'Insufficient funds',
  '54': 'Expired card',
  '55': 'Incorrect PIN',
  '57': 'Transaction not permitted to the cardholder',
  '75': 'Allowable number of PIN tries exceeded',
  '91': 'Card issuer unavailable, try again later',
  '94': 'Duplicate transaction',
} as const);

export type ResponseCode = keyof typeof RESPONSE_CODES;

/** A response from an issuer or the provider: the code, and the reason in words a person can act on. */
export interface PaymentResponse {
  readonly responseCode: ResponseCode;
  readonly reason: string;
}

/** The answer with `code`'s standard meaning, or `detail` after it when there is more to say. */
export function respond(code: ResponseCode, detail?: string): PaymentResponse {
  return { responseCode: code, reason: detail === undefined ? RESPONSE_CODES[code] : `${RESPONSE_CODES[code]}: ${detail}` };
}
