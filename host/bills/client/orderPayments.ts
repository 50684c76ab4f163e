/**
 * The payment gateway's orders in the phone client (E3: "mobile swipe in a phone client that finds
 * the unpaid order by account login or transaction code"; docs/online-payments.md "Paying from the
 * phone client"). Every message is the client protocol's, MAC'd and sequenced (phones.ts).
 *
 * Finding. By the transaction code the buyer types (the gateway's findByCode: the Damm check digit
 * first, TRANSACTION_CODE_INVALID, then GATEWAY_ORDER_NOT_FOUND / GATEWAY_ORDER_EXPIRED), or, with
 * no code, the orders open for the phone's paypad account.
 *
 * The account. An enrolled phone is logged in to the paypad account named by the mobile number it
 * proved at enrolment: a merchant that creates an order with `account` set to the buyer's number
 * (11 digits, 13912345678, or E.164, +8613912345678) has it listed on that phone. An order naming
 * another account is answered GATEWAY_ORDER_NOT_FOUND, as an unknown one is.
 *
 * Paying. The request names the order (its number, and the code when it was found by code: the
 * code is checked again), repeats what the buyer confirmed (amount, currency: PROTOCOL_MALFORMED
 * when the phone showed something else) and carries a bound card and its PIN block under K_pin
 * (phoneCard.ts: the same path as bills). The gateway's payment flow then claims the order
 * atomically (a second payment, on the checkout page or another phone, gets
 * GATEWAY_ORDER_NOT_PAYABLE), debits over the ISO 8583 acquirer link with a ledger hold, marks the
 * order paid (queueing the merchant's signed notification) and texts the phone's number. Any
 * refusal there (PAYMENT_INSUFFICIENT_FUNDS, PAYMENT_DECLINED, ...) fails the order, moves nothing
 * and is answered as the typed error.
 */
import { PaypadError } from '../../../shared/errors';
import { findOrderRequest, payOrderRequest, type PayOrderResponse, type PhoneOrder } from '../../../shared/protocol/phoneClient';
import { PHONE_MAX_BODY_BYTES } from '../../../shared/protocol/phoneClientEnvelope';
import { decodeJson } from '../../../shared/protocol/validate';
import { GatewayOrderNotFound } from '../../gateway/gatewayErrors';
import type { GatewayOrder, GatewayOrders } from '../../gateway/gatewayOrders';
import type { PaymentFlow } from '../../gateway/paymentFlow';
import { type PhoneCardDeps, withPhoneCard } from './phoneCard';
import type { Phone } from './phones';

/** What the phone client needs of the payment gateway (host/server.ts hands the running one over). */
export interface GatewayForPhones {
  readonly orders: GatewayOrders;
  readonly payments: PaymentFlow;
  merchantName(merchantNo: string): Promise<string>;
}

export interface OrderPaymentsDeps extends PhoneCardDeps {
  /** The running gateway; CONFIG_INVALID from it when this host runs none. */
  gateway(): GatewayForPhones;
}

export interface PhoneOrderPayments {
  /** The orders open for the phone's account, newest first. */
  orders(phone: Phone): Promise<readonly PhoneOrder[]>;
  find(phone: Phone, body: Uint8Array): Promise<PhoneOrder>;
  pay(phone: Phone, body: Uint8Array): Promise<PayOrderResponse>;
}

/** The paypad accounts an enrolled phone is logged in to: its number, as E.164 and as the 11 digits. */
export function accountsOfPhone(phone: Phone): readonly string[] {
  return [phone.mobile, phone.mobile.slice(3)];
}

export function createPhoneOrderPayments(deps: OrderPaymentsDeps): PhoneOrderPayments {
  const shown = async (gateway: GatewayForPhones, phone: Phone, order: GatewayOrder): Promise<PhoneOrder> => ({
    orderNumber: order.orderNumber,
    merchantName: await gateway.merchantName(order.merchantNo),
    merchantOrderId: order.merchantOrderId,
    description: order.description,
    amountMinor: order.amountMinor,
    currency: order.currency,
    transactionCode: order.transactionCode,
    state: order.state,
    expiresAt: order.expiresAt.toISOString(),
    forThisAccount: order.account !== undefined && accountsOfPhone(phone).includes(order.account),
  });

  return {
    async orders(phone) {
      const gateway = deps.gateway();
      const lists = await Promise.all(accountsOfPhone(phone).map((account) => gateway.orders.listForAccount(account)));
      const open = lists.flat().sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
      return Promise.all(open.slice(0, 200).map((order) => shown(gateway, phone, order)));
    },

    async find(phone, body) {
      const request = decodeJson(body, PHONE_MAX_BODY_BYTES, findOrderRequest, 'findOrder');
      const gateway = deps.gateway();
      return shown(gateway, phone, await gateway.orders.findByCode(request.code));
    },

    async pay(phone, body) {
      const request = decodeJson(body, PHONE_MAX_BODY_BYTES, payOrderRequest, 'payOrder');
      const gateway = deps.gateway();
      let order: GatewayOrder;
      if (request.code !== undefined) {
        order = await gateway.orders.findByCode(request.code);
        if (order.orderNumber !== request.orderNumber) throw new GatewayOrderNotFound(`${request.orderNumber} with this transaction code`);
      } else {
        order = await gateway.orders.findByNumber(request.orderNumber);
        if (order.account === undefined || !accountsOfPhone(phone).includes(order.account)) throw new GatewayOrderNotFound(request.orderNumber);
      }
      if (request.amountMinor !== order.amountMinor || request.currency !== order.currency) {
        throw new PaypadError('PROTOCOL_MALFORMED', 'the payment does not match the order (amount or currency): find the order again');
      }
      const result = await withPhoneCard(deps, phone, request, ({ pan, expiry, pinBlock }) =>
        gateway.payments.pay({ orderNumber: order.orderNumber, card: { kind: 'bound', pan, expiry, pinBlock: Uint8Array.from(pinBlock) }, mobile: phone.mobile.slice(3) }),
      );
      return { v: 1, outcome: 'paid', order: await shown(gateway, phone, result.order), reference: result.reference, maskedPan: result.maskedPan };
    },
  };
}
