/**
 * The POS payment app in the XS engine (X3): the same scripts run through firmware/core/
 * mobilePaymentApp and hal/moddable/paymentScreens in xsnap and in Node draw the same screens and
 * ask the terminal the same things: the C4 re-entry loop, the masked name, an unreadable swipe,
 * the PIN never shown, approval, decline and refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MobilePaymentApp } from '../../firmware/core/mobilePaymentApp';
import { paymentScreen } from '../../firmware/hal/moddable/paymentScreens';
import { RESOURCES, targetAmount } from './budget/deviceBudget';
import { bundleForXs } from './bundle';
import { FULL_PAYMENT as FULL, PAYMENT_APP_ENTRY as ENTRY, measurePaymentApp } from './payment/paymentAppBudget';
import { type PaymentRun, type PaymentScript, runPaymentScript } from './payment/paymentScript';
import { XsWorker } from './xsWorker';
let xs: XsWorker;
beforeAll(async () => {
  xs = await XsWorker.start(await bundleForXs(ENTRY), { name: 'mobile-payment-app', timeoutMs: 20_000 });
});
afterAll(async () => {
  await xs?.close();
});

const keys = (text: string) => [...text].map((c) => ({ key: c === 'K' ? 'confirm' : c === 'X' ? 'cancel' : c === 'C' ? 'clear' : c }));

async function inXs(script: PaymentScript): Promise<{ run: PaymentRun; compute: number }> {
  const reply = await xs.command(new TextEncoder().encode(JSON.stringify(script)));
  const answer = JSON.parse(new TextDecoder().decode(reply.bytes)) as { reply?: PaymentRun; failure?: string };
  if (!answer.reply) throw new Error(answer.failure);
  return { run: answer.reply, compute: reply.meter.compute };
}

const inNode = (script: PaymentScript) => runPaymentScript(script, (terminal) => new MobilePaymentApp({ terminal, currency: 'CNY' }), paymentScreen);

describe('C3-C8 in XS: the POS payment app draws and asks exactly as in Node', () => {
  it.each([
    ['approved after a bad number, an unreadable swipe and a cleared PIN', { steps: FULL, lookup: 'found', pay: '00' }],
    ['declined 51', { steps: FULL, lookup: 'found', pay: '51' }],
    ['unknown payee', { steps: keys('13912345678K'), lookup: 'PAYEE_UNKNOWN', pay: '00' }],
    ['cancelled at the name', { steps: keys('13912345678KX'), lookup: 'found', pay: '00' }],
  ] as const)('%s', async (_name, script) => {
    const node = await inNode(script);
    const { run, compute } = await inXs(script);
    expect(run).toEqual(JSON.parse(JSON.stringify(node)));
    expect(run.done).toBe(true);
    expect(compute).toBeGreaterThan(0);
    // The PIN is on no screen.
    expect(JSON.stringify(run.screens)).not.toMatch(/9876|55/);
  });

  it('C4: the bad number is shown as invalid and asked again; the approved screen names the reference', async () => {
    const { run } = await inXs({ steps: FULL, lookup: 'found', pay: '00' });
    expect(run.screens.some((s) => s.lines[0] === 'Invalid number')).toBe(true);
    expect(run.calls).toEqual(['lookup 13912345678', 'pay 2500 CNY track 31 chars pin 4 digits']);
    expect(run.screens.at(-1)).toEqual({ title: 'Approved', lines: ['CNY 25.00 to H** M*****', '622202*********0017', 'Ref E2B2474B4783'] });
  });

  it("X3: the app's whole flow in the ESP32 creation (xs-budget) needs less than onboarding's 60% targets above what loading left", async () => {
    const cost = await measurePaymentApp();
    expect(cost.done).toBe(true);
    console.info(`payment app in xs-budget (scripted terminal, no crypto; ${cost.inputs} inputs): compute ${cost.compute}; the flow's peak above loading: chunks ${cost.chunks}, slots ${cost.slots}, stack ${cost.stack}`);
    for (const resource of RESOURCES) expect(cost[resource], resource).toBeLessThanOrEqual(targetAmount(resource));
  }, 120_000);
});
