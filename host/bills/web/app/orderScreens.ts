/**
 * The screens for the payment gateway's orders (E3): the transaction code the shop showed, typed
 * in, and the order it names, to confirm before the card and PIN screens (screens.ts) pay it.
 */
import { h } from './dom';
import { formatAmount, formatRemaining } from './format';
import { form, type Problem, problemLine, value } from './screens';
import type { PhoneOrder } from '../../../../shared/protocol/phoneClient';

export function orderCodeScreen(props: { problem?: Problem; onSubmit(code: string): Promise<void>; onBack(): void }): HTMLElement {
  return form(
    'order-code',
    (f) => props.onSubmit(value(f, 'code')),
    'Find the order',
    [
      h('h2', {}, 'Pay an order by code'),
      h('p', { class: 'hint' }, 'Type the 12-digit transaction code the shop showed you. A mistyped digit is caught at once.'),
      h('label', { for: 'code' }, 'Transaction code'),
      h('input', { id: 'code', name: 'code', type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '4821 0937 5516', maxlength: 16, required: true }),
      problemLine(props.problem),
    ],
    [h('button', { type: 'button', class: 'secondary', onclick: props.onBack }, 'Back')],
  );
}

/** The order: which shop, what, how much, its code, until when; Pay once it is open for payment. */
export function orderScreen(props: { order: PhoneOrder; now(): Date; problem?: Problem; onPay(): void; onBack(): void }): HTMLElement {
  const { order } = props;
  const left = formatRemaining(new Date(order.expiresAt), props.now());
  const payable = order.state === 'created' && left !== '';
  const why =
    order.state === 'paying' || order.state === 'paid'
      ? 'This order is already being paid, or has been paid.'
      : order.state === 'created' && left
        ? undefined
        : order.state === 'failed'
          ? 'A payment of this order failed. Ask the shop for a new order.'
          : 'This order has expired. Ask the shop for a new one.';
  return h(
    'section',
    { 'data-screen': 'order', 'data-order': order.orderNumber, 'data-state': order.state },
    h('h2', {}, 'Confirm the order'),
    h('div', { class: 'big' }, formatAmount(order.amountMinor, order.currency)),
    h(
      'dl',
      { class: 'facts card' },
      h('dt', {}, 'Shop'),
      h('dd', { 'data-field': 'merchant' }, order.merchantName),
      h('dt', {}, 'For'),
      h('dd', {}, order.description),
      h('dt', {}, 'Order'),
      h('dd', {}, order.merchantOrderId),
      h('dt', {}, 'Code'),
      h('dd', { 'data-field': 'code' }, order.transactionCode.replace(/(\d{4})(?=\d)/g, '$1 ')),
      h('dt', {}, 'Pay within'),
      h('dd', {}, left || 'expired'),
    ),
    order.forThisAccount && h('p', { class: 'hint' }, 'The shop placed this order for your paypad account.'),
    why !== undefined && h('p', { class: 'error', role: 'alert' }, why),
    problemLine(props.problem),
    payable && h('button', { type: 'button', class: 'primary', onclick: props.onPay }, 'Pay'),
    h('button', { type: 'button', class: 'secondary', onclick: props.onBack }, 'Back'),
  );
}
