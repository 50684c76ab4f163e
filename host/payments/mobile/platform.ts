/**
 * The mobile-number payment platform as the POSP sees it (SPEC C4-C8; patent CN101976403A): a payer
 * at a POS keys in the payee's mobile number, is shown the payee's name with one character hidden to
 * confirm who they are paying, pays with their own card, and the platform owes the payee the amount
 * until reconciliation credits the payee's registered card (C9).
 *
 * This interface is the seam between host/posp (the terminal transaction protocol) and
 * host/payments/mobile; it only grows backward-compatibly (new optional fields, new methods).
 * Failures are PaypadErrors with the stable codes named on each method.
 */
export interface MobilePaymentPlatform {
  /** C4, C5: the payee registered for `mobile`, name with its second character hidden. Charges the lookup buckets (payer number if known, terminal, merchant): RATE_LIMITED (429) when empty; PAYEE_UNKNOWN, MOBILE_NUMBER_INVALID. */
  lookupPayee(query: { mobile: string; terminalId: string; merchantId: string; /** C3: the payer's own number, when keyed: charges the payer's bucket too. */ payerMobile?: string }): Promise<{ lookupId: string; maskedName: string; expiresAt: string }>;
  /** C7: CARD_BANK_NOT_CONTRACTED unless the paying card's issuer is contracted (by BIN). */
  checkPayingCard(pan: string): Promise<void>;
  /** C8: after the debit is approved: records the payment owed to the payee (from lookupId), texts the payer; idempotent on `reference`. */
  recordPayment(payment: { lookupId: string; reference: string; amount: number; currency: string; maskedPan: string; payerMobile?: string; terminalId: string }): Promise<void>;
}
