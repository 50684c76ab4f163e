/**
 * The bill payment platform's seam (SPEC D2-D8): what the phone client gateway (host/bills/client)
 * and the platform's own routes code against. A merchant's signed order becomes a Bill for a
 * designated mobile number; that number's payment client pays it with a bound card (or refuses it).
 *
 * Every refusal is a typed error with a stable code; on any error nothing moves (no bill state
 * change, no debit, no ledger transfer, no notification).
 */
import { PaypadError } from '../../shared/errors';

export type BillState = 'open' | 'paid' | 'refused' | 'expired';

export interface Bill {
  readonly id: string;                 // 'B' + 20 base32 chars, random
  readonly merchantId: string;
  readonly merchantName: string;       // verified: from the merchant's certificate
  readonly merchantCertificateSubject: string;
  readonly orderId: string;            // the merchant's order id
  readonly amountMinor: number;        // safe integer, minor units
  readonly currency: string;           // ISO 4217 alpha, e.g. 'CNY'
  readonly goods: string;
  readonly designatedMobile: string;   // E.164, whose client gets the bill and pays it
  readonly buyerMobile: string;        // E.164, who ordered; differs from designatedMobile when paying for another (D8)
  readonly receivingAccount: string;   // the merchant's receiving account
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly state: BillState;
  readonly paidWithMaskedPan?: string; // once paid
}

export interface BillPayment {
  readonly billId: string;
  readonly payerMobile: string;        // the enrolled phone's number (must equal designatedMobile)
  readonly pan: string;                // clear only in memory, from a card bound to that phone
  readonly expiry: string;             // YYMM
  readonly pinBlock: Uint8Array;       // ISO 9564-1 format 4 under the acquirer zone PIN key (the client gateway translated it in the HSM)
  readonly idempotencyKey: string;     // one per bill on the client; the same key on every card attempt (D6)
}

export type BillPaymentOutcome =
  | { readonly outcome: 'paid'; readonly bill: Bill; readonly reference: string }
  | { readonly outcome: 'insufficient_funds'; readonly bill: Bill }                 // bill stays open: pick another card (D6)
  | { readonly outcome: 'declined'; readonly bill: Bill; readonly responseCode: string }; // bill stays open

export interface BillPlatform {
  /** Open, unexpired bills for a number, oldest first (what a reconnecting client fetches). */
  openBills(mobile: string): Promise<readonly Bill[]>;
  /** Typed BillNotFound. */
  bill(id: string): Promise<Bill>;
  /** Typed errors: BillNotFound, BillExpired, BillAlreadyPaid (also the loser of two tabs at once), BillNotForThisNumber, BillRefused. Nothing moves on any error. */
  pay(payment: BillPayment): Promise<BillPaymentOutcome>;
  /** The user refuses the bill (D7): platform -> merchant -> buyer notified. */
  refuse(billId: string, payerMobile: string): Promise<Bill>;
  /** Called after a bill is committed (push it to the designated number's client). Returns an unsubscribe. */
  onBill(listener: (bill: Bill) => void): () => void;
}

/** No bill with that id (404). */
export class BillNotFound extends PaypadError {
  readonly billId: string;
  constructor(billId: string) {
    super('BILL_NOT_FOUND', `no bill ${billId}`);
    this.billId = billId;
  }
}

/** The bill's expiry has passed: it can no longer be paid or refused (410). */
export class BillExpired extends PaypadError {
  readonly billId: string;
  constructor(billId: string, expiresAt: Date) {
    super('BILL_EXPIRED', `bill ${billId} expired at ${expiresAt.toISOString()}`);
    this.billId = billId;
  }
}

/** The bill is paid already, or another payment of it is under way and wins (409). */
export class BillAlreadyPaid extends PaypadError {
  readonly billId: string;
  constructor(billId: string) {
    super('BILL_ALREADY_PAID', `bill ${billId} is paid already`);
    this.billId = billId;
  }
}

/** The payer's number is not the bill's designated number (403). */
export class BillNotForThisNumber extends PaypadError {
  readonly billId: string;
  constructor(billId: string) {
    super('BILL_NOT_FOR_THIS_NUMBER', `bill ${billId} is not for this mobile number`);
    this.billId = billId;
  }
}

/** The bill was refused (by its payer, or after a fatal decline) and is closed (409). */
export class BillRefused extends PaypadError {
  readonly billId: string;
  constructor(billId: string) {
    super('BILL_REFUSED', `bill ${billId} was refused and is closed`);
    this.billId = billId;
  }
}
