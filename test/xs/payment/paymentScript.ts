/**
 * One scripted run of the POS payment app, the same in Node and XS: key presses ('0'-'9', 'confirm',
 * 'cancel', 'clear') and swipes (track 2 as text, or 'unreadable') against a terminal whose answers
 * the script gives. Returns every screen drawn and what the terminal was asked; the PIN the
 * terminal read is returned only as its length.
 */
import type { MobilePaymentApp, PaymentTerminal, PaymentView } from '../../../firmware/core/mobilePaymentApp';
import type { Screen } from '../../../firmware/hal/display';
import type { Key } from '../../../firmware/hal/keypad';
import { PaypadError } from '../../../shared/errors';

export interface PaymentScript {
  readonly steps: readonly ({ readonly key: string } | { readonly swipe: string })[];
  /** 'found', or an error code the lookup fails with. */
  readonly lookup: string;
  /** The payment's response code, or an error code it fails with. */
  readonly pay: string;
  /** Keep only the last screen (to measure the app, not the harness's record of it). */
  readonly lastScreenOnly?: boolean;
}

export interface PaymentRun {
  readonly screens: readonly Screen[];
  readonly calls: readonly string[];
  readonly done: boolean;
}

function bytesOf(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export function runPaymentScript(script: PaymentScript, newApp: (terminal: PaymentTerminal) => MobilePaymentApp, draw: (view: PaymentView) => Screen): Promise<PaymentRun> {
  const calls: string[] = [];
  const terminal: PaymentTerminal = {
    lookupPayee(payee) {
      calls.push(`lookup ${payee}`);
      if (script.lookup !== 'found') return Promise.reject(new PaypadError(script.lookup as never, 'scripted'));
      return Promise.resolve({ v: 1, lookupId: 'L1', maskedName: 'H** M*****', expiresAt: '2026-12-06T03:00:00Z' });
    },
    payByMobile(payment) {
      let track = '';
      for (const b of payment.track2) track += String.fromCharCode(b);
      calls.push(`pay ${payment.amount} ${payment.currency} track ${track.length} chars pin ${payment.pin.length} digits`);
      if (!/^[0-9A-Z]{2}$/.test(script.pay)) return Promise.reject(new PaypadError(script.pay as never, 'scripted'));
      return Promise.resolve({ v: 1, responseCode: script.pay, reason: script.pay === '00' ? 'Approved' : 'Insufficient funds', reference: 'E2B2474B4783', amount: payment.amount, currency: payment.currency, maskedPan: '622202*********0017' });
    },
  };
  const app = newApp(terminal);
  const screens: Screen[] = [draw(app.view)];
  const record = () => {
    if (script.lastScreenOnly) screens.length = 0;
    screens.push(draw(app.view));
  };
  // One step at a time, each from a promise reaction as the device's input loop runs them.
  const next = (index: number): Promise<PaymentRun> => {
    if (index === script.steps.length) return Promise.resolve({ screens, calls, done: app.done });
    const step = script.steps[index];
    let exchange: Promise<void> | undefined;
    if ('key' in step) exchange = app.press(step.key as Key);
    else app.swipe(step.swipe === 'unreadable' ? { status: 'unreadable' } : { status: 'read', track2: bytesOf(step.swipe) });
    return Promise.resolve(exchange).then(() => {
      record();
      return next(index + 1);
    });
  };
  return next(0);
}
