/**
 * One whole payment through the POS payment app and its screens in xs-budget's ESP32 creation
 * (test/xs/budget): a bad number re-entered, the name confirmed, the amount, an unreadable swipe,
 * a swipe, a PIN cleared and keyed again, approved, against a scripted terminal (no crypto: the
 * payment's card data, PIN block and MACs are terminal.paymentBudget.test.ts's). Used by
 * test/xs/mobilePaymentApp.test.ts and `npm run bench -- mobile-payments`.
 */
import { fileURLToPath } from 'node:url';
import { budgetEngine } from '../budget/budgetEngine';
import { bundleForXs } from '../bundle';
import { XsWorker } from '../xsWorker';
import type { PaymentScript } from './paymentScript';

export const PAYMENT_APP_ENTRY = fileURLToPath(new URL('./mobilePaymentAppEntry.ts', import.meta.url));

const keys = (text: string) => [...text].map((c) => ({ key: c === 'K' ? 'confirm' : c === 'X' ? 'cancel' : c === 'C' ? 'clear' : c }));
export const TRACK2 = '6222021000000000017=30121011234';
/** A whole payment, every detour included: 40 inputs. */
export const FULL_PAYMENT = [...keys('12345678901K13912345678K'), ...keys('K2500K'), { swipe: 'unreadable' }, { swipe: TRACK2 }, ...keys('55C9876K')];

export interface PaymentAppCost {
  readonly inputs: number;
  /** XS's deterministic count of work for the whole flow. */
  readonly compute: number;
  /** Peaks during the flow above what loading the app left (chunk bytes, slots), and the deepest stack. */
  readonly chunks: number;
  readonly slots: number;
  readonly stack: number;
  readonly done: boolean;
}

export async function measurePaymentApp(): Promise<PaymentAppCost> {
  const device = await XsWorker.start(await bundleForXs(PAYMENT_APP_ENTRY, 'device'), { name: 'mobile-payment-app-budget', engine: await budgetEngine(), timeoutMs: 60_000 });
  try {
    // The bundle is loaded unpreloaded here (its objects in RAM); the manifest preloads both modules on the device.
    const loaded = device.startReply.meter.memory!;
    const script: PaymentScript = { steps: FULL_PAYMENT, lookup: 'found', pay: '00', lastScreenOnly: true };
    const reply = await device.command(new TextEncoder().encode(JSON.stringify(script)));
    const { reply: run } = JSON.parse(new TextDecoder().decode(reply.bytes)) as { reply?: { done: boolean } };
    const memory = reply.meter.memory!;
    return { inputs: FULL_PAYMENT.length, compute: reply.meter.compute, chunks: memory.chunksPeak - loaded.chunks, slots: memory.slotsPeak - loaded.slots, stack: memory.stackPeak, done: run?.done === true };
  } finally {
    await device.close();
  }
}
