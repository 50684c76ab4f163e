/**
 * The phone app's screens, one function each: given what to show and what to do on each action,
 * they return the screen's element. They hold no state of their own beyond their form fields;
 * main.ts decides which screen shows. Every screen's root names itself in data-screen.
 */
import { type Child, h } from './dom';
import { formatAmount, formatMobile, formatRemaining } from './format';
import { PinPad } from './pinPad';
import type { BoundCard, PhoneBill, PhoneOrder } from '../../../../shared/protocol/phoneClient';
import type { Payable, PaymentResult } from './views';

export interface Problem {
  readonly message: string;
  /** The refusal's code, on the line for tests and support. */
  readonly code?: string;
  /** A notice asks the user to do something else (another card); an error says what failed. */
  readonly tone?: 'error' | 'notice';
}

export const problemLine = (problem?: Problem) => problem && h('p', { class: problem.tone ?? 'error', role: 'alert', 'data-code': problem.code }, problem.message);

/** Runs `action` with the button disabled, so a slow answer is not sent twice. */
export function busy(button: HTMLButtonElement, action: () => Promise<void>): void {
  button.disabled = true;
  action().finally(() => {
    button.disabled = false;
  });
}

/** A screen that is a form: its fields, the submit button, then `after` (other ways out). */
export function form(screen: string, onSubmit: (fields: HTMLFormElement, submit: HTMLButtonElement) => Promise<void>, submitLabel: string, fields: Child[], after: Child[] = []): HTMLFormElement {
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const element = h('form', { 'data-screen': screen, novalidate: true }, ...fields, submit, ...after);
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(submit, () => onSubmit(element, submit));
  });
  return element;
}

export const value = (form: HTMLFormElement, name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();

export function enrolNumberScreen(props: { problem?: Problem; onSubmit(mobile: string): Promise<void> }): HTMLElement {
  return form(
    'enrol-number',
    (f) => props.onSubmit(value(f, 'mobile')),
    'Text me a code',
    [
      h('h2', {}, 'Open phone payment'),
      h('p', { class: 'hint' }, 'Bills that merchants send to your mobile number will come to this app. First prove the number is yours: we text it a code.'),
      h('label', { for: 'mobile' }, 'Mobile number'),
      h('input', { id: 'mobile', name: 'mobile', type: 'tel', inputmode: 'tel', autocomplete: 'tel', placeholder: '138 0013 8000', required: true }),
      problemLine(props.problem),
    ],
  );
}

export function enrolCodeScreen(props: { mobile: string; problem?: Problem; onSubmit(code: string): Promise<void>; onStartAgain(): void }): HTMLElement {
  return form(
    'enrol-code',
    (f) => props.onSubmit(value(f, 'code')),
    'Confirm',
    [
      h('h2', {}, 'Enter the code'),
      h('p', { class: 'hint' }, `We texted a 6-digit code to ${formatMobile(props.mobile)}.`),
      h('label', { for: 'code' }, 'Code'),
      h('input', { id: 'code', name: 'code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true }),
      problemLine(props.problem),
    ],
    [h('button', { type: 'button', class: 'link', onclick: props.onStartAgain }, 'Use another number')],
  );
}

export function bindCardScreen(props: { problem?: Problem; onSubmit(card: { pan: string; expiry: string; holder: string }): Promise<void>; onCancel?(): void }): HTMLElement {
  return form(
    'bind-card',
    async (f) => {
      const pan = value(f, 'pan').replace(/[\s-]/g, '');
      // MM/YY on the card; the bank and ISO 8583 take YYMM.
      const expiry = /^(\d{2})\s*\/?\s*(\d{2})$/.exec(value(f, 'expiry'));
      // The card number leaves the form as soon as it is read: the field is emptied before the bank answers.
      (f.elements.namedItem('pan') as HTMLInputElement).value = '';
      await props.onSubmit({ pan, expiry: expiry ? `${expiry[2]}${expiry[1]}` : value(f, 'expiry'), holder: value(f, 'holder') });
    },
    'Verify with my bank',
    [
      h('h2', {}, 'Bind a bank card'),
      h('p', { class: 'hint' }, 'Your bank checks the card. Its number is kept only on this phone, encrypted under a key that never leaves it.'),
      h('label', { for: 'pan' }, 'Card number'),
      h('input', { id: 'pan', name: 'pan', type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '6222 0210 0000 0000', required: true }),
      h('label', { for: 'expiry' }, 'Expiry (MM/YY)'),
      h('input', { id: 'expiry', name: 'expiry', type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '12/30', maxlength: 5, required: true }),
      h('label', { for: 'holder' }, 'Name on the card'),
      h('input', { id: 'holder', name: 'holder', type: 'text', autocomplete: 'off', required: true }),
      problemLine(props.problem),
    ],
    [props.onCancel && h('button', { type: 'button', class: 'secondary', onclick: props.onCancel }, 'Back')],
  );
}

/** One line of a list of things to pay: who, how much, what; tapping it opens it. */
function payableItem(attrs: Record<string, string>, p: { merchantName: string; amountMinor: number; currency: string }, what: string, onOpen: () => void): HTMLElement {
  return h(
    'li',
    {},
    h(
      'button',
      { type: 'button', ...attrs, onclick: onOpen },
      h('span', { class: 'merchant' }, p.merchantName),
      h('span', { class: 'amount' }, formatAmount(p.amountMinor, p.currency)),
      h('span', { class: 'goods' }, what),
    ),
  );
}

export function billListScreen(props: {
  mobile: string;
  bills: readonly PhoneBill[];
  orders: readonly PhoneOrder[];
  cards: readonly BoundCard[];
  online: boolean;
  problem?: Problem;
  onOpen(bill: PhoneBill): void;
  onOpenOrder(order: PhoneOrder): void;
  onPayByCode(): void;
  onAddCard(): void;
}): HTMLElement {
  return h(
    'section',
    { 'data-screen': 'bills' },
    h('h2', {}, 'Bills to pay'),
    problemLine(props.problem),
    props.bills.length === 0
      ? h('p', { class: 'hint' }, 'No bills waiting. A bill a merchant sends to this number shows here at once.')
      : h(
          'ul',
          { class: 'bills' },
          props.bills.map((bill) => payableItem({ 'data-bill': bill.id }, bill, bill.goods, () => props.onOpen(bill))),
        ),
    h('h2', {}, 'Your cards'),
    props.cards.length === 0 ? h('p', { class: 'hint' }, 'No card bound yet.') : h('ul', { class: 'cards' }, props.cards.map((c) => h('li', { class: 'card' }, c.maskedPan))),
    h('button', { type: 'button', class: 'secondary', onclick: props.onAddCard }, 'Bind a card'),
    h('h2', {}, 'Shop orders'),
    props.orders.length === 0
      ? h('p', { class: 'hint' }, 'Orders a shop placed for your paypad account (this number) show here. For any other, use its transaction code.')
      : h(
          'ul',
          { class: 'bills' },
          props.orders.map((order) => payableItem({ 'data-order': order.orderNumber }, order, order.description, () => props.onOpenOrder(order))),
        ),
    h('button', { type: 'button', class: 'secondary', 'data-action': 'pay-by-code', onclick: props.onPayByCode }, 'Pay an order by code'),
    h('p', { class: `status${props.online ? '' : ' offline'}` }, props.online ? `Connected: bills for ${formatMobile(props.mobile)} arrive here` : 'Offline: bills will arrive when the connection is back'),
  );
}

/** The bill: who asks (the name and subject from the merchant's verified certificate), how much, for what, until when. */
export function billScreen(props: { bill: PhoneBill; mobile: string; now(): Date; problem?: Problem; onPay(): void; onRefuse(): Promise<void>; onBack(): void }): HTMLElement {
  const { bill } = props;
  const countdown = h('span', { class: 'countdown' });
  const pay = h('button', { type: 'button', class: 'primary', onclick: props.onPay }, 'Pay');
  const refuse = h('button', { type: 'button', class: 'danger' }, 'Refuse this bill');
  refuse.addEventListener('click', () => busy(refuse, props.onRefuse));
  const expiredLine = h('p', { class: 'error', role: 'alert', hidden: true }, 'This bill has expired and can no longer be paid.');
  const tick = () => {
    const left = formatRemaining(new Date(bill.expiresAt), props.now());
    countdown.textContent = left ? `${left} left` : 'expired';
    countdown.classList.toggle('late', !left);
    if (!left) {
      pay.disabled = refuse.disabled = true;
      expiredLine.hidden = false;
    }
    return Boolean(left);
  };
  const screen = h(
    'section',
    { 'data-screen': 'bill', 'data-bill': bill.id },
    h('h2', {}, 'Confirm the bill'),
    h('div', { class: 'big' }, formatAmount(bill.amountMinor, bill.currency)),
    h(
      'dl',
      { class: 'facts card' },
      h('dt', {}, 'Merchant'),
      h('dd', {}, bill.merchantName, ' ', h('span', { class: 'verified' }, '✔ verified')),
      h('dt', {}, 'Certificate'),
      h('dd', { class: 'subject' }, bill.merchantCertificateSubject),
      h('dt', {}, 'Goods'),
      h('dd', {}, bill.goods),
      h('dt', {}, 'Order'),
      h('dd', {}, bill.orderId),
      h('dt', {}, 'Pay within'),
      h('dd', {}, countdown),
    ),
    bill.forAnotherPerson && h('p', { class: 'other' }, `Paying for ${formatMobile(bill.buyerMobile)}: they ordered, this bill came to you.`),
    problemLine(props.problem),
    expiredLine,
    pay,
    refuse,
    h('button', { type: 'button', class: 'secondary', onclick: props.onBack }, 'Back to bills'),
  );
  if (tick()) {
    const timer = setInterval(() => {
      if (!screen.isConnected || !tick()) clearInterval(timer);
    }, 1000);
  }
  return screen;
}

/** Which card pays; cards that had too little money for this bill are marked (D6). */
export function cardPickerScreen(props: { payable: Payable; cards: readonly BoundCard[]; insufficient: ReadonlySet<string>; problem?: Problem; onPick(card: BoundCard): void; onAddCard(): void; onBack(): void }): HTMLElement {
  const options = props.cards.map((card, i) =>
    h(
      'li',
      {},
      h(
        'label',
        {},
        h('input', { type: 'radio', name: 'card', value: card.cardRef, checked: i === props.cards.findIndex((c) => !props.insufficient.has(c.cardRef)) }),
        card.maskedPan,
        props.insufficient.has(card.cardRef) && h('span', { class: 'tried' }, 'insufficient funds'),
      ),
    ),
  );
  return form(
    'pick-card',
    async (f) => {
      const chosen = props.cards.find((c) => c.cardRef === (f.elements.namedItem('card') as RadioNodeList | null)?.value);
      if (chosen) props.onPick(chosen);
    },
    'Continue',
    [
      h('h2', {}, `Pay ${formatAmount(props.payable.amountMinor, props.payable.currency)} with`),
      problemLine(props.problem),
      props.cards.length ? h('ul', { class: 'cards' }, options) : h('p', { class: 'hint' }, 'No card bound yet.'),
    ],
    [
      h('button', { type: 'button', class: 'secondary', onclick: props.onAddCard }, 'Bind another card'),
      h('button', { type: 'button', class: 'link', onclick: props.onBack }, 'Back'),
    ],
  );
}

/** The PIN on the page's own keypad; `onPin` gets the pad and takes the digits from it once. */
export function pinScreen(props: { payable: Payable; card: BoundCard; onPin(pad: PinPad): Promise<void>; onCancel(): void }): { element: HTMLElement; dispose(): void } {
  const confirm = h('button', { type: 'button', class: 'primary', disabled: true }, `Pay ${formatAmount(props.payable.amountMinor, props.payable.currency)}`);
  const pad = new PinPad((length) => {
    confirm.disabled = length < 4;
  });
  confirm.addEventListener('click', () => busy(confirm, () => props.onPin(pad)));
  const element = h(
    'section',
    { 'data-screen': 'pin' },
    h('h2', {}, 'Enter your card PIN'),
    h('p', { class: 'hint' }, `${props.payable.merchantName} · ${props.card.maskedPan}`),
    h('p', { class: 'hint' }, 'Your PIN is encrypted on this phone the moment you confirm; it is never stored.'),
    pad.element,
    confirm,
    h('button', { type: 'button', class: 'secondary', onclick: props.onCancel }, 'Cancel'),
  );
  return { element, dispose: () => pad.dispose() };
}

export function resultScreen(props: { payable: Payable; result: PaymentResult; onDone(): void }): HTMLElement {
  const { payable: bill, result } = props;
  const amount = formatAmount(bill.amountMinor, bill.currency);
  const line =
    result.kind === 'paid'
      ? h('p', { class: 'success', role: 'status' }, `Paid ${amount} to ${bill.merchantName} with ${result.maskedPan}.`)
      : result.kind === 'refused'
        ? h('p', { class: 'notice', role: 'status' }, `You refused the bill from ${bill.merchantName}. The merchant has been told.`)
        : h('p', { class: 'error', role: 'alert', 'data-code': result.code }, result.message);
  return h(
    'section',
    { 'data-screen': 'result', 'data-result': result.kind },
    h('h2', {}, result.kind === 'paid' ? 'Payment done' : result.kind === 'refused' ? 'Bill refused' : 'Not paid'),
    line,
    result.kind === 'paid' && h('dl', { class: 'facts card' }, h('dt', {}, 'Reference'), h('dd', {}, result.reference), h('dt', {}, 'Order'), h('dd', {}, bill.orderId)),
    h('button', { type: 'button', class: 'primary', onclick: props.onDone }, 'Back to bills'),
  );
}
