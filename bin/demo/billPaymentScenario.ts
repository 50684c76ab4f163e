/**
 * System D end to end (docs/bill-payments.md, SPEC D1-D8; CN101853458A's scenario): a merchant's
 * order becomes a bill pushed to a phone's payment client and paid with a bound card, through the
 * real `paypad phone` CLI against a running host.
 *
 *   phone      enrols its number with the texted code and binds two cards, one with too little money (D1)
 *   order      the demo merchant (Harbour Books Ltd, the merchant simulator) signs an order for the
 *              phone's number (D2); the bill reaches `paypad phone watch` over the push channel (D3)
 *   paying     the poor card is answered "insufficient funds" and the bill stays open; the other
 *              card pays it with the PIN, under the same idempotency key (D4, D6)
 *   results    the merchant receives the platform-signed notifications (declined, then paid), texts
 *              its buyer, the card is debited once, and the ledger verifies (D5)
 *   refusal    a second order refused from the phone: merchant and buyer told, nothing moved (D7)
 *   another's  a third order placed by another number and designated to this phone: paid here, the
 *              merchant told it was paid for another, the buyer texted who paid (D8)
 *
 * The host runs in this process (the caller starts it), so the scenario reads the simulated
 * banks' balances, the demo merchant's received notifications and the phone's accepted sequence
 * directly; everything the user does goes through `bin/paypad`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PaypadError } from '../../shared/errors';
import { maskMobileNumber, mobileNumberToE164 } from '../../shared/mobileNumber';
import type { PhoneBill } from '../../shared/protocol/phoneClient';
import { createLedger } from '../../host/payments/ledger/ledger';
import type { NotificationBody } from '../../host/bills/merchantNotifications';
import type { BillClientTables } from '../../host/bills/client/tables';
import type { RunningHost } from '../../host/server';
import { TEST_CARDS, TEST_PIN } from '../../host/simulators/testCards';
import { newMobileNumber, type ScenarioStep } from './mobilePaymentScenario';
import { databaseEnv } from './onboardingScenario';
import { PAYPAD_BIN, type PaypadRunOptions, type PaypadTranscript, runPaypadTranscript } from './paypadProcess';
import { enrolPhone, texts } from './phoneEnrolment';

export type { ScenarioStep } from './mobilePaymentScenario';

export interface BillPaymentScenarioOptions {
  /** A running host with demo data on (the demo merchant). */
  readonly host: RunningHost;
  /** Where the phone's directory goes; the caller removes it. */
  readonly workDir: string;
  readonly progress?: (line: string) => void;
  /** Hears of every `paypad` process once it exited, with what it printed (tests scan it, X1). */
  readonly onPaypadExit?: (transcript: PaypadTranscript) => void;
  /** How long a notification or a text may take through the outbox before its step fails (default 15 s). */
  readonly deliveryTimeoutMs?: number;
}

export interface BillPaymentScenarioResult {
  readonly steps: readonly ScenarioStep[];
  /** The phone's number (11 digits) and the other buyer's (D8). */
  readonly payerMobile: string;
  readonly otherBuyerMobile: string;
  readonly ok: boolean;
}

const AMOUNT = 12_800;
const POOR = TEST_CARDS.insufficientFunds;
const RICH = TEST_CARDS.unionPay;
const DELIVERY_TIMEOUT_MS = 15_000;

/** @throws PaypadError DEMO_STEP_FAILED when a step cannot be carried out; a wrong result is a step not ok. */
export async function runBillPaymentScenario(options: BillPaymentScenarioOptions): Promise<BillPaymentScenarioResult> {
  const { host } = options;
  const say = options.progress ?? (() => {});
  const home = join(options.workDir, 'phone');
  const commands: PaypadRunOptions = { onExit: options.onPaypadExit };
  const wait = options.deliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS;
  const where = ['--home', home, '--url', host.url];
  const phone = (args: readonly string[], stdin?: string) => runPaypadTranscript(['phone', ...args, ...where], { ...commands, stdin });
  const steps: ScenarioStep[] = [];
  const step = (s: ScenarioStep) => {
    steps.push(s);
    say(`${s.ok ? 'ok  ' : 'FAIL'} ${s.name}: ${s.detail}`);
  };
  const merchant = host.bills.demoMerchant();
  if (merchant === undefined) throw new PaypadError('DEMO_STEP_FAILED', 'the host runs no demo merchant (demo data is off)');

  // D1: enrol by the texted code, bind two cards.
  const { mobile, code, maskedPans: bound } = await enrolPhone(host, home, [POOR, RICH], commands);
  const e164 = mobileNumberToE164(mobile);
  step({ name: 'phone enrolled, two cards bound (D1)', detail: `${mobile}, code ${code} read off the simulated phone; cards ${bound.join(', ')} verified with their bank`, ok: bound.length === 2 });

  // D2, D3: the merchant's signed order, pushed to the watching client.
  const first = await orderPushed(host, home, { amountMinor: AMOUNT, goods: 'The Art of Computer Programming, vol. 1', designatedMobile: e164, buyerMobile: e164 }, commands);
  step({ name: 'signed order pushed to the phone (D2, D3)', detail: `bill ${first.bill.id} from ${first.bill.merchantName} (${first.bill.merchantCertificateSubject}), ${first.bill.amountMinor} fen for "${first.bill.goods}", arrived as ${first.kind}`, ok: first.kind === 'new' && first.bill.merchantName === merchant.identity.legalName && first.bill.state === 'open' });

  // D4, D6: the poor card is told insufficient funds; the other card pays.
  const before = { poor: balance(host, POOR.pan), rich: balance(host, RICH.pan) };
  const poor = await phone(['pay', '--bill', first.bill.id, '--card', POOR.pan.slice(-4), '--pin-stdin', '--yes'], `${TEST_PIN}\n`);
  const poorAnswer = jsonLine<{ outcome: string; bill: PhoneBill }>(poor.stdout);
  step({ name: 'card with too little money: the user is told (D6)', detail: `exit ${poor.exit}, ${poorAnswer?.outcome}; "${lastLine(poor.stderr)}"; bill ${poorAnswer?.bill.state}`, ok: poor.exit === 1 && poorAnswer?.outcome === 'insufficient_funds' && poorAnswer.bill.state === 'open' && balance(host, POOR.pan) === before.poor });
  const rich = await phone(['pay', '--bill', first.bill.id, '--card', RICH.pan.slice(-4), '--pin-stdin', '--yes'], `${TEST_PIN}\n`);
  const richAnswer = jsonLine<{ outcome: string; reference?: string }>(rich.stdout);
  const debited = before.rich - balance(host, RICH.pan);
  step({ name: 'another card, PIN entered: paid (D4, D6)', detail: `exit ${rich.exit}, ${richAnswer?.outcome}, reference ${richAnswer?.reference ?? '-'}; ${mask(RICH.pan)} down ${debited} fen, ${mask(POOR.pan)} untouched`, ok: rich.exit === 0 && richAnswer?.outcome === 'paid' && debited === AMOUNT && balance(host, POOR.pan) === before.poor });

  // D5: the merchant's signed notifications, its text to the buyer, the books.
  const told = await notifications(wait, merchant.received, first.bill.id, ['bill.payment_declined', 'bill.paid']);
  step({ name: 'merchant receives the signed result (D5)', detail: told.map(describeNotification).join('; ') || 'nothing received', ok: told.length === 2 && told[0].responseCode === '51' && told[1].reference === richAnswer?.reference });
  const paidText = await textMatching(wait, host, mobile, new RegExp(`order ${first.bill.orderId} .*was paid`), commands);
  step({ name: 'buyer texted by the merchant (D5)', detail: paidText ?? 'no text', ok: paidText !== undefined });
  const verify = await runPaypadTranscript(['ledger', 'verify'], { ...commands, env: databaseEnv(host) });
  step({ name: 'ledger balances', detail: verify.stdout.trim().split('\n').at(-1) ?? '', ok: verify.exit === 0 });

  // D7: refused from the phone.
  const second = await orderPushed(host, home, { amountMinor: 4_500, goods: 'A gift card', designatedMobile: e164, buyerMobile: e164 }, commands);
  const ledgerBefore = await ledgerTotals(host);
  const refused = await phone(['refuse', '--bill', second.bill.id]);
  const refusedBill = jsonLine<PhoneBill>(refused.stdout);
  const refusal = await notifications(wait, merchant.received, second.bill.id, ['bill.refused']);
  const refusedByShop = await textMatching(wait, host, mobile, new RegExp(`order ${second.bill.orderId} .*was refused`), commands);
  const refusedByPaypad = await textMatching(wait, host, mobile, new RegExp(`your order ${second.bill.orderId} was not paid`), commands);
  const nothingMoved = balance(host, RICH.pan) === before.rich - AMOUNT && (await ledgerTotals(host)) === ledgerBefore;
  step({ name: 'refusal: phone -> platform -> merchant -> buyer (D7)', detail: `bill ${second.bill.id} ${refusedBill?.state}; merchant: ${refusal.map(describeNotification).join('; ') || 'nothing'}; buyer: "${refusedByShop ?? 'no text from the shop'}" and "${refusedByPaypad ?? 'no text from paypad'}"; ${nothingMoved ? 'nothing moved' : 'money moved'}`, ok: refused.exit === 0 && refusedBill?.state === 'refused' && refusal[0]?.reason === 'payer' && refusedByShop !== undefined && refusedByPaypad !== undefined && nothingMoved });

  // D8: another number's order, designated to this phone.
  const otherBuyer = newMobileNumber('138');
  const third = await orderPushed(host, home, { amountMinor: 3_300, goods: 'A birthday present', designatedMobile: e164, buyerMobile: mobileNumberToE164(otherBuyer) }, commands);
  const forOther = await phone(['pay', '--bill', third.bill.id, '--card', RICH.pan.slice(-4), '--pin-stdin', '--yes'], `${TEST_PIN}\n`);
  const forOtherAnswer = jsonLine<{ outcome: string; reference?: string }>(forOther.stdout);
  const paidForAnother = await notifications(wait, merchant.received, third.bill.id, ['bill.paid']);
  const masked = maskMobileNumber(mobile);
  const buyerFromShop = await textMatching(wait, host, otherBuyer, new RegExp(`order ${third.bill.orderId} .*paid by ${masked.replace(/\*/g, '\\*')}`), commands);
  const buyerFromPaypad = await textMatching(wait, host, otherBuyer, new RegExp(`${masked.replace(/\*/g, '\\*')} paid .*order ${third.bill.orderId}`), commands);
  step({
    name: "paying for another's order (D8)",
    detail: `ordered by ${otherBuyer}, shown on the phone as for another person: ${third.bill.forAnotherPerson}; ${forOtherAnswer?.outcome}; merchant: ${paidForAnother.map(describeNotification).join('; ') || 'nothing'}; buyer: "${buyerFromShop ?? 'no text from the shop'}" and "${buyerFromPaypad ?? 'no text from paypad'}"`,
    ok: third.bill.forAnotherPerson && forOther.exit === 0 && forOtherAnswer?.outcome === 'paid' && paidForAnother[0]?.paidForAnother === true && paidForAnother[0]?.payerMobile === e164 && buyerFromShop !== undefined && buyerFromPaypad !== undefined,
  });
  const last = await runPaypadTranscript(['ledger', 'verify'], { ...commands, env: databaseEnv(host) });
  step({ name: 'ledger still balances', detail: last.stdout.trim().split('\n').at(-1) ?? '', ok: last.exit === 0 });

  return { steps, payerMobile: mobile, otherBuyerMobile: otherBuyer, ok: steps.every((s) => s.ok) };
}

/**
 * Starts `paypad phone watch --count 1`, waits until the platform accepted its hello (the phone's
 * accepted sequence reached the one the client saved for it), has the demo merchant send `order`
 * and returns the bill the watch printed, and whether it came as a new bill or as one waiting.
 */
async function orderPushed(host: RunningHost, home: string, order: Record<string, unknown>, commands: PaypadRunOptions): Promise<{ bill: PhoneBill; kind: 'new' | 'waiting' }> {
  const args = ['phone', 'watch', '--count', '1', '--home', home, '--url', host.url];
  const child = spawn(PAYPAD_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => void (output.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (output.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    commands.onExit?.({ args, ...output, exit: code });
    resolve(code);
  }));
  try {
    await until(() => output.stderr.includes('waiting for bills') || child.exitCode !== null, 30_000, `\`paypad ${args.join(' ')}\` did not connect within 30 s`);
    if (child.exitCode !== null) throw new PaypadError('DEMO_STEP_FAILED', `\`paypad ${args.join(' ')}\` exited with ${child.exitCode}: ${output.stderr.slice(-500)}`);
    // The client saved the hello's sequence before sending it; the platform accepts it, then registers the socket.
    const hello = JSON.parse(await readFile(join(home, 'phone.json'), 'utf8')) as { seq: number; phoneId: string };
    const phones = host.database.db.withTables<BillClientTables>();
    const accepted = async () => (await phones.selectFrom('bill_client_phones').select('last_seq').where('phone_id', '=', hello.phoneId).executeTakeFirst())?.last_seq ?? 0;
    await untilAsync(async () => (await accepted()) >= hello.seq, 10_000, "the platform did not accept the watch's hello");
    const answer = await fetch(`${host.url}/bills/simulator/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(order) });
    if (answer.status !== 201) throw new PaypadError('DEMO_STEP_FAILED', `the demo merchant's order was answered ${answer.status}: ${(await answer.text()).slice(0, 300)}`);
    const code = await withTimeout(exited, 30_000);
    if (code !== 0) throw new PaypadError('DEMO_STEP_FAILED', `\`paypad ${args.join(' ')}\` exited with ${code}: ${output.stderr.slice(-500)}`);
    const bill = jsonLine<PhoneBill>(output.stdout);
    if (bill === undefined) throw new PaypadError('DEMO_STEP_FAILED', 'the watch printed no bill');
    return { bill, kind: /^new: /m.test(output.stderr) ? 'new' : 'waiting' };
  } finally {
    stop(child);
  }
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new PaypadError('DEMO_STEP_FAILED', `no bill was pushed within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  return untilAsync(async () => check(), ms, what);
}

async function untilAsync(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new PaypadError('DEMO_STEP_FAILED', what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The merchant's received notifications of `billId`, once each of `events` arrived (or after the timeout, what did). */
async function notifications(timeoutMs: number, received: readonly NotificationBody[], billId: string, events: readonly string[]): Promise<NotificationBody[]> {
  const of = () => received.filter((n) => n.billId === billId).sort((a, b) => a.sequence - b.sequence);
  await until(() => events.every((e) => of().some((n) => n.event === e)), timeoutMs, '').catch(() => undefined);
  return of();
}

function describeNotification(n: NotificationBody): string {
  const extra = n.event === 'bill.paid' ? `, ${n.maskedPan}, reference ${n.reference}${n.paidForAnother ? `, paid for another by ${n.payerMobile}` : ''}` : n.event === 'bill.refused' ? `, reason ${n.reason}` : `, response ${n.responseCode}`;
  return `#${n.sequence} ${n.event}${extra}`;
}

/** The first text of `mobile` matching `pattern`, waiting for the outbox; undefined after the timeout. */
async function textMatching(timeoutMs: number, host: RunningHost, mobile: string, pattern: RegExp, commands: PaypadRunOptions): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await texts(host, mobile, commands)).split('\n').find((l) => pattern.test(l));
    if (found !== undefined || Date.now() > deadline) return found?.replace(/^\S+\s+/, '');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function balance(host: RunningHost, pan: string): number {
  return host.mobile.network.provider.balanceOf(pan)?.balance ?? Number.NaN;
}

async function ledgerTotals(host: RunningHost): Promise<string> {
  const report = await createLedger(host.database).verify();
  return JSON.stringify(report.totals, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
}

function jsonLine<T>(stdout: string): T | undefined {
  try {
    return JSON.parse(stdout.trim().split('\n')[0]) as T;
  } catch {
    return undefined;
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

function mask(pan: string): string {
  return `${pan.slice(0, 6)}${'*'.repeat(pan.length - 10)}${pan.slice(-4)}`;
}
