/**
 * A mobile payment platform for POSP tests (host/payments/mobile/platform.ts's interface): payees
 * registered by the test, lookups that expire, the contracted-bank check asked of the simulated
 * provider (C7), and payments recorded once per reference. It stands in for host/payments/mobile so
 * the POSP tests prove POSP's side of the seam; the platform's own rules are its tests'.
 */
import { randomBytes } from 'node:crypto';
import { PaypadError } from '../../../shared/errors';
import type { MobilePaymentPlatform } from '../../../host/payments/mobile/platform';
import type { PaymentProvider } from '../../../host/payments/paymentProvider';

export interface RecordedPayment {
  readonly lookupId: string;
  readonly reference: string;
  readonly amount: number;
  readonly currency: string;
  readonly maskedPan: string;
  readonly payerMobile?: string;
  readonly terminalId: string;
}

export class TestPlatform implements MobilePaymentPlatform {
  readonly payees = new Map<string, string>();
  readonly lookups = new Map<string, { mobile: string; expired: boolean }>();
  readonly payments: RecordedPayment[] = [];
  /** When set, recordPayment refuses with it. */
  recordFailure: PaypadError | undefined;
  readonly #provider: PaymentProvider;

  constructor(provider: PaymentProvider) {
    this.#provider = provider;
  }

  readonly lookupQueries: { mobile: string; terminalId: string; merchantId: string; payerMobile?: string }[] = [];

  async lookupPayee(query: { mobile: string; terminalId: string; merchantId: string; payerMobile?: string }) {
    this.lookupQueries.push(query);
    if (!/^1[3-9][0-9]{9}$/.test(query.mobile)) throw new PaypadError('MOBILE_NUMBER_INVALID', 'not a mainland China mobile number: key it again');
    const name = this.payees.get(query.mobile);
    if (name === undefined) throw new PaypadError('PAYEE_UNKNOWN', 'no payee is registered for this mobile number');
    const lookupId = `L${randomBytes(8).toString('hex')}`;
    this.lookups.set(lookupId, { mobile: query.mobile, expired: false });
    return { lookupId, maskedName: `${name[0]}*${name.slice(2)}`, expiresAt: '2026-12-06T10:05:00.000Z' };
  }

  async checkPayingCard(pan: string) {
    const answer = await this.#provider.checkCardBank(pan);
    if (answer.responseCode !== '00') throw new PaypadError('CARD_BANK_NOT_CONTRACTED', "the card's bank is not a contracted bank of the payment service provider");
  }

  async recordPayment(payment: RecordedPayment) {
    if (this.recordFailure) throw this.recordFailure;
    const lookup = this.lookups.get(payment.lookupId);
    if (lookup === undefined) throw new PaypadError('LOOKUP_UNKNOWN', 'the payee lookup is unknown');
    if (lookup.expired) throw new PaypadError('LOOKUP_EXPIRED', 'the payee lookup expired: look the payee up again');
    if (this.payments.some((p) => p.reference === payment.reference)) return;
    this.payments.push(payment);
  }
}
