/**
 * What the display says while a payer pays someone by their mobile number (firmware/core/
 * mobilePaymentApp; docs/mobile-payments.md "At the POS"): one screen per step of the app's view.
 *
 * Written for a 20 x 4 character display, most important line first (the Display clips). PIN
 * progress is shown as '*' only; card data never reaches a screen (the view holds none). A bank's
 * answer shows its ISO 8583 response code and reason, wrapped to the width; a failure shows what
 * the payer can do about it, and its stable code. Pure, so every screen is tested in Node.
 */
import type { PaymentOutcome, PaymentView } from '../../core/mobilePaymentApp';
import type { Screen } from '../display';

export const PAYMENT_TITLE = 'Pay by mobile';
const COLUMNS = 20;

/** ISO 4217 minor-unit exponents other than 2 among the currencies a terminal may be set to. */
const MINOR_UNIT_EXPONENT: Readonly<Record<string, number>> = Object.freeze({ JPY: 0, KRW: 0 });

/** What a failure means to the payer, by error code (POSP's own code for a refusal). */
const FAILURE_LINES: Readonly<Record<string, string>> = Object.freeze({
  PAYEE_UNKNOWN: 'Payee not registered',
  RATE_LIMITED: 'Too many lookups',
  LOOKUP_EXPIRED: 'Took too long',
  MOBILE_NUMBER_INVALID: 'Invalid number',
  CARD_DATA_INVALID: 'Card not readable',
  HTTP_FAILED: 'Host unreachable',
  HTTP_TIMEOUT: 'Host did not answer',
  TERMINAL_STATE: 'Load keys first',
  MAC_MISMATCH: 'Answer not trusted',
  POSP_RESPONSE_UNSIGNED: 'Answer not trusted',
});

/** `minor` units of `currency` as the payer reads them: 'CNY 12.34'. */
export function formatAmount(minor: number, currency: string): string {
  const exponent = MINOR_UNIT_EXPONENT[currency] ?? 2;
  if (exponent === 0) return `${currency} ${minor}`;
  const digits = String(minor).padStart(exponent + 1, '0');
  return `${currency} ${digits.slice(0, digits.length - exponent)}.${digits.slice(digits.length - exponent)}`;
}

export function paymentScreen(view: PaymentView): Screen {
  switch (view.step) {
    case 'payee':
      return view.invalidNumber
        ? { title: PAYMENT_TITLE, lines: ['Invalid number', 'Re-enter payee no.', entryLine(view.entry)] }
        : { title: PAYMENT_TITLE, lines: ['Payee mobile no.', entryLine(view.entry), 'OK next  X cancel'] };
    case 'lookup':
      return { title: PAYMENT_TITLE, lines: ['Finding payee...'] };
    case 'confirm':
      return { title: PAYMENT_TITLE, lines: ['Pay to:', view.maskedName ?? '', 'OK pay  X cancel'] };
    case 'amount':
      return { title: PAYMENT_TITLE, lines: [`To ${view.maskedName ?? ''}`, 'Amount:', formatAmount(view.entry === '' ? 0 : Number(view.entry), view.currency)] };
    case 'swipe':
      return { title: PAYMENT_TITLE, lines: [amountLine(view), view.unreadableSwipe ? 'Card unreadable' : 'Swipe card', view.unreadableSwipe ? 'Swipe again' : 'X cancel'] };
    case 'pin':
      return { title: PAYMENT_TITLE, lines: [amountLine(view), 'Enter PIN:', view.pinLength === 0 ? '_' : '*'.repeat(view.pinLength)] };
    case 'paying':
      return { title: PAYMENT_TITLE, lines: [amountLine(view), 'Processing...'] };
    case 'result':
      return resultScreen(view, view.outcome ?? { kind: 'cancelled' });
  }
}

function resultScreen(view: PaymentView, outcome: PaymentOutcome): Screen {
  switch (outcome.kind) {
    case 'approved':
      return { title: 'Approved', lines: [`${formatAmount(outcome.answer.amount, outcome.answer.currency)} to ${view.maskedName ?? ''}`, outcome.answer.maskedPan, `Ref ${outcome.answer.reference}`] };
    case 'declined':
      return { title: 'Declined', lines: wrap(`${outcome.answer.responseCode} ${outcome.answer.reason}`, 3) };
    case 'failed': {
      const code = outcome.pospCode ?? outcome.code;
      return outcome.unknown
        ? { title: 'Outcome unknown', lines: [FAILURE_LINES[code] ?? 'No answer', code, 'Check before paying'] }
        : { title: 'Not paid', lines: [FAILURE_LINES[code] ?? 'Payment failed', code, 'Nothing was debited'] };
    }
    case 'cancelled':
      return { title: 'Cancelled', lines: ['Nothing was debited'] };
  }
}

function entryLine(entry: string): string {
  return entry === '' ? '_' : entry;
}

function amountLine(view: PaymentView): string {
  return formatAmount(view.amount ?? 0, view.currency);
}

/** `text` in lines of the display's width, broken at spaces where it can, at most `rows` of them. */
function wrap(text: string, rows: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > 0 && lines.length < rows) {
    if (rest.length <= COLUMNS) {
      lines.push(rest);
      break;
    }
    const space = rest.lastIndexOf(' ', COLUMNS);
    const cut = space > 0 ? space : COLUMNS;
    lines.push(rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
  }
  return lines;
}
