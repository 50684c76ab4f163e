/**
 * System E's scenario (an online card payment through the gateway) on a running host, driven as
 * the checkout page drives it: a merchant creates a signed order; the checkout opens it by its
 * transaction code with the shop's card reader paired and follows it over Server-Sent Events; the
 * emulated PIN pad reads the card (AES DUKPT); the payer's phone answers the gateway's call and
 * keys the PIN; the debit goes over ISO 8583; the merchant is notified, the payer texted, the card
 * data deleted (with its signed event). Then a card with too little money, refused with nothing
 * moved. Every step is checked; `ok` only if all did what they should.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileStorage } from '../../firmware/hal/node/fileStorage';
import type { RunningHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { connectEmulatedReader, loadReaderBdk, startGatewayMerchant, track2Of } from './onlinePaymentActors';

export interface ScenarioStep {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface OnlinePaymentScenarioResult {
  readonly ok: boolean;
  readonly steps: readonly ScenarioStep[];
}

const PAYER = '13912345678';

/** The page's events of one checkout, as the browser's EventSource gets them. */
async function followEvents(url: string, onEvent: (event: { type: string; [k: string]: unknown }) => void, signal: AbortSignal): Promise<void> {
  const response = await fetch(url, { signal, headers: { accept: 'text/event-stream' } });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const data = buffer.slice(0, end).split('\n').find((l) => l.startsWith('data: '));
          buffer = buffer.slice(end + 2);
          if (data !== undefined) onEvent(JSON.parse(data.slice(6)) as { type: string });
        }
      }
    } catch {
      // aborted at the end
    }
  })();
}

export async function runOnlinePaymentScenario(options: { host: RunningHost; workDir: string; progress: (line: string) => void }): Promise<OnlinePaymentScenarioResult> {
  const { host, progress } = options;
  const steps: ScenarioStep[] = [];
  const step = (name: string, ok: boolean, detail: string) => {
    steps.push({ name, ok, detail });
    progress(`${ok ? 'ok' : 'FAIL'}: ${name}: ${detail}`);
  };
  const base = `${host.url}/gateway/checkout`;
  const merchant = await startGatewayMerchant(host, 'Tea House Ltd');
  const stop = new AbortController();
  try {
    const bdk = await loadReaderBdk(host);
    step('key ceremony', true, "the card readers' BDK loaded into the gateway's HSM from two components");
    await mkdir(join(options.workDir, 'reader'), { recursive: true });
    const reader = await connectEmulatedReader(host, bdk, 'till-1', track2Of(TEST_CARDS.unionPay), TEST_PIN, createFileStorage(join(options.workDir, 'reader')));
    step('card reader', true, 'the emulated PIN pad till-1, its DUKPT initial key injected, dialled the gateway');

    const pay = async (card: typeof TEST_CARDS.unionPay, amount: number, description: string) => {
      reader.card = track2Of(card);
      const order = await merchant.createOrder({ amount, description });
      step('order created (E1, E2)', order.status === 'created', `${merchant.legalName} ordered "${description}", ${amount} fen: transaction code ${order.transactionCodeDisplay}`);
      const opened = (await (await fetch(`${base}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: order.transactionCode, readerId: 'till-1' }) })).json()) as { checkoutId: string; merchantName: string; transactionCodeDisplay: string; reader: string };
      step('checkout opened (E3, E4)', opened.transactionCodeDisplay === order.transactionCodeDisplay && opened.reader === 'connected', `shows ${opened.merchantName}, code ${opened.transactionCodeDisplay}, card reader ${opened.reader}`);
      const events: string[] = [];
      await followEvents(`${base}/sessions/${opened.checkoutId}/events`, (e) => events.push(e.type === 'step' ? String(e.step) : e.type), stop.signal);
      host.mobile.voice.phone(`+86${PAYER}`, { answer: { afterSeconds: 1 }, steps: [`${TEST_PIN}#`] });
      const before = host.mobile.network.provider.balanceOf(card.pan)?.balance ?? 0;
      const answer = await fetch(`${base}/sessions/${opened.checkoutId}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: randomUUID(), mobile: PAYER, card: { kind: 'reader', pinOnPad: false } }) });
      const body = (await answer.json()) as { status?: string; reference?: string; maskedPan?: string; error?: { code: string; message: string } };
      const after = host.mobile.network.provider.balanceOf(card.pan)?.balance ?? 0;
      progress(`  the page's events: ${events.join(', ')}`);
      return { order, body, moved: before - after };
    };

    const paid = await pay(TEST_CARDS.unionPay, 12800, 'Two tea cups');
    step('paid (E4-E6)', paid.body.status === 'paid' && paid.moved === 12800, paid.body.status === 'paid' ? `card ${paid.body.maskedPan} read by the PIN pad, PIN keyed on the phone during the call, debited 12800 fen over ISO 8583, reference ${paid.body.reference}` : `refused: ${paid.body.error?.code}`);
    const until = async (check: () => boolean) => {
      for (const end = Date.now() + 10_000; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
      return check();
    };
    const notified = await until(() => merchant.received.some((n) => n.orderNumber === paid.order.orderNumber && n.status === 'paid'));
    step('merchant notified (E8)', notified, notified ? 'the signed notification reached the shop backend: order number, status paid, amount 12800' : 'no notification within 10 s');
    const deleted = await until(() => merchant.received.some((n) => n.orderNumber === paid.order.orderNumber && n.type === 'sensitive-data-deleted'));
    step('card data deleted (E7)', deleted && !host.checkout.vault.orders().includes(paid.order.orderNumber), 'track 2 and PIN block, kept only enciphered, deleted; the signed "sensitive-data-deleted" event reached the shop');
    const texted = await until(() => host.mobile.sms.sent(`+86${PAYER}`).some((m) => m.text.includes('128.00')));
    step('payer texted (E9)', texted, texted ? host.mobile.sms.sent(`+86${PAYER}`).at(-1)?.text ?? '' : 'no text within 10 s');

    const poor = await pay(TEST_CARDS.insufficientFunds, 9900, 'Tea pot');
    const order = await host.gateway.orders.findByNumber(poor.order.orderNumber);
    step('insufficient funds', poor.body.error?.code === 'PAYMENT_INSUFFICIENT_FUNDS' && poor.moved === 0 && order.state === 'failed', `refused ${poor.body.error?.code}: "${poor.body.error?.message}"; order ${order.state}, nothing taken from the card`);
    reader.link.close();
  } catch (e) {
    step('scenario', false, e instanceof Error ? e.message : String(e));
  } finally {
    stop.abort();
    await merchant.close();
  }
  return { ok: steps.every((s) => s.ok), steps };
}
