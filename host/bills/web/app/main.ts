/**
 * The phone web app: which screen shows, and what each action does. Enrol the number (SMS code),
 * bind a card, then the bills pushed to this number; a bill's screen leads to the card, the PIN
 * and the result, or to refusing it (D7). A shop's gateway order (E3), placed for this number's
 * paypad account or found by its transaction code, goes through the same card and PIN screens. Too little money on a card brings the user back to the
 * cards with that one marked (D6); the client core sends the same idempotency key with every card
 * tried for a bill.
 */
import { isPaypadError } from '../../../../shared/errors';
import type { BoundCard, PhoneBill, PhoneOrder } from '../../../../shared/protocol/phoneClient';
import { show } from './dom';
import { openPhoneApi } from './phoneGateway';
import type { PhoneApi } from './phoneApi';
import type { PinPad } from './pinPad';
import { type Problem, billListScreen, billScreen, bindCardScreen, cardPickerScreen, enrolCodeScreen, enrolNumberScreen, pinScreen, resultScreen } from './screens';
import { formatMobile } from './format';
import { orderCodeScreen, orderScreen } from './orderScreens';
import type { Payable } from './views';

/** What a person can act on, for each typed refusal the app can meet. */
const MESSAGES: Record<string, string> = {
  BILL_ALREADY_PAID: 'This bill has been paid already (perhaps from another window or phone). Nothing more was taken.',
  BILL_EXPIRED: 'This bill has expired and can no longer be paid. Ask the merchant for a new one.',
  BILL_REFUSED: 'This bill was refused and is closed.',
  BILL_NOT_FOUND: 'The merchant withdrew this bill.',
  BILL_NOT_FOR_THIS_NUMBER: 'This bill is for another mobile number.',
  PHONE_CARD_NOT_VERIFIED: 'Your bank could not verify this card. Check the number, expiry and name.',
  PHONE_ENROLMENT_UNKNOWN: 'That enrolment has expired. Use your number again to get a new code.',
  MOBILE_NUMBER_INVALID: 'That is not a mainland China mobile number (11 digits, starting with 1).',
  VERIFICATION_CODE_INVALID: 'That code is not the one we texted. Check it and try again.',
  VERIFICATION_CODE_EXPIRED: 'That code has expired. Use your number again to get a new one.',
  VERIFICATION_ATTEMPTS_EXCEEDED: 'Too many wrong codes. Use your number again to get a new one.',
  PAN_INVALID: 'That card number is not valid: check the digits.',
  PHONE_NOT_ENROLLED: 'This phone is no longer enrolled. Enrol it again.',
  PHONE_ELEMENT_INVALID: "This phone's secure storage is not usable. Clear the app's data and enrol again.",
  TRANSACTION_CODE_INVALID: 'That code does not check: a digit is wrong or two are swapped. Please type it again.',
  GATEWAY_ORDER_NOT_FOUND: 'No open order has this code. Check it with the shop.',
  GATEWAY_ORDER_EXPIRED: 'This order has expired. Ask the shop for a new one.',
  GATEWAY_ORDER_NOT_PAYABLE: 'This order is already being paid, or has been paid.',
  PAYMENT_INSUFFICIENT_FUNDS: 'Your card does not have enough money for this payment. Nothing was taken. Ask the shop for a new order to pay with another card.',
  PAYMENT_DECLINED: 'Your bank declined the payment. Nothing was taken.',
  PAYMENT_OUTCOME_UNKNOWN: 'The bank did not answer in time. Nothing was taken.',
};

/** A gateway order as the card, PIN and result screens show it. */
const payableOrder = (order: PhoneOrder): Payable => ({ merchantName: order.merchantName, amountMinor: order.amountMinor, currency: order.currency, orderId: order.merchantOrderId });

function problemOf(e: unknown): Problem & { code: string } {
  if (isPaypadError(e)) return { code: e.code, message: MESSAGES[e.code] ?? e.message };
  return { code: 'NETWORK', message: 'The payment platform could not be reached. Check the connection and try again.' };
}

class PhoneApp {
  readonly #api: PhoneApi;
  readonly #main = document.getElementById('screen') as HTMLElement;
  #mobile = '';
  #bills: PhoneBill[] = [];
  #orders: readonly PhoneOrder[] = [];
  #cards: readonly BoundCard[] = [];
  #online = false;
  #onList = false;
  #leaveScreen: () => void = () => {};
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Cards that had too little money, per bill (D6). */
  readonly #insufficient = new Map<string, Set<string>>();

  constructor(api: PhoneApi) {
    this.#api = api;
  }

  async start(): Promise<void> {
    const enrolment = await this.#api.enrolment();
    if (!enrolment) return this.#enrolNumber();
    if (!enrolment.confirmed) return this.#enrolCode(enrolment.mobile);
    await this.#enrolled(enrolment.mobile);
  }

  #show(node: HTMLElement, leave: () => void = () => {}): void {
    this.#leaveScreen();
    this.#leaveScreen = leave;
    this.#onList = false;
    show(this.#main, node);
    window.scrollTo(0, 0);
  }

  #enrolNumber(problem?: Problem): void {
    this.#show(
      enrolNumberScreen({
        problem,
        onSubmit: async (typed) => {
          try {
            const { mobile } = await this.#api.startEnrolment(typed);
            this.#enrolCode(mobile);
          } catch (e) {
            this.#enrolNumber(problemOf(e));
          }
        },
      }),
    );
  }

  #enrolCode(mobile: string, problem?: Problem): void {
    this.#show(
      enrolCodeScreen({
        mobile,
        problem,
        onStartAgain: () => this.#enrolNumber(),
        onSubmit: async (code) => {
          try {
            await this.#api.finishEnrolment(code);
            await this.#enrolled(mobile);
          } catch (e) {
            this.#enrolCode(mobile, problemOf(e));
          }
        },
      }),
    );
  }

  async #enrolled(mobile: string): Promise<void> {
    this.#mobile = mobile;
    (document.getElementById('who') as HTMLElement).textContent = formatMobile(mobile);
    this.#cards = await this.#api.cards();
    this.#bills = [...(await this.#api.bills())];
    this.#orders = await this.#api.accountOrders();
    this.#api.watchBills(
      (bill) => this.#pushed(bill),
      (online) => {
        this.#online = online;
        if (this.#onList) this.#list();
      },
    );
    if (this.#cards.length === 0) this.#bindCard();
    else this.#list();
  }

  #pushed(bill: PhoneBill): void {
    this.#bills = this.#bills.filter((b) => b.id !== bill.id);
    if (bill.state === 'open') this.#bills.push(bill);
    if (this.#onList) this.#list();
  }

  #bindCard(problem?: Problem, then: () => void = () => this.#list()): void {
    this.#show(
      bindCardScreen({
        problem,
        onCancel: this.#cards.length ? then : undefined,
        onSubmit: async (card) => {
          if (!/^\d{2}(0[1-9]|1[0-2])$/.test(card.expiry)) return this.#bindCard({ message: 'Expiry: the month and year as printed on the card, e.g. 12/30.' }, then);
          try {
            await this.#api.bindCard(card);
            this.#cards = await this.#api.cards();
            then();
          } catch (e) {
            this.#bindCard(problemOf(e), then);
          }
        },
      }),
    );
  }

  #list(problem?: Problem): void {
    const open = this.#bills.filter((b) => b.state === 'open' && Date.parse(b.expiresAt) > Date.now());
    this.#show(
      billListScreen({
        mobile: this.#mobile,
        bills: open,
        orders: this.#orders,
        cards: this.#cards,
        online: this.#online,
        problem,
        onOpen: (bill) => this.#bill(bill),
        onOpenOrder: (order) => this.#order(order),
        onPayByCode: () => this.#orderCode(),
        onAddCard: () => this.#bindCard(),
      }),
    );
    this.#onList = true;
    // A bill leaves the list when it expires, as it would on the platform.
    clearTimeout(this.#expiryTimer);
    if (open.length) {
      const soonest = Math.min(...open.map((b) => Date.parse(b.expiresAt)));
      this.#expiryTimer = setTimeout(() => this.#onList && this.#list(problem), soonest - Date.now() + 100);
    }
  }

  #bill(bill: PhoneBill, problem?: Problem): void {
    this.#show(
      billScreen({
        bill,
        mobile: this.#mobile,
        now: () => new Date(),
        problem,
        onBack: () => this.#list(),
        onPay: () => this.#pickCard(bill),
        onRefuse: async () => {
          try {
            const refused = await this.#api.refuse(bill);
            this.#pushed(refused);
            this.#result(refused, { kind: 'refused' });
          } catch (e) {
            const { code, message } = problemOf(e);
            this.#result(bill, { kind: 'failed', code, message });
          }
        },
      }),
    );
  }

  #pickCard(bill: PhoneBill, problem?: Problem): void {
    this.#show(
      cardPickerScreen({
        payable: bill,
        cards: this.#cards,
        insufficient: this.#insufficient.get(bill.id) ?? new Set(),
        problem,
        onPick: (card) => this.#pin(bill, card),
        onAddCard: () => this.#bindCard(undefined, () => this.#pickCard(bill)),
        onBack: () => this.#bill(bill),
      }),
    );
  }

  #pin(bill: PhoneBill, card: BoundCard): void {
    const screen = pinScreen({ payable: bill, card, onPin: (pad) => this.#pay(bill, card, pad), onCancel: () => this.#pickCard(bill) });
    this.#show(screen.element, screen.dispose);
  }

  async #pay(bill: PhoneBill, card: BoundCard, pad: PinPad): Promise<void> {
    try {
      const answer = await this.#api.pay(bill, card, pad);
      this.#pushed(answer.bill);
      if (answer.outcome === 'paid') return this.#result(answer.bill, { kind: 'paid', reference: answer.reference ?? '', maskedPan: card.maskedPan });
      if (answer.outcome === 'insufficient_funds') {
        const tried = this.#insufficient.get(bill.id) ?? new Set<string>();
        tried.add(card.cardRef);
        this.#insufficient.set(bill.id, tried);
        return this.#pickCard(answer.bill, { tone: 'notice', message: `Insufficient funds on ${card.maskedPan}: pick another card.` });
      }
      this.#pickCard(answer.bill, { message: `Your bank declined ${card.maskedPan} (response ${answer.responseCode ?? '05'}). Pick another card or try again.` });
    } catch (e) {
      const { code, message } = problemOf(e);
      this.#result(bill, { kind: 'failed', code, message });
    }
  }

  #result(payable: Payable, result: Parameters<typeof resultScreen>[0]['result']): void {
    this.#show(resultScreen({ payable, result, onDone: () => this.#list() }));
  }

  /** E3: the code the shop showed, typed in; the order it names. */
  #orderCode(problem?: Problem): void {
    this.#show(
      orderCodeScreen({
        problem,
        onBack: () => this.#list(),
        onSubmit: async (code) => {
          try {
            this.#order(await this.#api.findOrder(code), code);
          } catch (e) {
            this.#orderCode(problemOf(e));
          }
        },
      }),
    );
  }

  /** The order to confirm; `code` when it was found by its code (the platform checks it again). */
  #order(order: PhoneOrder, code?: string): void {
    this.#show(orderScreen({ order, now: () => new Date(), onPay: () => this.#pickOrderCard(order, code), onBack: () => this.#list() }));
  }

  #pickOrderCard(order: PhoneOrder, code: string | undefined): void {
    this.#show(
      cardPickerScreen({
        payable: payableOrder(order),
        cards: this.#cards,
        insufficient: new Set(),
        onPick: (card) => {
          const screen = pinScreen({ payable: payableOrder(order), card, onPin: (pad) => this.#payOrder(order, code, card, pad), onCancel: () => this.#pickOrderCard(order, code) });
          this.#show(screen.element, screen.dispose);
        },
        onAddCard: () => this.#bindCard(undefined, () => this.#pickOrderCard(order, code)),
        onBack: () => this.#order(order, code),
      }),
    );
  }

  /** A refused order payment has ended the order (the shop is told): the result says so; a new order is needed. */
  async #payOrder(order: PhoneOrder, code: string | undefined, card: BoundCard, pad: PinPad): Promise<void> {
    try {
      const answer = await this.#api.payOrder(order, card, pad, code);
      this.#result(payableOrder(answer.order), { kind: 'paid', reference: answer.reference, maskedPan: answer.maskedPan });
    } catch (e) {
      const { code: failure, message } = problemOf(e);
      this.#result(payableOrder(order), { kind: 'failed', code: failure, message });
    }
    this.#orders = await this.#api.accountOrders().catch(() => this.#orders);
  }
}

async function boot(): Promise<void> {
  // Installable and openable offline; a browser without service workers still runs the app.
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {});
  const main = document.getElementById('screen') as HTMLElement;
  try {
    await new PhoneApp(await openPhoneApi()).start();
  } catch (e) {
    const { message } = problemOf(e);
    main.textContent = message;
  }
}

void boot();
