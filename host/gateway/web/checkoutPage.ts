/**
 * The checkout page's script (E3, E4, E9): opens the order the URL (or the typed transaction code)
 * names, follows the card reader's status live over Server-Sent Events, and pays. With the secure
 * reader the page never sees card data (only the last four digits the gateway reports); with a
 * keyboard-wedge reader it parses the typed swipe (shared/cardSwipe) and posts track 2 alone. The
 * page never takes a PIN: it is keyed on the PIN pad or on the phone during the gateway's call.
 */
import { parseKeyboardSwipe } from '../../../shared/cardSwipe';

interface Checkout {
  readonly checkoutId: string;
  readonly merchantName: string;
  readonly description: string;
  readonly amount: number;
  readonly currency: string;
  readonly transactionCodeDisplay: string;
  readonly returnUrl?: string;
  readonly readerId?: string;
  readonly reader: 'connected' | 'disconnected' | 'none';
}

interface ErrorAnswer {
  readonly code: string;
  readonly message: string;
}

/** The gateway's error answers: { error: { code, message } }. */
interface ErrorBody {
  readonly error?: ErrorAnswer;
}

/** What the user reads for each way a payment can end (the gateway's error codes). */
const MESSAGES: Readonly<Record<string, string>> = Object.freeze({
  PAYMENT_INSUFFICIENT_FUNDS: 'Your card does not have enough money for this payment. Nothing was taken.',
  PAYMENT_DECLINED: 'Your bank declined the payment. Nothing was taken.',
  PIN_TRIES_EXCEEDED: 'The PIN was wrong too many times. Nothing was taken.',
  PAYMENT_PIN_NOT_CAPTURED: 'We could not get your PIN by phone. Nothing was taken.',
  PAYMENT_OUTCOME_UNKNOWN: 'The bank did not answer in time. Nothing was taken.',
  CARD_READER_DISCONNECTED: 'The card reader was disconnected. Nothing was taken.',
  CARD_READER_NOT_PAIRED: 'No card reader is connected to this checkout.',
  CARD_READ_FAILED: 'The card could not be read. Nothing was taken.',
  CARD_SWIPE_INVALID: 'The swipe could not be read. Please swipe again.',
  GATEWAY_ORDER_EXPIRED: 'This order has expired. Ask the shop for a new one.',
  GATEWAY_ORDER_NOT_PAYABLE: 'This order is already being paid, or has been paid.',
  GATEWAY_ORDER_NOT_FOUND: 'No order has this transaction code.',
  TRANSACTION_CODE_INVALID: 'A digit of the code is wrong or two are swapped; please type it again.',
  PAYMENT_REQUEST_REPLAYED: 'This payment was already sent.',
  PAYMENT_IN_PROGRESS: 'A payment is already running in this window.',
  VOICE_PROVIDER_UNAVAILABLE: 'We could not call your phone. Nothing was taken.',
  BAD_ARGUMENT: 'Please check what you typed.',
});

const STEPS: Readonly<Record<string, (e: { attempt?: number; panLast4?: string; pinOnPad?: boolean }) => string>> = Object.freeze({
  claimed: () => 'Starting the payment…',
  'reading-card': (e) => (e.pinOnPad ? 'Swipe your card on the card reader, then key your PIN on it.' : 'Swipe your card on the card reader.'),
  'card-read': (e) => `Card **** ${e.panLast4 ?? ''} read.`,
  calling: (e) => `Calling your phone${(e.attempt ?? 1) > 1 ? ' again' : ''}: key your card PIN, then #.`,
  'pin-captured': () => 'PIN received.',
  authorising: () => 'Asking your bank…',
  'wrong-pin': () => 'The PIN was wrong. We will call you again.',
});

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function money(amount: number, currency: string): string {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return `${(amount / 10 ** digits).toFixed(digits)} ${currency}`;
}

function requestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function post<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await response.json()) as T | ErrorBody;
  if (!response.ok) throw (json as ErrorBody).error ?? { code: 'INTERNAL', message: `HTTP ${response.status}` };
  return json as T;
}

function showReader(status: string, readerId?: string): void {
  const el = $('reader');
  el.dataset.status = status;
  el.textContent = status === 'connected' ? `Card reader ${readerId ?? ''} connected` : status === 'disconnected' ? `Card reader ${readerId ?? ''} disconnected` : 'No card reader';
}

function showResult(state: 'paid' | 'failed', title: string, text: string, returnUrl?: string): void {
  $('progress').hidden = true;
  const result = $('result');
  result.hidden = false;
  result.dataset.state = state;
  $('result-title').textContent = title;
  $('result-text').textContent = text;
  if (returnUrl !== undefined) {
    const back = $<HTMLAnchorElement>('return');
    back.href = returnUrl;
    back.hidden = false;
  }
}

function showError(error: unknown): void {
  const e = error as Partial<ErrorAnswer>;
  const code = typeof e.code === 'string' ? e.code : 'INTERNAL';
  showResult('failed', 'Payment not made', MESSAGES[code] ?? 'Something went wrong. Nothing was taken.');
  $('result').dataset.code = code;
}

function chosen(name: string): string {
  return (document.querySelector(`input[name="${name}"]:checked`) as HTMLInputElement).value;
}

/** Resolves to track 2 of the next keyboard-wedge swipe typed into the capture input (Enter ends it). */
function nextSwipe(): Promise<string> {
  const input = $<HTMLInputElement>('swipe');
  input.value = '';
  input.focus();
  $('swipe-hint').hidden = false;
  return new Promise((resolve, reject) => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      input.removeEventListener('keydown', onKey);
      const typed = input.value;
      input.value = '';
      $('swipe-hint').hidden = true;
      try {
        resolve(parseKeyboardSwipe(`${typed}\r`).track2 ?? "");
      } catch (e) {
        reject({ code: 'CARD_SWIPE_INVALID', message: (e as Error).message });
      }
    };
    input.addEventListener('keydown', onKey);
  });
}

function follow(checkout: Checkout): void {
  const events = new EventSource(`sessions/${checkout.checkoutId}/events`);
  events.addEventListener('reader', (m) => {
    const e = JSON.parse((m as MessageEvent).data) as { status: string; readerId?: string };
    showReader(e.status, e.readerId);
  });
  events.addEventListener('step', (m) => {
    const e = JSON.parse((m as MessageEvent).data) as { step: string; attempt?: number; panLast4?: string; pinOnPad?: boolean };
    $('progress').hidden = false;
    $('step').textContent = STEPS[e.step]?.(e) ?? '';
    $('step').dataset.step = e.step;
  });
}

async function pay(checkout: Checkout): Promise<void> {
  const mode = chosen('mode');
  const mobile = $<HTMLInputElement>('mobile').value.replace(/[\s-]/g, '');
  const button = $<HTMLButtonElement>('pay');
  button.disabled = true;
  $('result').hidden = true;
  try {
    const card = mode === 'swipe' ? { kind: 'swipe', track2: await nextSwipe() } : { kind: 'reader', pinOnPad: chosen('pin') === 'pad' };
    $('progress').hidden = false;
    const paid = await post<{ reference: string; maskedPan: string }>(`sessions/${checkout.checkoutId}/pay`, { requestId: requestId(), mobile, card });
    $('pay-form').hidden = true;
    showResult('paid', 'Payment successful', `${money(checkout.amount, checkout.currency)} paid to ${checkout.merchantName} with card ${paid.maskedPan}. Reference ${paid.reference}. A text is on its way to ${mobile}.`, checkout.returnUrl);
  } catch (e) {
    showError(e);
    button.disabled = false;
  }
}

async function open(query: { code?: string; orderNumber?: string; readerId?: string }): Promise<void> {
  try {
    const checkout = await post<Checkout>('sessions', query);
    $('find').hidden = true;
    $('merchant').textContent = checkout.merchantName;
    $('description').textContent = checkout.description;
    $('amount').textContent = money(checkout.amount, checkout.currency);
    $('code').textContent = checkout.transactionCodeDisplay;
    showReader(checkout.reader, checkout.readerId);
    $('order').hidden = false;
    $('pay-form').hidden = false;
    // The PIN by phone is the only way with a keyboard reader: it has no keypad.
    const syncPinChoice = () => {
      const swipe = chosen('mode') === 'swipe';
      $<HTMLInputElement>('pin-choice').hidden = swipe;
      if (swipe) (document.querySelector('input[name="pin"][value="voice"]') as HTMLInputElement).checked = true;
    };
    document.querySelectorAll('input[name="mode"]').forEach((el) => el.addEventListener('change', syncPinChoice));
    $('pay-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void pay(checkout);
    });
    follow(checkout);
  } catch (e) {
    $('find').hidden = false;
    showError(e);
  }
}

function start(): void {
  const params = new URLSearchParams(location.search);
  const readerId = params.get('reader') ?? undefined;
  const code = params.get('code');
  const orderNumber = params.get('order');
  if (code !== null || orderNumber !== null) {
    void open({ ...(code === null ? {} : { code }), ...(orderNumber === null ? {} : { orderNumber }), ...(readerId === undefined ? {} : { readerId }) });
    return;
  }
  $('find').hidden = false;
  $<HTMLInputElement>('reader-input').value = readerId ?? '';
  $('find').addEventListener('submit', (event) => {
    event.preventDefault();
    const reader = $<HTMLInputElement>('reader-input').value.trim();
    void open({ code: $<HTMLInputElement>('code-input').value, ...(reader === '' ? {} : { readerId: reader }) });
  });
}

start();
