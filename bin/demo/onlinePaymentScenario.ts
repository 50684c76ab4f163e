/**
 * System E's scenario (an online card payment through the gateway) on a running host, in two parts.
 *
 *   checkout   driven as the checkout page drives it: a merchant creates a signed order; the
 *              checkout opens it by its transaction code with the shop's card reader paired and
 *              follows it over Server-Sent Events; the emulated PIN pad reads the card (AES DUKPT);
 *              the payer's phone answers the gateway's call and keys the PIN; the debit goes over
 *              ISO 8583; the merchant is notified, the payer texted, the card data deleted (with its
 *              signed event), the ledger verified. Then a card with too little money, refused with
 *              nothing moved.
 *   phone      the buyer's phone client (the real `paypad phone` CLI), enrolled by the texted code
 *              with a card bound, finds a second order by its transaction code and pays it with the
 *              bound card and its PIN (E3); the same results are checked as for the checkout.
 *
 * Every step is checked; `ok` only if all did what they should.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileStorage } from '../../firmware/hal/node/fileStorage';
import type { PhoneOrder } from '../../shared/protocol/phoneClient';
import { formatTransactionCode } from '../../host/gateway/transactionCode';
import { createLedger } from '../../host/payments/ledger/ledger';
import { formatAmount } from '../../host/payments/mobile/notifications';
import type { RunningHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { connectEmulatedReader, type GatewayOrderAnswer, loadReaderBdk, startGatewayMerchant, track2Of } from './onlinePaymentActors';
import { runPaypadJson, runPaypadTranscript } from './paypadProcess';
import { enrolPhone } from './phoneEnrolment';

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
const AMOUNT = 12_800;
const PURCHASE = 'Two tea cups';
/** How long a notification or a text may take through the outbox before its step fails. */
const DELIVERY_TIMEOUT_MS = 10_000;

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
  const balance = (pan: string) => host.mobile.network.provider.balanceOf(pan)?.balance ?? 0;
  const until = async <T>(found: () => T | undefined): Promise<T | undefined> => {
    for (const end = Date.now() + DELIVERY_TIMEOUT_MS; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      const value = found();
      if (value !== undefined) return value;
    }
    return found();
  };
  const merchant = await startGatewayMerchant(host, 'Tea House Ltd');
  const stop = new AbortController();
  try {
    const bdk = await loadReaderBdk(host);
    step('key ceremony', true, "the card readers' BDK loaded into the gateway's HSM from two components");
    await mkdir(join(options.workDir, 'reader'), { recursive: true });
    const reader = await connectEmulatedReader(host, bdk, 'till-1', track2Of(TEST_CARDS.unionPay), TEST_PIN, createFileStorage(join(options.workDir, 'reader')));
    step('card reader', true, 'the emulated PIN pad till-1, its DUKPT initial key injected, dialled the gateway');

    const created = async (description: string, amount: number) => {
      const order = await merchant.createOrder({ amount, description });
      step('order created (E1, E2)', order.status === 'created', `${merchant.legalName} ordered "${description}", ${amount} fen: transaction code ${order.transactionCodeDisplay}`);
      return order;
    };
    const pay = async (card: typeof TEST_CARDS.unionPay, amount: number, description: string) => {
      reader.card = track2Of(card);
      const order = await created(description, amount);
      const opened = (await (await fetch(`${base}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: order.transactionCode, readerId: 'till-1' }) })).json()) as { checkoutId: string; merchantName: string; transactionCodeDisplay: string; reader: string };
      step('checkout opened (E3, E4)', opened.transactionCodeDisplay === order.transactionCodeDisplay && opened.reader === 'connected', `shows ${opened.merchantName}, code ${opened.transactionCodeDisplay}, card reader ${opened.reader}`);
      const events: string[] = [];
      await followEvents(`${base}/sessions/${opened.checkoutId}/events`, (e) => events.push(e.type === 'step' ? String(e.step) : e.type), stop.signal);
      host.mobile.voice.phone(`+86${PAYER}`, { answer: { afterSeconds: 1 }, steps: [`${TEST_PIN}#`] });
      const before = balance(card.pan);
      const answer = await fetch(`${base}/sessions/${opened.checkoutId}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: randomUUID(), mobile: PAYER, card: { kind: 'reader', pinOnPad: false } }) });
      const body = (await answer.json()) as { status?: string; reference?: string; maskedPan?: string; error?: { code: string; message: string } };
      progress(`  the page's events: ${events.join(', ')}`);
      return { order, body, moved: before - balance(card.pan) };
    };
    /** E7-E9 and the books, after `order` was paid with `reference` by the holder of `payer`: the same for either path. */
    const results = async (order: GatewayOrderAnswer, payer: string, reference: string | undefined) => {
      const notified = await until(() => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.status === 'paid'));
      step('merchant notified (E8)', reference !== undefined && notified?.paymentReference === reference && notified?.amount === order.amount, notified ? `the signed notification reached the shop backend: order ${String(notified.merchantOrderId)}, status paid, amount ${String(notified.amount)}, reference ${String(notified.paymentReference)}` : `no notification within ${DELIVERY_TIMEOUT_MS / 1000} s`);
      const deletion = await until(() => merchant.received.find((n) => n.orderNumber === order.orderNumber && n.type === 'sensitive-data-deleted'));
      const deleted = (deletion?.deleted as string[] | undefined)?.map((kind) => (kind === 'track2' ? 'track 2' : kind === 'pin-block' ? 'PIN block' : kind)).join(' and ');
      step('card data deleted (E7)', deletion !== undefined && !host.checkout.vault.orders().includes(order.orderNumber), deletion ? `${deleted}, kept only enciphered, deleted; the signed "sensitive-data-deleted" event reached the shop` : `no deletion event within ${DELIVERY_TIMEOUT_MS / 1000} s`);
      const text = await until(() => host.mobile.sms.sent(`+86${payer}`).find((m) => m.text.includes(order.merchantOrderId)));
      step('payer texted (E9)', text !== undefined, text?.text ?? `no text within ${DELIVERY_TIMEOUT_MS / 1000} s`);
      const books = await createLedger(host.database).verify();
      step('ledger balances', books.ok, books.ok ? `${books.transfers} transfers over ${books.accounts} accounts, debits equal credits, every invariant holds` : books.problems.join('; '));
    };

    const paid = await pay(TEST_CARDS.unionPay, AMOUNT, PURCHASE);
    step('paid (E4-E6)', paid.body.status === 'paid' && paid.moved === AMOUNT, paid.body.status === 'paid' ? `card ${paid.body.maskedPan} read by the PIN pad, PIN keyed on the phone during the call, debited ${AMOUNT} fen over ISO 8583, reference ${paid.body.reference}` : `refused: ${paid.body.error?.code}`);
    await results(paid.order, PAYER, paid.body.reference);

    const poor = await pay(TEST_CARDS.insufficientFunds, 9900, 'Tea pot');
    const order = await host.gateway.orders.findByNumber(poor.order.orderNumber);
    step('insufficient funds', poor.body.error?.code === 'PAYMENT_INSUFFICIENT_FUNDS' && poor.moved === 0 && order.state === 'failed', `refused ${poor.body.error?.code}: "${poor.body.error?.message}"; order ${order.state}, nothing taken from the card`);
    reader.link.close();

    // E3: the buyer's phone client pays a second order by its transaction code.
    const home = join(options.workDir, 'phone');
    const where = ['--home', home, '--url', host.url];
    const enrolled = await enrolPhone(host, home, [TEST_CARDS.unionPay]);
    step('phone enrolled, card bound (E3)', enrolled.maskedPans.length === 1, `paypad phone enrolled ${enrolled.mobile} with the code ${enrolled.code} read off the simulated phone; card ${enrolled.maskedPans[0]} verified with its bank`);
    const second = await created(PURCHASE, AMOUNT);
    const seen = await runPaypadJson<PhoneOrder>(['phone', 'order', '--code', second.transactionCodeDisplay, ...where]);
    step('phone found the order by its code (E3)', seen.orderNumber === second.orderNumber && seen.merchantName === merchant.legalName && seen.amountMinor === AMOUNT && seen.state === 'created', `the phone shows ${seen.merchantName}, "${seen.description}", ${formatAmount(seen.amountMinor, seen.currency)}, code ${formatTransactionCode(seen.transactionCode)}, ${seen.state}`);
    const before = balance(TEST_CARDS.unionPay.pan);
    const run = await runPaypadTranscript(['phone', 'pay-order', '--code', second.transactionCode, '--card', TEST_CARDS.unionPay.pan.slice(-4), '--pin-stdin', '--yes', ...where], { stdin: `${TEST_PIN}\n` });
    const byPhone = run.exit === 0 ? (JSON.parse(run.stdout) as { outcome: string; reference: string; maskedPan: string; order: PhoneOrder }) : undefined;
    const moved = before - balance(TEST_CARDS.unionPay.pan);
    step('paid from the phone (E3, E6)', byPhone?.outcome === 'paid' && byPhone.order.state === 'paid' && moved === AMOUNT, byPhone ? `bound card ${byPhone.maskedPan}, PIN keyed on the phone (a format 4 PIN block under K_pin), debited ${moved} fen over ISO 8583, reference ${byPhone.reference}` : `exit ${run.exit}: ${run.stderr.trim().split('\n').at(-1) ?? ''}`);
    await results(second, enrolled.mobile, byPhone?.reference);
  } catch (e) {
    step('scenario', false, e instanceof Error ? e.message : String(e));
  } finally {
    stop.abort();
    await merchant.close();
  }
  return { ok: steps.every((s) => s.ok), steps };
}
