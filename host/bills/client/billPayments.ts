/**
 * Paying and refusing a bill from the phone (D4-D7). A pay request, once its MAC and sequence
 * verified (phones.ts), is checked before anything moves:
 *
 *   - the payer's number, deciphered under K_enc, is the phone's enrolled number and the bill's
 *     designated number (BILL_NOT_FOR_THIS_NUMBER);
 *   - amount, currency and receiving account are what the bill says (D5: the payment is checked
 *     against the bill; PROTOCOL_MALFORMED otherwise: the phone showed something else);
 *   - the card is bound to this phone and the PIN block goes to the acquirer link's zone PIN key
 *     (phoneCard.ts).
 *
 * Then BillPlatform.pay gets the card in memory only and the translated block. Insufficient funds
 * or a decline is an answer, not an error: the bill stays open and the phone may try another card
 * under the same idempotency key (D6).
 */
import { PaypadError } from '../../../shared/errors';
import { type PayResponse, payRequest, type PhoneBill } from '../../../shared/protocol/phoneClient';
import { PHONE_MAX_BODY_BYTES } from '../../../shared/protocol/phoneClientEnvelope';
import { decodeJson } from '../../../shared/protocol/validate';
import type { Bill, BillPlatform } from '../billPlatform';
import { decipherField } from './cards';
import { type PhoneCardDeps, withPhoneCard } from './phoneCard';
import type { Phone } from './phones';

export interface BillPaymentsDeps extends PhoneCardDeps {
  readonly platform: BillPlatform;
}

export interface PhoneBillPayments {
  bills(phone: Phone): Promise<readonly PhoneBill[]>;
  pay(phone: Phone, billId: string, body: Uint8Array): Promise<PayResponse>;
  refuse(phone: Phone, billId: string): Promise<PhoneBill>;
}

/** A bill as the phone is shown it (D3, D8: whether it is for another person's order). */
export function phoneBillOf(bill: Bill): PhoneBill {
  return {
    id: bill.id,
    merchantName: bill.merchantName,
    merchantCertificateSubject: bill.merchantCertificateSubject,
    orderId: bill.orderId,
    amountMinor: bill.amountMinor,
    currency: bill.currency,
    goods: bill.goods,
    receivingAccount: bill.receivingAccount,
    forAnotherPerson: bill.buyerMobile !== bill.designatedMobile,
    buyerMobile: bill.buyerMobile,
    createdAt: bill.createdAt.toISOString(),
    expiresAt: bill.expiresAt.toISOString(),
    state: bill.state,
    ...(bill.paidWithMaskedPan === undefined ? {} : { paidWithMaskedPan: bill.paidWithMaskedPan }),
  };
}

export function createPhoneBillPayments(deps: BillPaymentsDeps): PhoneBillPayments {
  return {
    async bills(phone) {
      return (await deps.platform.openBills(phone.mobile)).map(phoneBillOf);
    },

    async pay(phone, billId, body) {
      const request = decodeJson(body, PHONE_MAX_BODY_BYTES, payRequest, 'pay');
      const payer = await decipherField(deps.hsm, phone, 'mobile', request.mobile);
      const bill = await deps.platform.bill(billId);
      if (payer !== phone.mobile || bill.designatedMobile !== phone.mobile) throw new PaypadError('BILL_NOT_FOR_THIS_NUMBER', `bill ${bill.id} is not for this mobile number`);
      if (request.amountMinor !== bill.amountMinor || request.currency !== bill.currency || request.receivingAccount !== bill.receivingAccount) {
        throw new PaypadError('PROTOCOL_MALFORMED', 'the payment does not match the bill (amount, currency or receiving account): fetch the bill again');
      }
      return withPhoneCard(deps, phone, request, async ({ pan, expiry, pinBlock }) => {
        const outcome = await deps.platform.pay({ billId: bill.id, payerMobile: phone.mobile, pan, expiry, pinBlock, idempotencyKey: request.idempotencyKey });
        return {
          v: 1,
          outcome: outcome.outcome,
          bill: phoneBillOf(outcome.bill),
          ...(outcome.outcome === 'paid' ? { reference: outcome.reference } : {}),
          ...(outcome.outcome === 'declined' ? { responseCode: outcome.responseCode } : {}),
        };
      });
    },

    async refuse(phone, billId) {
      return phoneBillOf(await deps.platform.refuse(billId, phone.mobile));
    },
  };
}
