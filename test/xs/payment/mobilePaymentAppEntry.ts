/**
 * The POS payment app (firmware/core/mobilePaymentApp) and its screens in XS, driven by a script
 * of key presses and swipes against a scripted terminal (test/xs/mobilePaymentApp.test.ts). The
 * reply holds every screen drawn and what the terminal was asked, so the test compares it with
 * the same script run in Node.
 *
 * Replies go back through a promise job, as test/xs/entry.ts explains: xsnap-worker runs every
 * pending job before it reads `result`.
 */
import { MobilePaymentApp } from '../../../firmware/core/mobilePaymentApp';
import { paymentScreen } from '../../../firmware/hal/moddable/paymentScreens';
import { runPaymentScript, type PaymentScript } from './paymentScript';

interface ReplyBox {
  result?: ArrayBuffer;
}

function encode(value: unknown): ArrayBuffer {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
}

(globalThis as unknown as { handleCommand: (message: ArrayBuffer) => ReplyBox }).handleCommand = (message) => {
  const box: ReplyBox = {};
  const script = JSON.parse(new TextDecoder().decode(message)) as PaymentScript;
  runPaymentScript(script, (terminal) => new MobilePaymentApp({ terminal, currency: 'CNY' }), paymentScreen).then(
    (reply) => (box.result = encode({ reply })),
    (e: unknown) => (box.result = encode({ failure: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })),
  );
  return box;
};
