/**
 * The POS payment app (firmware/core/mobilePaymentApp) and its screens in XS, driven by a script
 * of key presses and swipes against a scripted terminal (test/xs/mobilePaymentApp.test.ts). The
 * reply holds every screen drawn and what the terminal was asked, so the test compares it with
 * the same script run in Node.
 *
 * Replies go back through a promise job, as test/xs/entry.ts explains: xsnap-worker runs every
 * pending job before it reads `result`. Bundled for xsnap and, for the device budget, for xs-budget.
 */
import { MobilePaymentApp } from '../../../firmware/core/mobilePaymentApp';
import { paymentScreen } from '../../../firmware/hal/moddable/paymentScreens';
import { runPaymentScript, type PaymentScript } from './paymentScript';

interface ReplyBox {
  result?: ArrayBuffer;
}

/** ASCII both ways (the scripts and screens are ASCII): the device runtime has no TextEncoder (xs-budget). */
function encode(value: unknown): ArrayBuffer {
  const text = JSON.stringify(value);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0x7f;
  return bytes.buffer;
}

function decode(message: ArrayBuffer): string {
  const bytes = new Uint8Array(message);
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

(globalThis as unknown as { handleCommand: (message: ArrayBuffer) => ReplyBox }).handleCommand = (message) => {
  const box: ReplyBox = {};
  const script = JSON.parse(decode(message)) as PaymentScript;
  runPaymentScript(script, (terminal) => new MobilePaymentApp({ terminal, currency: 'CNY' }), paymentScreen).then(
    (reply) => (box.result = encode({ reply })),
    (e: unknown) => (box.result = encode({ failure: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })),
  );
  return box;
};
