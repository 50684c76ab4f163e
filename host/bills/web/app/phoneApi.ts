/**
 * What the app's screens need from the phone's payment client: the client core (shared/client)
 * over the client gateway (/bills/client), with this browser's element. main.ts codes against
 * this interface only; phoneGateway.ts provides it.
 */
import type { CardInput } from '../../../../shared/client/phoneClient';
import type { BoundCard, PayOrderResponse, PayResponse, PhoneBill, PhoneOrder } from '../../../../shared/protocol/phoneClient';
import type { PinPad } from './pinPad';

export interface PhoneApi {
  /** This phone's number (E.164) and whether its code was confirmed; undefined before enrolment. */
  enrolment(): Promise<{ mobile: string; confirmed: boolean } | undefined>;
  /** Texts a code to `mobile`, as a person types it (138 0013 8000, +86 138...). */
  startEnrolment(mobile: string): Promise<{ mobile: string }>;
  finishEnrolment(code: string): Promise<void>;
  cards(): Promise<readonly BoundCard[]>;
  /** D1: verified by the card's bank; its data kept only sealed by the element. */
  bindCard(card: CardInput): Promise<BoundCard>;
  /** Open bills for this number, oldest first. */
  bills(): Promise<readonly PhoneBill[]>;
  /** D3: bills pushed as they come (and those waiting, on each reconnect); returns a stop function. */
  watchBills(onBill: (bill: PhoneBill) => void, onOnline: (online: boolean) => void): () => void;
  /** D4, D6: takes the PIN from `pad` straight into the format 4 encipher under the element's PIN key. */
  pay(bill: PhoneBill, card: BoundCard, pad: PinPad): Promise<PayResponse>;
  /** D7. */
  refuse(bill: PhoneBill): Promise<PhoneBill>;
  /** E3: the gateway's orders placed for this phone's account (its number). */
  accountOrders(): Promise<readonly PhoneOrder[]>;
  /** E3: the gateway order a typed transaction code names. */
  findOrder(code: string): Promise<PhoneOrder>;
  /** E3: pays `order` with `card`, the PIN from `pad` as for bills; `code` when it was found by code. */
  payOrder(order: PhoneOrder, card: BoundCard, pad: PinPad, code?: string): Promise<PayOrderResponse>;
}
